"""YOLO classification folders: a zip of ``train/<class>/<image>`` and ``val/<class>/<image>``.

The layout Ultralytics trains a classifier from. A class folder is a concept path with ``/``
written as ``__`` (``digit__3``). An input with two labels is copied into both folders;
inputs without labels go to ``unlabeled/`` (Ultralytics ignores that folder). Eval-split
inputs go under ``val/``. ``labels.csv`` (the CSV format plus a ``files`` column) carries
what folders cannot: original names, hashes, statuses, authors, models, scores.

Written as a stream: each image goes into the zip as its record arrives, the sidecar rows go
to a spool file copied in at the end, and the zip's central directory is spooled to disk
too (``zipstream``), so memory stays flat however many images there are.
"""

import hashlib
import io
import posixpath
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Sequence
from typing import BinaryIO

from labeling.interchange import csvfmt
from labeling.interchange.records import (
    IMAGE_EXTENSIONS,
    PATH_SEPARATOR,
    ConceptRecord,
    InputRecord,
    InterchangeError,
    LabelRecord,
    RecordStream,
    entry_reader,
    file_name_for,
    join_list,
    split_list,
)
from labeling.interchange.zipstream import ZipStream

FOLDER_SEPARATOR = "__"
SIDECAR = "labels.csv"
UNLABELED = "unlabeled"
SPLIT_FOLDERS = {"train": "train", "val": "eval", "valid": "eval", "validation": "eval"}
SPLIT_FOLDERS |= {"test": "eval", UNLABELED: ""}
MAX_SIDECAR_BYTES = 200 * 1024 * 1024


def folder_for(path: str) -> str:
    return path.replace(PATH_SEPARATOR, FOLDER_SEPARATOR)


def write_yolo(
    out: BinaryIO,
    records: Iterable[InputRecord],
    concepts: Sequence[ConceptRecord],
    *,
    read_image: Callable[[InputRecord], bytes | None],
) -> dict:
    """Write the zip; ``read_image`` returns an input's bytes, or None when its file is gone
    (the input is then only in ``labels.csv``, and counted as missing)."""
    counts = {"inputs": 0, "labels": 0, "files": 0, "missing_images": 0}
    with ZipStream(out) as archive:
        # Every class gets its folders, so class indices do not depend on which have images.
        for split in ("train", "val"):
            for concept in concepts:
                if not concept.archived:
                    archive.mkdir(f"{split}/{folder_for(concept.path)}")
        current: dict[str, list[str]] = {"files": []}

        def placed(items: Iterable[InputRecord]):
            for record in items:
                data = read_image(record)
                name = file_name_for(record)
                split = "val" if record.split == "eval" else "train"
                paths = list(dict.fromkeys(label.concept for label in record.labels))
                entries = [f"{split}/{folder_for(p)}/{name}" for p in paths] or [
                    f"{UNLABELED}/{name}"
                ]
                if data is None:
                    counts["missing_images"] += 1
                    entries = []
                for entry in entries:
                    archive.write(entry, data)
                counts["files"] += len(entries)
                counts["inputs"] += 1
                counts["labels"] += len(record.labels)
                current["files"] = entries
                yield record

        with tempfile.TemporaryFile() as spool:
            csvfmt.write_csv(
                spool,
                placed(records),
                extra_columns=["files"],
                extra=lambda record: [join_list(current["files"])],
            )
            archive.write_file(SIDECAR, spool)
    return counts


def _place(name: str) -> tuple[str, str | None]:
    """(split, class folder or None) of an image entry, from its folders."""
    parts = name.split("/")
    folders = parts[:-1]
    for index in range(len(folders)):
        split = SPLIT_FOLDERS.get(folders[index].lower())
        if split is None:
            continue
        if folders[index].lower() == UNLABELED or index == len(folders) - 1:
            return split, None
        return split, folders[index + 1]
    return "", folders[-1] if folders else None


def _read_sidecar(archive: zipfile.ZipFile, names: Sequence[str]) -> list[InputRecord]:
    found = [n for n in names if posixpath.basename(n).lower() == SIDECAR]
    if not found:
        return []
    entry = min(found, key=lambda n: n.count("/"))
    with archive.open(entry) as handle:
        raw = handle.read(MAX_SIDECAR_BYTES + 1)
    if len(raw) > MAX_SIDECAR_BYTES:
        raise InterchangeError(f"{entry} is over the limit of {MAX_SIDECAR_BYTES:,} bytes.")
    records = list(csvfmt.read_csv(io.BytesIO(raw)).records)
    for record in records:
        record.file = record.metadata.pop("files", "")  # a column csvfmt does not know
    return records


def read_yolo(
    archive: zipfile.ZipFile, names: Sequence[str], *, max_image_bytes: int
) -> RecordStream:
    """Records from a classification zip (``names``: its entries, already checked).

    Images are grouped by content, so a picture copied into two class folders is one input
    with two labels, and two different pictures that share a file name stay two inputs. The
    folders are the truth about labels; ``labels.csv``, when present, adds names and
    provenance for the labels the folders confirm.
    """
    sidecar = _read_sidecar(archive, names)
    by_sha = {r.sha256: r for r in sidecar if r.sha256}
    by_file = {f: r for r in sidecar for f in split_list(r.file)}
    folders = {folder_for(label.concept): label.concept for r in sidecar for label in r.labels}
    groups: dict[str, dict] = {}
    for name in names:
        if posixpath.splitext(name)[1][1:].lower() not in IMAGE_EXTENSIONS:
            continue
        with archive.open(name) as handle:
            digest = hashlib.sha256(handle.read(max_image_bytes + 1)).hexdigest()
        split, folder = _place(name)
        group = groups.setdefault(digest, {"entry": name, "split": split, "folders": []})
        if folder is not None and folder not in group["folders"]:
            group["folders"].append(folder)

    def records():
        for digest, group in groups.items():
            known = by_sha.get(digest) or by_file.get(group["entry"])
            labels: list[LabelRecord] = []
            for folder in group["folders"]:
                path = folders.get(folder) or folder.replace(FOLDER_SEPARATOR, PATH_SEPARATOR)
                given = known.labels if known else []
                provenance = [label for label in given if label.concept == path]
                labels.extend(provenance or [LabelRecord(concept=path)])
            yield InputRecord(
                name=known.name if known and known.name else posixpath.basename(group["entry"]),
                sha256=digest,
                width=known.width if known else None,
                height=known.height if known else None,
                split=group["split"],
                metadata=known.metadata if known else {},
                labels=labels,
                image=entry_reader(archive, group["entry"], max_image_bytes),
            )

    return RecordStream(total=len(groups), records=records())
