"""Check zip archives before anything in them is read: entry paths, count and expanded size."""

import posixpath
import stat
import zipfile
from dataclasses import dataclass

SKIPPED_PREFIXES = ("__MACOSX/",)


class ArchiveRejected(ValueError):
    """The whole archive is refused; the message says why."""


@dataclass(frozen=True)
class ArchiveEntry:
    name: str
    size: int
    problem: str = ""  # why this one entry is refused, if it is


def entry_path_problem(name: str) -> str:
    """Why an entry's path is unsafe to use, or "" when it is fine."""
    normalized = name.replace("\\", "/")
    if normalized.startswith("/") or (len(normalized) > 1 and normalized[1] == ":"):
        return "absolute path in archive"
    if ".." in normalized.split("/"):
        return "path with '..' in archive"
    return ""


def is_ignored_entry(name: str) -> bool:
    """Folders and the hidden files that zip tools add are skipped without a word."""
    base = posixpath.basename(name.rstrip("/"))
    return name.endswith("/") or name.startswith(SKIPPED_PREFIXES) or base.startswith(".")


def list_entries(
    archive: zipfile.ZipFile, *, max_entries: int, max_total_bytes: int
) -> list[ArchiveEntry]:
    """The archive's file entries, or ArchiveRejected when it is over a limit.

    Sizes are the ones the archive declares; readers must still cap what they read
    (see ``read_entry``), since a hostile archive can lie about them.
    """
    infos = [info for info in archive.infolist() if not is_ignored_entry(info.filename)]
    if len(infos) > max_entries:
        raise ArchiveRejected(
            f"archive has {len(infos):,} files, over the limit of {max_entries:,}"
        )
    total = sum(info.file_size for info in infos)
    if total > max_total_bytes:
        raise ArchiveRejected(
            f"archive expands to {total:,} bytes, over the limit of {max_total_bytes:,} bytes"
        )
    entries = []
    for info in infos:
        problem = entry_path_problem(info.filename)
        if not problem and stat.S_ISLNK(info.external_attr >> 16):
            problem = "symbolic link in archive"
        entries.append(ArchiveEntry(name=info.filename, size=info.file_size, problem=problem))
    return entries


def read_entry(archive: zipfile.ZipFile, name: str, *, max_bytes: int) -> bytes:
    """Read one entry, never more than ``max_bytes + 1`` bytes whatever its header says."""
    with archive.open(name) as handle:
        return handle.read(max_bytes + 1)


def entry_folder(name: str) -> str:
    """The folder an entry sits in (``brick`` for ``data/brick/00655.png``), "" at the top.

    Under the ImageFolder convention that folder's name is the image's label.
    """
    parent = posixpath.dirname(name.replace("\\", "/").strip("/"))
    return posixpath.basename(parent)


def count_entries(path, *, max_entries: int, max_total_bytes: int) -> int:
    """How many files an upload stands for: an archive's entries (what ``list_entries`` will
    give), or 1 for anything that is not a zip or will be refused whole."""
    if not zipfile.is_zipfile(path):
        return 1
    try:
        with zipfile.ZipFile(path) as archive:
            entries = list_entries(
                archive, max_entries=max_entries, max_total_bytes=max_total_bytes
            )
    except (ArchiveRejected, zipfile.BadZipFile):
        return 1
    return len(entries)
