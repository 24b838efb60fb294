"""What the interchange jobs share: limits, options, progress."""

import posixpath
import zipfile

from django.conf import settings
from django.utils import timezone
from django.utils.text import slugify

from labeling.ingest.archives import ArchiveRejected, list_entries
from labeling.interchange.records import (
    DEFAULT_STATUSES,
)
from labeling.models import (
    InterchangeJob,
)

EXPORT_CHUNK = 2000  # inputs per query (and per progress update) of an export
IMPORT_CHUNK = 500  # records per transaction of an import
DEFAULT_MAX_IMPORT_BYTES = 200 * 1024 * 1024  # a JSON import is parsed whole: keep it bounded
REPORT_EXAMPLES = 20  # names listed in a report, beyond the counts
EXPORT_OPTIONS = {
    "statuses",
    "include_suggestions",
    "automatic_labels",
    "include_unlabeled",
    "split",
    "image_url_prefix",
    "yolo_layout",
}
IMPORT_OPTIONS = {"predictions"}


Job = InterchangeJob


def _progress(job: InterchangeJob, done: int, **fields) -> None:
    Job.objects.filter(id=job.id).update(done=done, heartbeat_at=timezone.now(), **fields)


def default_statuses(format: str, *, include_suggestions: bool = False) -> list[str]:
    """Accepted labels only, in every format, unless suggestions (annotations waiting for
    review, a model's doubtful predictions among them) are asked for: an export is what
    people train on, and unreviewed guesses must not slip into it unmarked."""
    return list(DEFAULT_STATUSES) if include_suggestions else ["accepted"]


def option_flag(value, *, default: bool) -> bool:
    """A yes/no option as JSON, a form field or a query string sends it."""
    if value is None or value == "":
        return default
    if isinstance(value, str):
        return value.strip().lower() not in ("0", "false", "no", "off")
    return bool(value)


def _checked_names(archive: zipfile.ZipFile) -> list[str]:
    """The archive's file entries, or ArchiveRejected for the whole archive: an import never
    goes ahead with some entries refused, so one unsafe path refuses it all."""
    entries = list_entries(
        archive,
        max_entries=settings.LABELING_MAX_ARCHIVE_ENTRIES,
        max_total_bytes=settings.LABELING_MAX_ARCHIVE_BYTES,
    )
    unsafe = [e for e in entries if e.problem]
    if unsafe:
        listed = "; ".join(f"{e.name}: {e.problem}" for e in unsafe[:5])
        more = f" (and {len(unsafe) - 5} more)" if len(unsafe) > 5 else ""
        raise ArchiveRejected(f"The archive is refused: {listed}{more}.")
    return [e.name for e in entries]


def _import_limit(is_zip: bool) -> int:
    if is_zip:
        return settings.LABELING_MAX_ARCHIVE_BYTES
    return getattr(settings, "LABELING_MAX_IMPORT_BYTES", DEFAULT_MAX_IMPORT_BYTES)


def _safe_name(name: str) -> str:
    base = posixpath.basename((name or "").replace("\\", "/"))
    return slugify(posixpath.splitext(base)[0])[:80] or "upload"
