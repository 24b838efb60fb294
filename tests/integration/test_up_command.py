"""The quick-start command: web, worker and scheduler start together and Ctrl-C stops them."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.worker
REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def children_of(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(line) for line in out.stdout.split()]


def test_up_serves_and_ctrl_c_stops_everything(tmp_path):
    port = free_port()
    env = {**os.environ, "PORTAL_DATA_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    env.pop("CELERY_BROKER_URL", None)
    process = subprocess.Popen(
        [sys.executable, "manage.py", "up", "--no-demo", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline, status = time.monotonic() + 60, None
        while time.monotonic() < deadline and status is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=2) as r:
                    status = r.status
            except OSError:
                time.sleep(0.5)
        assert status == 200, "the web server did not answer"
        children = children_of(process.pid)
        assert len(children) == 3, "web, worker and beat run beside each other"

        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
        time.sleep(0.5)
        alive = [
            pid
            for pid in children
            if Path(f"/proc/{pid}").exists()
            and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
        ]
        assert alive == []
        assert (tmp_path / "portal.sqlite3").exists(), "SQLite lives in the data dir"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
