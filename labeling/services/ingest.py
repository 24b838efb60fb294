"""Ingest: stage uploaded files in a batch, then validate, dedupe, split and store each one."""

import hashlib
import logging
import re
import shutil
import time
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from labeling import hooks
from labeling.ingest.archives import (
    ArchiveRejected,
    count_entries,
    entry_folder,
    list_entries,
    read_entry,
)
from labeling.ingest.images import ImageRejected, human_bytes, inspect_image
from labeling.ingest.metadata import MetadataRejected, metadata_for, parse_metadata_csv
from labeling.ingest.splits import split_for_hash
from labeling.models import (
    Annotation,
    AnnotationSource,
    AnnotationStatus,
    Input,
    Membership,
    Project,
    Role,
    UploadBatch,
    UploadItem,
)
from labeling.selectors import concepts_resolve
from labeling.services.annotations import annotation_create
from labeling.services.errors import ServiceError
from labeling.services.queue import (
    checked_labels,
    queue_slots_close,
    queue_slots_open,
)
from labeling.services.statuses import input_status_refresh
from labeling.storage import image_paths, media_path, project_folder, write_file

logger = logging.getLogger(__name__)
Item = UploadItem.Status
NOTHING_ACCEPTED = "No file was accepted: every file was rejected (the reasons are below)."


@dataclass(frozen=True)
class IngestResult:
    input: Input
    created: bool


def input_ingest(
    *,
    project: Project,
    name: str,
    data: bytes,
    metadata: dict | None = None,
    batch: UploadBatch | None = None,
) -> IngestResult:
    """Store one image in a project, or return the one already stored with the same bytes.

    Raises ImageRejected with a message for the user when the file is not acceptable.
    """
    sha256 = hashlib.sha256(data).hexdigest()
    existing = Input.objects.filter(project=project, sha256=sha256).first()
    if existing is not None:
        return IngestResult(existing, created=False)
    info = inspect_image(
        data,
        max_bytes=settings.LABELING_MAX_IMAGE_BYTES,
        max_pixels=settings.LABELING_MAX_IMAGE_PIXELS,
        thumb_size=settings.LABELING_THUMBNAIL_SIZE,
    )
    file_path, thumb_path = image_paths(
        folder=project_folder(project.id),
        sha256=sha256,
        extension=info.extension,
        thumb_extension=info.thumbnail_extension,
    )
    write_file(file_path, data)
    write_file(thumb_path, info.thumbnail)
    try:
        with transaction.atomic():
            created = Input.objects.create(
                project=project,
                sha256=sha256,
                original_name=name[-255:],
                file=file_path,
                thumbnail=thumb_path,
                format=info.format,
                width=info.width,
                height=info.height,
                byte_size=len(data),
                split=split_for_hash(sha256, project.eval_fraction),
                metadata=metadata or {},
                batch=batch,
            )
    except IntegrityError:
        # Another worker stored the same bytes a moment ago: that one is the input.
        return IngestResult(Input.objects.get(project=project, sha256=sha256), created=False)
    queue_slots_open(input=created, overlap=project.overlap)
    return IngestResult(created, created=True)


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[-100:] or "file"


def upload_batch_create(
    *, project: Project, user, files: Iterable[UploadedFile], folder_labels: bool = False
) -> UploadBatch:
    """Stage the uploaded files on disk and queue their processing after commit.

    Files over the size limits are rejected here, before they are staged. ``total`` counts
    the files to check from the start: an archive counts as its entries, not as one more file.
    With ``folder_labels`` each archive entry is labeled with its folder's concept.
    """
    files = list(files)
    if not files:
        raise ServiceError("Choose at least one file to upload.")
    batch = UploadBatch.objects.create(
        project=project, created_by=user, total=0, folder_labels=folder_labels
    )
    staging = f"staging/{batch.id}"
    items = []
    for position, upload in enumerate(files):
        name = upload.name or f"file-{position}"
        item = UploadItem(batch=batch, name=name[-500:])
        limit = _size_limit_for(name)
        if upload.size is not None and upload.size > limit:
            item.status = Item.REJECTED
            item.message = (
                f"file is {human_bytes(upload.size)}, over the limit of {human_bytes(limit)}"
            )
        else:
            relative = f"{staging}/{position:05d}_{_safe_name(name)}"
            path = media_path(relative)
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("wb") as handle:
                for chunk in upload.chunks():
                    handle.write(chunk)
            item.staged = relative
            batch.total += count_entries(
                path,
                max_entries=settings.LABELING_MAX_ARCHIVE_ENTRIES,
                max_total_bytes=settings.LABELING_MAX_ARCHIVE_BYTES,
            )
        if item.status != Item.PENDING:
            batch.total += 1
        items.append(item)
    UploadItem.objects.bulk_create(items)
    batch.processed = sum(1 for item in items if item.status != Item.PENDING)
    batch.save(update_fields=["total", "processed"])
    transaction.on_commit(lambda: _queue(batch.id))
    return batch


def _queue(batch_id: int) -> None:
    from labeling.tasks import upload_batch_process_task

    upload_batch_process_task.delay(batch_id)


def _size_limit_for(name: str) -> int:
    if name.lower().endswith(".zip"):
        return settings.LABELING_MAX_ARCHIVE_BYTES
    if name.lower().endswith(".csv"):
        return 20 * 1024 * 1024
    return settings.LABELING_MAX_IMAGE_BYTES


def upload_batch_process(*, batch_id: int) -> UploadBatch:
    """Process every pending item of a batch. Safe to run again after a crash: done items stay."""
    batch = UploadBatch.objects.select_related("project").get(id=batch_id)
    if batch.is_finished:
        return batch
    now = timezone.now()
    UploadBatch.objects.filter(id=batch.id).update(
        status=UploadBatch.Status.PROCESSING, started_at=batch.started_at or now, heartbeat_at=now
    )
    try:
        _expand_archives(batch)
        table = _read_metadata(batch)
        labels = FolderLabels(batch.project) if batch.folder_labels else None
        for item in batch.items.filter(status=Item.PENDING).order_by("id").iterator():
            _process_item(batch, item, table, labels)
    except Exception as exc:
        logger.exception("upload batch %s failed", batch.id)
        UploadBatch.objects.filter(id=batch.id).update(
            status=UploadBatch.Status.FAILED,
            error=f"Processing stopped: {exc}"[:2000],
            finished_at=timezone.now(),
        )
        raise
    accepted = batch.items.filter(status__in=[Item.STORED, Item.DUPLICATE, Item.METADATA]).exists()
    UploadBatch.objects.filter(id=batch.id).update(
        status=UploadBatch.Status.DONE if accepted else UploadBatch.Status.FAILED,
        error="" if accepted else NOTHING_ACCEPTED,
        finished_at=timezone.now(),
    )
    inputs_announce(project_id=batch.project_id)
    shutil.rmtree(media_path(f"staging/{batch.id}"), ignore_errors=True)
    batch.refresh_from_db()
    return batch


def inputs_announce(*, project_id: int) -> None:
    """Tell the apps built on labeling (after commit) that the project has new inputs: the
    model loop embeds them."""
    transaction.on_commit(lambda: hooks.announce(hooks.INPUTS_STORED, project_id=project_id))


def _expand_archives(batch: UploadBatch) -> None:
    pending = batch.items.filter(status=Item.PENDING, member="").exclude(staged="")
    for item in pending:
        path = media_path(item.staged)
        if not zipfile.is_zipfile(path):
            continue
        with transaction.atomic():
            try:
                with zipfile.ZipFile(path) as archive:
                    entries = list_entries(
                        archive,
                        max_entries=settings.LABELING_MAX_ARCHIVE_ENTRIES,
                        max_total_bytes=settings.LABELING_MAX_ARCHIVE_BYTES,
                    )
            except (ArchiveRejected, zipfile.BadZipFile) as exc:
                _finish_item(batch, item, Item.REJECTED, str(exc))
                continue
            children = [
                UploadItem(
                    batch=batch,
                    name=f"{item.name}/{entry.name}"[-500:],
                    staged=item.staged,
                    member=entry.name,
                    status=Item.REJECTED if entry.problem else Item.PENDING,
                    message=entry.problem,
                )
                for entry in entries
            ]
            UploadItem.objects.bulk_create(children)
            rejected = sum(1 for child in children if child.status == Item.REJECTED)
            # The archive was counted as its entries when it was staged (upload_batch_create).
            UploadBatch.objects.filter(id=batch.id).update(processed=F("processed") + rejected)
            _finish_item(batch, item, Item.EXPANDED, f"{len(entries):,} files in archive")
            if batch.folder_labels:
                _record_unknown_folders(batch, [c.member for c in children if not c.message])


def _record_unknown_folders(batch: UploadBatch, members: list[str]) -> None:
    """Count the entries whose folder names no concept, so the report can name them."""
    unknown = UploadBatch.objects.get(id=batch.id).unknown_folders
    resolved = FolderLabels(batch.project)
    for member in members:
        folder = entry_folder(member)
        if not resolved.concept_ids(folder):
            unknown[folder] = unknown.get(folder, 0) + 1
    UploadBatch.objects.filter(id=batch.id).update(unknown_folders=unknown)


class FolderLabels:
    """Folder names resolved to concepts (key, name or synonym), each name looked up once."""

    def __init__(self, project: Project):
        self.project = project
        self.cache: dict[str, list[int]] = {}

    def concept_ids(self, folder: str) -> list[int]:
        if not folder:
            return []
        if folder not in self.cache:
            ids, unknown = concepts_resolve(self.project, [{"id": folder, "value": 1}])
            self.cache[folder] = [] if unknown else ids
        return self.cache[folder]


def _read_bytes(item: UploadItem, limit: int) -> bytes:
    path = media_path(item.staged)
    if item.member:
        with zipfile.ZipFile(path) as archive:
            return read_entry(archive, item.member, max_bytes=limit)
    with path.open("rb") as handle:
        return handle.read(limit + 1)


def _is_csv(item: UploadItem) -> bool:
    return (item.member or item.name).lower().endswith(".csv")


def _read_metadata(batch: UploadBatch) -> dict[str, dict[str, str]]:
    """Metadata of every CSV in the batch, read again on a resumed run."""
    table: dict[str, dict[str, str]] = {}
    csv_items = [
        item
        for item in batch.items.filter(status__in=[Item.PENDING, Item.METADATA])
        if _is_csv(item)
    ]
    for item in csv_items:
        try:
            rows = parse_metadata_csv(_read_bytes(item, 20 * 1024 * 1024))
        except MetadataRejected as exc:
            if item.status == Item.PENDING:
                _finish_item(batch, item, Item.REJECTED, str(exc))
            continue
        table.update(rows)
        if item.status == Item.PENDING:
            _finish_item(batch, item, Item.METADATA, f"metadata for {len(rows):,} files")
    return table


def _process_item(
    batch: UploadBatch, item: UploadItem, table: dict, labels: "FolderLabels | None"
) -> None:
    # An archive entry keeps its path inside the archive (brick/00655.png): folder names
    # often say what the image is, and people search for them.
    name = item.member or item.name
    try:
        data = _read_bytes(item, settings.LABELING_MAX_IMAGE_BYTES)
        result = input_ingest(
            project=batch.project,
            name=name.replace("\\", "/").lstrip("/"),
            data=data,
            metadata=metadata_for(name, table),
            batch=batch,
        )
    except ImageRejected as exc:
        _finish_item(batch, item, Item.REJECTED, str(exc))
        return
    except (OSError, zipfile.BadZipFile, KeyError) as exc:
        _finish_item(batch, item, Item.REJECTED, f"could not read file ({exc})")
        return
    if result.created or _stored_by_this_item(batch, item, result.input):
        concept_ids = labels.concept_ids(entry_folder(item.member)) if labels else []
        with transaction.atomic():
            if concept_ids and batch.created_by and not result.input.annotations.exists():
                input_labels_attach(
                    project=batch.project,
                    input=result.input,
                    concept_ids=concept_ids,
                    actor=batch.created_by,
                )
            _finish_item(batch, item, Item.STORED, "", input=result.input)
    else:
        _finish_item(
            batch,
            item,
            Item.DUPLICATE,
            f"same image as {result.input.original_name} (already in the project)",
            input=result.input,
        )


def _stored_by_this_item(batch: UploadBatch, item: UploadItem, input: Input) -> bool:
    """True when a crashed earlier run stored this very item's input but did not record it."""
    if input.batch_id != batch.id:
        return False
    return not batch.items.filter(input=input).exclude(id=item.id).exists()


def _finish_item(batch, item, status: str, message: str, input: Input | None = None) -> None:
    with transaction.atomic():
        updated = UploadItem.objects.filter(id=item.id, status=Item.PENDING).update(
            status=status, message=message[:500], input=input
        )
        # An expanded archive is not a file to check: its entries are (see upload_batch_create).
        if updated and status != Item.EXPANDED:
            UploadBatch.objects.filter(id=batch.id).update(
                processed=F("processed") + 1, heartbeat_at=timezone.now()
            )


def upload_batches_resume_stale() -> list[int]:
    """Queue again the batches whose worker stopped sending heartbeats (killed mid-job)."""
    cutoff = timezone.now() - timedelta(minutes=settings.LABELING_STALE_BATCH_MINUTES)
    unfinished = UploadBatch.objects.filter(
        status__in=[UploadBatch.Status.QUEUED, UploadBatch.Status.PROCESSING]
    )
    silent = Q(heartbeat_at__isnull=True, created_at__lt=cutoff) | Q(heartbeat_at__lt=cutoff)
    stale = list(unfinished.filter(silent).order_by("id").values_list("id", flat=True))
    for batch_id in stale:
        UploadBatch.objects.filter(id=batch_id).update(heartbeat_at=timezone.now())
        _queue(batch_id)
    return stale


def input_labels_attach(
    *, project: Project, input: Input, concept_ids: list[int], actor, review: bool = False
) -> Annotation:
    """Labels that come with an upload. From a project admin they are accepted ground truth
    (source ``import``), unless ``review`` asks for a check; from anyone else they wait for
    review at tier 1."""
    if input.project_id != project.id:
        raise ServiceError("This input is not in this project.")
    labels = checked_labels(project, concept_ids)
    is_admin = (
        actor.is_superuser
        or Membership.objects.filter(project=project, user=actor, role=Role.ADMIN).exists()
    )
    accepted = is_admin and not review
    with transaction.atomic():
        annotation = annotation_create(
            project_id=project.id,
            input_id=input.id,
            source=AnnotationSource.IMPORT,
            status=AnnotationStatus.ACCEPTED if accepted else AnnotationStatus.PENDING_REVIEW,
            concept_ids=labels,
            author=actor,
            review_tier=0 if accepted else 1,
        )
        if accepted:
            queue_slots_close(input=input)
        input_status_refresh(input=input)
    return annotation


def image_stage(*, data: bytes, folder: str) -> str:
    """Check a one-off image (a prediction's, a dry run's) and stage it under ``folder`` of
    the media root for a worker; returns its path there. ServiceError says what is wrong."""
    try:
        inspect_image(
            data,
            max_bytes=settings.LABELING_MAX_IMAGE_BYTES,
            max_pixels=settings.LABELING_MAX_IMAGE_PIXELS,
            thumb_size=16,
        )
    except ImageRejected as exc:
        raise ServiceError(str(exc)) from exc
    digest = hashlib.sha256(data).hexdigest()
    path = f"{folder}/{digest[:2]}/{digest}-{time.time_ns()}"
    write_file(path, data)
    return path
