"""A real Celery worker, in its own process, against the configured broker and database.

On CI this runs twice: with the file broker on SQLite, and with Redis on PostgreSQL.
"""

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from PIL import Image

from labeling.models import Input, UploadBatch, UploadItem
from labeling.services.ingest import upload_batch_create, upload_batches_resume_stale
from labeling.services.projects import project_create

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
REPO = Path(__file__).resolve().parents[2]


def database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def worker(settings, tmp_path):
    """Start workers on demand; every one is stopped at the end of the test."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CELERY_TASK_ALWAYS_EAGER = False
    processes = []

    def start() -> subprocess.Popen:
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "PORTAL_MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "PORTAL_DATA_DIR": str(settings.DATA_DIR),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "CELERY_TASK_ALWAYS_EAGER": "0",
        }
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "portal",
                "worker",
                "-Q",
                "default",
                "--pool",
                "solo",
                "-l",
                "warning",
                "-n",
                f"test{len(processes)}@%h",
            ],
            cwd=REPO,
            env=env,
        )
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def png(seed: int, size: int = 32) -> bytes:
    image = Image.effect_noise((size, size), 40 + seed % 50).convert("RGB")
    image.putpixel((0, 0), (seed % 256, seed // 256 % 256, 7))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def batch_of(project, admin, files) -> UploadBatch:
    uploads = [SimpleUploadedFile(name, data) for name, data in files]
    return upload_batch_create(project=project, user=admin, files=uploads)


@pytest.fixture
def project_and_admin(db):
    admin = get_user_model().objects.create_user("boss", password="pw-123456789")
    return project_create(name="Worker test", created_by=admin), admin


def test_worker_processes_an_upload_batch(worker, project_and_admin):
    project, admin = project_and_admin
    worker()
    # when: the batch is created, its task goes to the broker after commit
    batch = batch_of(project, admin, [("a.png", png(1)), ("b.png", png(2)), ("bad.png", b"nope")])

    # then: the worker in the other process stores the good files and reports the bad one
    wait_for(lambda: UploadBatch.objects.get(id=batch.id).status == "done", 60, "the batch")
    batch.refresh_from_db()
    assert (batch.processed, batch.total) == (3, 3)
    assert Input.objects.filter(project=project).count() == 2
    rejected = UploadItem.objects.get(batch=batch, name="bad.png")
    assert rejected.status == UploadItem.Status.REJECTED and "allowed formats" in rejected.message


def test_batch_of_a_killed_worker_resumes_without_losing_or_doubling(worker, project_and_admin):
    project, admin = project_and_admin
    files = [(f"img{i:03d}.png", png(i, size=700)) for i in range(60)]
    first = worker()
    batch = batch_of(project, admin, files)
    wait_for(lambda: UploadBatch.objects.get(id=batch.id).processed >= 3, 90, "the first files")
    # when: the worker is killed mid-job
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    batch.refresh_from_db()
    assert batch.status == UploadBatch.Status.PROCESSING
    assert batch.processed < batch.total, "the batch finished before the kill; make it bigger"

    # then: the stale-batch sweep (run by beat) queues it again and a new worker finishes it
    UploadBatch.objects.filter(id=batch.id).update(heartbeat_at=batch.created_at.replace(year=2000))
    assert upload_batches_resume_stale() == [batch.id]
    worker()
    wait_for(
        lambda: UploadBatch.objects.get(id=batch.id).status == "done", 120, "the resumed batch"
    )
    batch.refresh_from_db()
    assert (batch.processed, batch.total) == (60, 60)
    assert Input.objects.filter(project=project).count() == 60
    assert not UploadItem.objects.filter(batch=batch).exclude(status="stored").exists()
