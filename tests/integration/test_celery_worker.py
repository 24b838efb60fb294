"""A real Celery worker, in its own process, against the configured broker and database.

On CI this runs twice: with the file broker on SQLite, and with Redis on PostgreSQL.
"""

import io
import signal

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from polling import wait_for

from labeling.models import Input, UploadBatch, UploadItem
from labeling.services.ingest import upload_batch_create, upload_batches_resume_stale
from labeling.services.projects import project_create

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def png(seed: int, size: int = 32) -> bytes:
    image = Image.effect_noise((size, size), 40 + seed % 50).convert("RGB")
    image.putpixel((0, 0), (seed % 256, seed // 256 % 256, 7))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


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
