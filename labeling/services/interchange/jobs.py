"""Interchange jobs: create them (checking format, options and uploads), run them, resume
the stale ones."""

import logging
import posixpath
import shutil
import zipfile
from datetime import timedelta

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from labeling.ingest.archives import ArchiveRejected
from labeling.ingest.images import human_bytes
from labeling.interchange import EXTENSIONS
from labeling.interchange.records import (
    STATUSES,
    InterchangeError,
)
from labeling.models import (
    InterchangeJob,
    Project,
)
from labeling.services.errors import ServiceError
from labeling.services.interchange.common import (
    EXPORT_OPTIONS,
    IMPORT_OPTIONS,
    _checked_names,
    _import_limit,
    _safe_name,
    default_statuses,
    option_flag,
)
from labeling.services.interchange.exporting import export_run
from labeling.services.interchange.importing import import_run
from labeling.storage import media_path

logger = logging.getLogger(__name__)
Job = InterchangeJob

# ---------------------------------------------------------------------------- create


def _check_format(format: str) -> None:
    if format not in Job.Format.values:
        known = ", ".join(Job.Format.values)
        raise ServiceError(f"Unknown format {format!r}; choose one of {known}.")


def _export_options(format: str, options: dict) -> dict:
    unknown = set(options) - EXPORT_OPTIONS
    if unknown:
        raise ServiceError(f"Unknown export options: {', '.join(sorted(unknown))}.")
    suggestions = option_flag(options.get("include_suggestions"), default=False)
    automatic = option_flag(options.get("automatic_labels"), default=True)
    statuses = options.get("statuses") or default_statuses(format, include_suggestions=suggestions)
    if isinstance(statuses, str):
        statuses = [s.strip() for s in statuses.split(",") if s.strip()]
    bad = [s for s in statuses if s not in STATUSES]
    if bad or not statuses:
        raise ServiceError(
            f"Statuses to export are among {', '.join(STATUSES)}; got {', '.join(bad) or 'none'}."
        )
    split = options.get("split") or ""
    if split not in ("", "train", "eval"):
        raise ServiceError("The split to export is train, eval, or empty for both.")
    layout = str(options.get("yolo_layout") or "")
    if layout not in ("", "classify", "detect"):
        raise ServiceError("The YOLO layout is classify (class folders) or detect (boxes).")
    include = options.get("include_unlabeled", True)
    if isinstance(include, str):
        include = include.strip().lower() not in ("0", "false", "no", "off", "")
    return {
        "statuses": list(dict.fromkeys(statuses)),
        "include_suggestions": "pending_review" in statuses,
        "automatic_labels": automatic,
        "include_unlabeled": bool(include),
        "split": split,
        "image_url_prefix": str(options.get("image_url_prefix") or ""),
        "yolo_layout": layout,
    }


def _queue(job_id: int) -> None:
    from labeling.tasks import interchange_job_task

    interchange_job_task.delay(job_id)


def interchange_export_create(
    *, project: Project, user, format: str, options: dict | None = None
) -> InterchangeJob:
    """Queue an export of the project; the job's ``file`` is set once it is written.

    Options: ``include_suggestions`` (default false: accepted labels only; true adds the
    annotations waiting for review, marked with status ``pending_review``),
    ``automatic_labels`` (default true: accepted labels a model wrote, source ``model``;
    false leaves them out), ``statuses`` (the exact statuses, overriding
    ``include_suggestions``),
    ``include_unlabeled`` (default true), ``split`` ("train", "eval" or "" for both),
    ``image_url_prefix`` (Label Studio: ``data.image`` is this prefix + the file name).
    """
    _check_format(format)
    options = _export_options(format, dict(options or {}))
    job = Job.objects.create(
        project=project, kind=Job.Kind.EXPORT, format=format, options=options, created_by=user
    )
    transaction.on_commit(lambda: _queue(job.id))
    return job


def _check_upload(format: str, path) -> None:
    is_zip = zipfile.is_zipfile(path)
    if format == Job.Format.YOLO and not is_zip:
        raise ServiceError(
            "A YOLO import is a .zip of class folders, or of images/ and labels/ (boxes)."
        )
    if is_zip and format in (Job.Format.CSV, Job.Format.LABEL_STUDIO):
        raise ServiceError("Upload the file itself, not a zip of it.")
    if is_zip:
        try:
            with zipfile.ZipFile(path) as archive:
                _checked_names(archive)
        except ArchiveRejected as exc:
            raise ServiceError(str(exc)) from exc
        except zipfile.BadZipFile as exc:
            raise ServiceError(f"The zip file is broken ({exc}).") from exc


def interchange_import_create(
    *, project: Project, user, format: str, uploaded_file: UploadedFile, options: dict | None = None
) -> InterchangeJob:
    """Store the upload under the job's folder, check it, and queue the import.

    Refused here, with a message for the user: an unknown format, a file over the size
    limit, a YOLO upload that is no zip, an archive with an unsafe path or over the archive
    limits. What the file holds is read by the job. Options: ``predictions`` (Label Studio:
    import models' predictions as labels waiting for review; default true).
    """
    _check_format(format)
    options = dict(options or {})
    unknown = set(options) - IMPORT_OPTIONS
    if unknown:
        raise ServiceError(f"Unknown import options: {', '.join(sorted(unknown))}.")
    if "predictions" in options:
        options["predictions"] = str(options["predictions"]).lower() not in ("0", "false", "no")
    name = uploaded_file.name or "upload"
    limit = _import_limit(name.lower().endswith(".zip") or format == Job.Format.YOLO)
    if uploaded_file.size is not None and uploaded_file.size > limit:
        raise ServiceError(
            f"{name} is {human_bytes(uploaded_file.size)}, over the limit of {human_bytes(limit)}."
        )
    ext = posixpath.splitext(name)[1].lower()[:8] or f".{EXTENSIONS[format]}"
    with transaction.atomic():
        job = Job.objects.create(
            project=project, kind=Job.Kind.IMPORT, format=format, options=options, created_by=user
        )
        folder = f"interchange/{project.id}/{job.id}"
        relative = f"{folder}/upload-{_safe_name(name)}{ext}"
        path = media_path(relative)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            written = 0
            with path.open("wb") as handle:
                for chunk in uploaded_file.chunks():
                    written += len(chunk)
                    if written > limit:
                        raise ServiceError(f"{name} is over the limit of {human_bytes(limit)}.")
                    handle.write(chunk)
            _check_upload(format, path)
        except BaseException:
            shutil.rmtree(media_path(folder), ignore_errors=True)
            raise
        job.file = relative
        job.save(update_fields=["file"])
    transaction.on_commit(lambda: _queue(job.id))
    return job


# ---------------------------------------------------------------------------- run


def _claim(job: InterchangeJob) -> bool:
    """Mark the job running, unless it is finished or another worker is alive on it."""
    now = timezone.now()
    stale = now - timedelta(minutes=settings.LABELING_STALE_BATCH_MINUTES)
    return bool(
        Job.objects.filter(id=job.id)
        .filter(
            Q(status=Job.Status.QUEUED)
            | Q(status=Job.Status.RUNNING, heartbeat_at__isnull=True)
            | Q(status=Job.Status.RUNNING, heartbeat_at__lt=stale)
        )
        .update(status=Job.Status.RUNNING, started_at=job.started_at or now, heartbeat_at=now)
    )


def interchange_job_run(*, job_id: int) -> InterchangeJob:
    """Run an export or an import. A finished job is left as it is; a job another worker is
    running (fresh heartbeat) too. A failure marks the job failed with its message; an
    export's file appears only once complete (written aside, then moved into place)."""
    job = Job.objects.select_related("project", "created_by").get(id=job_id)
    if job.is_finished or not _claim(job):
        return job
    try:
        if job.kind == Job.Kind.EXPORT:
            export_run(job)
        else:
            import_run(job)
    except Exception as exc:
        expected = isinstance(exc, InterchangeError | ServiceError | ArchiveRejected)
        if not expected:
            logger.exception("interchange job %s failed", job.id)
        message = str(exc) if expected else f"The job failed: {exc}"
        Job.objects.filter(id=job.id).update(
            status=Job.Status.FAILED,
            error=message[:2000],
            finished_at=timezone.now(),
            heartbeat_at=timezone.now(),
        )
    job.refresh_from_db()
    return job


def interchange_jobs_resume_stale() -> list[int]:
    """Queue again the jobs whose worker stopped sending heartbeats (killed mid-job).
    A resumed export starts over; a resumed import skips what it already created."""
    cutoff = timezone.now() - timedelta(minutes=settings.LABELING_STALE_BATCH_MINUTES)
    silent = Q(heartbeat_at__isnull=True, created_at__lt=cutoff) | Q(heartbeat_at__lt=cutoff)
    stale = list(
        Job.objects.filter(status__in=[Job.Status.QUEUED, Job.Status.RUNNING])
        .filter(silent)
        .order_by("id")
        .values_list("id", flat=True)
    )
    for job_id in stale:
        _queue(job_id)
    return stale
