"""Shared parts of the HTTP benchmarks: arguments, Django set-up, gunicorn, clients, stats."""

import argparse
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def server_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database-url", default="", help="default: SQLite in --data-dir")
    parser.add_argument("--data-dir", default=str(Path(tempfile.gettempdir()) / "portal-bench"))
    parser.add_argument("--workers", type=int, default=2, help="gunicorn processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per gunicorn process")
    parser.add_argument(
        "--think-ms",
        type=float,
        default=0.0,
        help="mean pause between one client's rounds (0: as fast as possible)",
    )


def setup_django(args) -> None:
    """Point Django at the benchmark's database (created on PostgreSQL if missing)."""
    os.environ["PORTAL_DATA_DIR"] = args.data_dir
    if args.database_url:
        os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    if args.database_url.startswith("postgres"):
        import psycopg

        base, name = args.database_url.rsplit("/", 1)
        with psycopg.connect(base + "/postgres", autocommit=True) as conn:
            if not conn.execute("select 1 from pg_database where datname=%s", [name]).fetchone():
                conn.execute(f'create database "{name}"')
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(args, port: int) -> subprocess.Popen:
    env = {**os.environ, "DJANGO_ALLOWED_HOSTS": "127.0.0.1"}
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "portal.wsgi",
        "-b",
        f"127.0.0.1:{port}",
        "-w",
        str(args.workers),
        "--threads",
        str(args.threads),
        "-k",
        "gthread",
        "--log-level",
        "warning",
        "--keep-alive",
        "75",
    ]
    server = subprocess.Popen(command, cwd=REPO, env=env)
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
    """One person's keep-alive connection; reconnects when the server closed it."""

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


Step = Callable[[Client, int], dict[str, float] | None]


def run_level(port: int, tokens: list[str], rounds: int, step: Step, think_ms: float) -> dict:
    """Clients, one per token, each repeat ``step`` (one round: e.g. next + submit) until
    ``rounds`` rounds are done in total or their step returns None (queue empty or error).
    Returns the timings by name, the errors, and rounds per second."""
    lock = threading.Lock()
    done = [0]
    timings: dict[str, list[float]] = {}
    errors: list[str] = []
    barrier = threading.Barrier(len(tokens))

    def person(index: int, token: str) -> None:
        client = Client(port, token)
        barrier.wait()
        while True:
            with lock:
                if done[0] >= rounds:
                    return
                done[0] += 1
            try:
                result = step(client, index)
            except RuntimeError as exc:
                errors.append(str(exc))
                return
            if result is None:
                return
            with lock:
                for name, ms in result.items():
                    timings.setdefault(name, []).append(ms)
            if think_ms:
                time.sleep(random.expovariate(1000.0 / think_ms))

    threads = [threading.Thread(target=person, args=(i, t)) for i, t in enumerate(tokens)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    completed = len(next(iter(timings.values()), []))
    return {"timings": timings, "errors": errors, "rate": completed / elapsed if elapsed else 0}


def run_benchmark(
    args, *, tokens: list[str], levels: list[int], step: Step, who: str, unit: str, describe: str
) -> None:
    """Serve with gunicorn, warm up, measure the baseline, then each level of clients."""
    import platform

    from django.db import connection

    port = free_port()
    server = start_server(args, port)
    try:
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, python "
            f"{platform.python_version()}, {connection.vendor}, gunicorn "
            f"{args.workers}x{args.threads} threads, clients on the same machine, "
            f"think time {args.think_ms:.0f} ms"
        )
        print(describe)
        run_level(port, tokens[:2], 40, step, 0)  # warm up
        print(f"baseline GET /api/v1/me/ (1 client):  {percentiles(baseline(port, tokens[0]))}")
        for level in levels:
            result = run_level(port, tokens[:level], args.ops, step, args.think_ms)
            report(level, who, result, unit)
    finally:
        server.terminate()
        server.wait(timeout=20)


def baseline(port: int, token: str, count: int = 300) -> list[float]:
    """``GET /api/v1/me/``: token auth and one query, the floor for any request here."""
    client = Client(port, token)
    return [client.request("GET", "/api/v1/me/")[2] for _ in range(count)]


def report(level: int, who: str, result: dict, unit: str) -> None:
    count = len(next(iter(result["timings"].values()), []))
    print(f"{level:2d} {who}, {count} {unit}, {result['rate']:.0f} {unit}/s")
    for name, values in result["timings"].items():
        print(f"   {name:7s}{percentiles(values)}")
    if result["errors"]:
        print(f"   errors: {len(result['errors'])}, first: {result['errors'][0]}")


def people(project, prefix: str, count: int, role: str, tier: int | None = None) -> list[str]:
    """API tokens of ``count`` members with ``role`` (created once, reused between runs)."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from labeling.models import Membership

    tokens = []
    for n in range(count):
        user, _ = get_user_model().objects.get_or_create(username=f"{prefix}-{n}")
        Membership.objects.get_or_create(
            project=project, user=user, defaults={"role": role, "review_tier": tier}
        )
        tokens.append(Token.objects.get_or_create(user=user)[0].key)
    return tokens
