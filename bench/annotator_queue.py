"""Annotator queue latency and throughput through the real HTTP stack.

Starts gunicorn on the chosen database, seeds a project with N inputs (kept between runs),
then C annotator threads loop `GET /api/v1/projects/{id}/queue/next/` and
`POST /api/v1/inputs/{id}/annotations/`, each with its own keep-alive connection and token.
Reports p50/p95/p99 per request, annotations per second, and double assignments (must be 0).
The baseline is `GET /api/v1/me/`: the same stack (gunicorn, Django, token auth) doing no
queue work, the floor any endpoint here can reach.

    .venv/bin/python bench/annotator_queue.py --inputs 100000 --annotators 1,16 --ops 2000
    .venv/bin/python bench/annotator_queue.py --inputs 1000000 --annotators 1,16 --ops 4000 \
        --database-url postgres://postgres@127.0.0.1:5432/portal_bench
"""

import argparse
import http.client
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--inputs", type=int, default=100_000)
    parser.add_argument("--annotators", default="1,16", help="comma-separated thread counts")
    parser.add_argument("--ops", type=int, default=2000, help="annotations per level")
    parser.add_argument("--overlap", type=int, default=1)
    parser.add_argument("--database-url", default="", help="default: SQLite in --data-dir")
    parser.add_argument("--data-dir", default=str(Path(tempfile.gettempdir()) / "portal-bench"))
    parser.add_argument("--workers", type=int, default=2, help="gunicorn processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per gunicorn process")
    parser.add_argument(
        "--think-ms",
        type=float,
        default=0.0,
        help="mean pause between an annotator's submit and next (0: as fast as possible)",
    )
    return parser.parse_args()


ARGS = parse_args()
os.environ["PORTAL_DATA_DIR"] = ARGS.data_dir
if ARGS.database_url:
    os.environ["DATABASE_URL"] = ARGS.database_url
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")


def ensure_postgres_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if not conn.execute("select 1 from pg_database where datname=%s", [name]).fetchone():
            conn.execute(f'create database "{name}"')


if ARGS.database_url.startswith("postgres"):
    ensure_postgres_database(ARGS.database_url)

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Count  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

from labeling.models import Annotation, Input, Membership, Project, QueueSlot, Role  # noqa: E402
from labeling.services.projects import project_create  # noqa: E402
from labeling.services.taxonomy import concept_create  # noqa: E402

BATCH = 20_000


def seed(inputs: int, overlap: int) -> tuple[Project, list[int]]:
    name = f"bench-{inputs}-overlap{overlap}"
    User = get_user_model()
    owner, _ = User.objects.get_or_create(username="bench-owner")
    project = Project.objects.filter(name=name).first()
    if project is None:
        project = project_create(name=name, created_by=owner, overlap=overlap)
        parent = concept_create(project=project, name="digit", exclusive=True, actor=owner)
        for d in range(10):
            concept_create(project=project, name=str(d), parent=parent, actor=owner)
    have = Input.objects.filter(project=project).count()
    started = time.perf_counter()
    for start in range(have, inputs, BATCH):
        rows = [
            Input(
                project=project,
                sha256=f"{project.id:08x}{i:056x}",
                original_name=f"{i}.png",
                file=f"bench/{i}.png",
                thumbnail=f"bench/{i}.png",
                format="PNG",
                width=8,
                height=8,
                byte_size=100,
                split="train",
            )
            for i in range(start, min(inputs, start + BATCH))
        ]
        created = Input.objects.bulk_create(rows, batch_size=5000)
        if not created[0].pk:  # backends that do not return ids
            created = Input.objects.filter(project=project).order_by("-id")[: len(rows)]
        QueueSlot.objects.bulk_create(
            [
                QueueSlot(project=project, input_id=r.pk, number=n)
                for r in created
                for n in range(overlap)
            ],
            batch_size=5000,
        )
        print(f"  seeded {min(inputs, start + BATCH):,} inputs", end="\r", flush=True)
    if have < inputs:
        print(f"  seeded {inputs:,} inputs in {time.perf_counter() - started:.0f} s")
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE labeling_queueslot; ANALYZE labeling_input;")
    concept_ids = list(project.concepts.filter(parent__isnull=False).values_list("id", flat=True))
    return project, concept_ids


def annotator_tokens(project: Project, count: int) -> list[str]:
    User = get_user_model()
    tokens = []
    for n in range(count):
        user, _ = User.objects.get_or_create(username=f"bench-annotator-{n}")
        Membership.objects.get_or_create(
            project=project, user=user, defaults={"role": Role.ANNOTATOR}
        )
        tokens.append(Token.objects.get_or_create(user=user)[0].key)
    return tokens


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    env = {**os.environ, "DJANGO_ALLOWED_HOSTS": "127.0.0.1"}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "portal.wsgi",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            str(ARGS.workers),
            "--threads",
            str(ARGS.threads),
            "-k",
            "gthread",
            "--log-level",
            "warning",
            "--keep-alive",
            "75",
        ],
        cwd=REPO,
        env=env,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("gunicorn did not start")


class Client:
    """One annotator's keep-alive connection; reconnects when the server closed it."""

    def __init__(self, port: int, token: str):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}

    def request(self, method: str, path: str, body: dict | None = None):
        payload = json.dumps(body) if body else None
        started = time.perf_counter()
        try:
            self.conn.request(method, path, payload, self.headers)
            response = self.conn.getresponse()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            started = time.perf_counter()
            self.conn.request(method, path, payload, self.headers)
            response = self.conn.getresponse()
        data = response.read()
        return response.status, data, (time.perf_counter() - started) * 1000


def percentiles(values: list[float]) -> str:
    if len(values) < 2:
        return "n/a"
    q = statistics.quantiles(values, n=100, method="inclusive")
    return f"p50 {q[49]:6.1f}  p95 {q[94]:6.1f}  p99 {q[98]:6.1f} ms"


def run_level(port, project, concept_ids, tokens, ops) -> dict:
    lock = threading.Lock()
    done = [0]
    nexts, submits, errors = [], [], []
    barrier = threading.Barrier(len(tokens))

    def annotator(index: int, token: str):
        client = Client(port, token)
        barrier.wait()
        while True:
            with lock:
                if done[0] >= ops:
                    return
                done[0] += 1
            status, data, ms = client.request("GET", f"/api/v1/projects/{project.id}/queue/next/")
            if status == 204:
                return
            if status != 200:
                errors.append(f"next {status} {data[:200]!r}")
                return
            nexts.append(ms)
            input_id = json.loads(data)["input"]["id"]
            body = {
                "concept_ids": [concept_ids[input_id % len(concept_ids)]],
                "client_token": f"{index}-{input_id}",
            }
            status, data, ms = client.request(
                "POST", f"/api/v1/inputs/{input_id}/annotations/", body
            )
            if status not in (200, 201):
                errors.append(f"submit {status} {data[:200]!r}")
                return
            submits.append(ms)
            if ARGS.think_ms:
                time.sleep(random.expovariate(1000.0 / ARGS.think_ms))

    threads = [threading.Thread(target=annotator, args=(i, t)) for i, t in enumerate(tokens)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return {
        "next": nexts,
        "submit": submits,
        "errors": errors,
        "rate": len(submits) / elapsed if elapsed else 0,
    }


def baseline(port: int, token: str, count: int = 300) -> list[float]:
    client = Client(port, token)
    return [client.request("GET", "/api/v1/me/")[2] for _ in range(count)]


def double_assignments(project: Project) -> int:
    over = (
        Annotation.objects.filter(project=project)
        .values("input_id")
        .annotate(n=Count("id"))
        .filter(n__gt=project.overlap)
        .count()
    )
    same_user = (
        Annotation.objects.filter(project=project)
        .values("input_id", "author_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    return over + same_user


def main() -> None:
    call_command("migrate", verbosity=0)
    levels = [int(x) for x in ARGS.annotators.split(",")]
    project, concept_ids = seed(ARGS.inputs, ARGS.overlap)
    tokens = annotator_tokens(project, max(levels))
    port = free_port()
    server = start_server(port)
    try:
        engine = connection.vendor
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, python "
            f"{platform.python_version()}, {engine}, gunicorn {ARGS.workers}x{ARGS.threads} "
            f"threads, client threads on the same machine, think time {ARGS.think_ms:.0f} ms"
        )
        print(
            f"project: {ARGS.inputs:,} inputs, overlap {ARGS.overlap}, "
            f"{QueueSlot.objects.filter(project=project, annotation__isnull=True).count():,} "
            "open slots"
        )
        run_level(port, project, concept_ids, tokens[:2], 40)  # warm up
        base = baseline(port, tokens[0])
        print(f"baseline GET /api/v1/me/ (1 client):  {percentiles(base)}")
        for level in levels:
            result = run_level(port, project, concept_ids, tokens[:level], ARGS.ops)
            print(
                f"{level:2d} annotators, {len(result['submit'])} annotations, "
                f"{result['rate']:.0f} annotations/s"
            )
            print(f"   next   {percentiles(result['next'])}")
            print(f"   submit {percentiles(result['submit'])}")
            if result["errors"]:
                print(f"   errors: {len(result['errors'])}, first: {result['errors'][0]}")
        print(f"double assignments: {double_assignments(project)}")
    finally:
        server.terminate()
        server.wait(timeout=20)


if __name__ == "__main__":
    main()
