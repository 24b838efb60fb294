"""Bulk upload through the API: images per second, one per request and as a batch, against
the browser's upload and the limit.

Serves the portal with gunicorn (as the other HTTP benches) and uploads M distinct images
into a fresh project per path:

(a) ``POST /api/v1/projects/{id}/inputs/`` with one ``file`` per request (token auth), by 1
    and by 4 concurrent clients: each request validates, stores and records its image
    before answering (201).
(b) The same endpoint with all M files in one request: 202 and a staged batch. The batch is
    then processed in this process by ``upload_batch_process`` (what the Celery task calls;
    no worker runs, so nothing else takes it), one worker's worth. Its rate counts the
    request and the processing.
(c) The browser's path: log in through ``/login/`` (session cookie, CSRF), open the upload
    page for its CSRF token, ``POST /projects/{id}/upload/files/`` with every file in one
    request as ``static/js/upload.js`` does, then process the batch as in (b).

The *limit* is Pillow alone validating and thumbnailing the same images in memory
(``inspect_image``, as in bench/ingest.py): no HTTP, hashing, disk or database.

The server runs with the uploads throttle raised (``--throttle``): the portal's default of
600/minute per user would cap (a) at 10 images/s per user.

    .venv/bin/python bench/api_upload.py [--count 500] [--size 256x256] [--format JPEG]

Runs in a throw-away data dir (SQLite) unless --data-dir / --database-url say otherwise.
"""

import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from http.cookies import SimpleCookie

import httpbench

PASSWORD = "bench upload password 42"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=500, help="images per path")
    parser.add_argument("--size", default="256x256")
    parser.add_argument("--format", choices=["JPEG", "PNG"], default="JPEG")
    parser.add_argument("--clients", default="1,4", help="concurrent clients for (a)")
    parser.add_argument(
        "--throttle",
        default="1000000/minute",
        help="API_THROTTLE_UPLOADS for the server (the portal's default is 600/minute)",
    )
    httpbench.server_arguments(parser)
    parser.set_defaults(data_dir="")
    args = parser.parse_args()
    args.throwaway = not args.data_dir
    if args.throwaway:
        args.data_dir = tempfile.mkdtemp(prefix="bench-api-upload-")
    return args


ARGS = parse_args()
httpbench.setup_django(ARGS)

from common import noisy_image, pillow_seconds  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

from labeling.models import Input, Project  # noqa: E402
from labeling.services.ingest import upload_batch_process  # noqa: E402
from labeling.services.projects import project_create  # noqa: E402


def multipart(fields: list[tuple[str, str]], files: list[tuple[str, str, bytes]]):
    """A multipart/form-data body and its content type."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields:
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
        parts.append(head.encode() + value.encode() + b"\r\n")
    for field, filename, data in files:
        kind = "image/png" if filename.endswith(".png") else "image/jpeg"
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
            f'filename="{filename}"\r\nContent-Type: {kind}\r\n\r\n'
        )
        parts.append(head.encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class Session:
    """One keep-alive connection with a cookie jar."""

    def __init__(self, port: int, headers: dict | None = None):
        self.port = port
        self.headers = dict(headers or {})
        self.cookies: dict[str, str] = {}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

    def request(self, method: str, path: str, body: bytes | None = None, headers=None):
        headers = {**self.headers, **(headers or {})}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            self.conn.request(method, path, body, headers)
            response = self.conn.getresponse()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
            self.conn.request(method, path, body, headers)
            response = self.conn.getresponse()
        data = response.read()
        for header in response.msg.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        return response.status, data


def form_token(html: bytes) -> str:
    found = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    if not found:
        raise SystemExit("no CSRF token in the page")
    return found.group(1).decode()


def fresh_project(user, label: str) -> Project:
    return project_create(name=f"upload {label} {uuid.uuid4().hex[:6]}", created_by=user)


def check_stored(project: Project, count: int) -> None:
    stored = Input.objects.filter(project=project).count()
    if stored != count:
        raise SystemExit(f"{project.name}: {stored} inputs stored, expected {count}")


def one_per_request(port: int, token: str, project: Project, files, clients: int) -> dict:
    """(a): each client posts one image per request until all are sent."""
    lock = threading.Lock()
    cursor = [0]
    latencies: list[float] = []
    errors: list[str] = []
    path = f"/api/v1/projects/{project.id}/inputs/"
    barrier = threading.Barrier(clients)

    def client() -> None:
        session = Session(port, {"Authorization": f"Token {token}"})
        barrier.wait()
        while True:
            with lock:
                if cursor[0] >= len(files):
                    return
                name, data = files[cursor[0]]
                cursor[0] += 1
            body, kind = multipart([], [("file", name, data)])
            started = time.perf_counter()
            status, answer = session.request("POST", path, body, {"Content-Type": kind})
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append(elapsed)
                if status != 201:
                    errors.append(f"{status} {answer[:200]!r}")

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if errors:
        raise SystemExit(f"{len(errors)} uploads failed, first: {errors[0]}")
    check_stored(project, len(files))
    return {"seconds": seconds, "latencies": latencies}


def process(batch_id: int, project: Project, count: int) -> float:
    started = time.perf_counter()
    batch = upload_batch_process(batch_id=batch_id)
    seconds = time.perf_counter() - started
    if batch.processed != count:
        raise SystemExit(f"batch {batch_id}: {batch.processed} of {count} processed")
    check_stored(project, count)
    return seconds


def api_batch(port: int, token: str, project: Project, files) -> dict:
    """(b): every file in one API request (202), then the batch processed here."""
    session = Session(port, {"Authorization": f"Token {token}"})
    body, kind = multipart([], [("file", name, data) for name, data in files])
    started = time.perf_counter()
    status, answer = session.request(
        "POST", f"/api/v1/projects/{project.id}/inputs/", body, {"Content-Type": kind}
    )
    received = time.perf_counter() - started
    if status != 202:
        raise SystemExit(f"API batch upload: {status} {answer[:300]!r}")
    batch_id = json.loads(answer)["batch"]
    return {"received": received, "processed": process(batch_id, project, len(files))}


def browser(port: int, username: str, project: Project, files) -> dict:
    """(c): log in, open the upload page, post every file as upload.js does, process."""
    session = Session(port)
    status, page = session.request("GET", "/login/")
    fields = f"username={username}&password={PASSWORD.replace(' ', '+')}"
    fields += f"&csrfmiddlewaretoken={form_token(page)}"
    status, answer = session.request(
        "POST",
        "/login/",
        fields.encode(),
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    if status != 302 or "sessionid" not in session.cookies:
        raise SystemExit(f"login failed: {status} {answer[:300]!r}")
    status, page = session.request("GET", f"/projects/{project.id}/upload/")
    if status != 200:
        raise SystemExit(f"upload page: {status}")
    body, kind = multipart(
        [("csrfmiddlewaretoken", form_token(page))],
        [("files", name, data) for name, data in files],
    )
    started = time.perf_counter()
    status, answer = session.request(
        "POST",
        f"/projects/{project.id}/upload/files/",
        body,
        {"Content-Type": kind, "Accept": "application/json"},
    )
    received = time.perf_counter() - started
    if status != 201:
        raise SystemExit(f"browser upload: {status} {answer[:300]!r}")
    batch_id = json.loads(answer)["batch"]
    return {"received": received, "processed": process(batch_id, project, len(files))}


def main() -> None:
    import platform

    width, height = (int(v) for v in ARGS.size.split("x"))
    ext = "jpg" if ARGS.format == "JPEG" else "png"
    files = [
        (f"img{i:05d}.{ext}", noisy_image(i, width, height, ARGS.format)) for i in range(ARGS.count)
    ]
    megabytes = sum(len(data) for _, data in files) / 1e6
    user, _ = get_user_model().objects.get_or_create(username="bench-upload")
    user.set_password(PASSWORD)
    user.save()
    token = Token.objects.get_or_create(user=user)[0].key
    levels = [int(c) for c in ARGS.clients.split(",")]

    limit = len(files) / pillow_seconds(files)
    os.environ["API_THROTTLE_UPLOADS"] = ARGS.throttle
    port = httpbench.free_port()
    server = httpbench.start_server(ARGS, port)
    try:
        # Warm up: load the code in both server processes before anything is timed.
        warm = fresh_project(user, "warm-up")
        one_per_request(port, token, warm, files[:8], 2)
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, python "
            f"{platform.python_version()}, {connection.vendor}, gunicorn {ARGS.workers}x"
            f"{ARGS.threads} threads, clients on the same machine, load average "
            + " ".join(f"{v:.2f}" for v in os.getloadavg())
        )
        print(f"{ARGS.count} {ARGS.format}s of {width}x{height} ({megabytes:.1f} MB)")
        print(f"limit (Pillow validate + thumbnail only):         {limit:7.1f} images/s")
        rates = {}
        for clients in levels:
            project = fresh_project(user, f"single-{clients}")
            result = one_per_request(port, token, project, files, clients)
            rates[f"a{clients}"] = ARGS.count / result["seconds"]
            q = statistics.quantiles(result["latencies"], n=100, method="inclusive")
            print(
                f"(a) API, one image per request, {clients} client(s): "
                f"{rates[f'a{clients}']:7.1f} images/s  (request p50 {q[49]:.1f} / "
                f"p95 {q[94]:.1f} ms)"
            )
        for key, label, run in (
            ("b", "(b) API, all files in one request + processing: ", api_batch),
            ("c", "(c) browser upload + processing:                 ", browser),
        ):
            project = fresh_project(user, key)
            who = token if key == "b" else user.username
            result = run(port, who, project, files)
            rates[key] = ARGS.count / (result["received"] + result["processed"])
            print(
                f"{label}{rates[key]:7.1f} images/s  (received in {result['received']:.2f} s "
                f"= {ARGS.count / result['received']:.0f} images/s; processed in "
                f"{result['processed']:.2f} s = {ARGS.count / result['processed']:.1f} "
                "images/s)"
            )
        print("ratios to the limit: " + ", ".join(f"{k} {v / limit:.2f}" for k, v in rates.items()))
        print(
            "ratios to the browser path (c): "
            + ", ".join(f"{k} {v / rates['c']:.2f}" for k, v in rates.items() if k != "c")
        )
    finally:
        server.terminate()
        server.wait(timeout=20)
        if ARGS.throwaway:
            shutil.rmtree(ARGS.data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
