"""YOLO detection: a zip of ``images/<split>/``, ``labels/<split>/*.txt`` and ``data.yaml``.

The layout Ultralytics trains a detector from. Each image's label file has one line per box,
``class cx cy w h``: the class index into ``names`` of ``data.yaml``, then the box's centre
and size as fractions of the image as people see it (EXIF orientation applied, as
Ultralytics and OpenCV read images). The image files are the stored ones, byte for byte.
Only box concepts are classes; labels of whole images are in ``labels.csv`` (the CSV
format, one row per input and one per box, plus a ``files`` column) with what the label
files cannot hold: names, hashes, statuses, authors, models, confidences.

An input with exported labels or boxes is under ``images/`` (one without boxes gets an empty
label file: a background image); one without any goes to ``unlabeled/``, which Ultralytics
does not read. Written as a stream, like the classification zip.
"""

import hashlib
import io
import json
import math
import posixpath
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Sequence
from typing import BinaryIO

from labeling.boxes import to_yolo
from labeling.interchange import csvfmt
from labeling.interchange.records import (
    IMAGE_EXTENSIONS,
    ConceptRecord,
    InputRecord,
    InterchangeError,
    RecordStream,
    RegionRecord,
    entry_reader,
    file_name_for,
    join_list,
    parse_float,
    parse_int,
    split_list,
)
from labeling.interchange.yolo import SIDECAR, SPLIT_FOLDERS, UNLABELED
from labeling.interchange.zipstream import ZipStream

DATA_YAML = "data.yaml"
CLASSES_TXT = "classes.txt"  # labelImg's list of names, one a line
MAX_TEXT_BYTES = 20 * 1024 * 1024
SAME_BOX = 1e-5  # a label file's box and labels.csv's are the same box within this


def is_detection(names: Sequence[str]) -> bool:
    """Whether a zip's entries are a detection dataset (label files or a data.yaml)."""
    for name in names:
        parts = name.lower().split("/")
        if parts[-1] in (DATA_YAML, "data.yml") or (
            parts[-1].endswith(".txt") and "labels" in parts[:-1]
        ):
            return True
    return False


def _number(value: float) -> str:
    return f"{value:.8f}".rstrip("0").rstrip(".") or "0"


def label_lines(regions: Iterable[RegionRecord], classes: dict[str, int]) -> str:
    """A label file: ``class cx cy w h`` per box (new concepts get the next index)."""
    lines = []
    for region in regions:
        index = classes.setdefault(region.concept, len(classes))
        lines.append(" ".join([str(index), *(_number(v) for v in to_yolo(region.box))]))
    return "".join(line + "\n" for line in lines)


def data_yaml(classes: dict[str, int]) -> str:
    """``data.yaml`` for Ultralytics; names are JSON strings, which YAML reads as they are."""
    lines = [
        "# YOLO detection export of the labeling portal; see labels.csv for provenance",
        "path: .",
        "train: images/train",
        "val: images/val",
        f"nc: {len(classes)}",
        "names:",
    ]
    lines += [f"  {index}: {json.dumps(path)}" for path, index in classes.items()]
    return "\n".join(lines) + "\n"


def write_yolo_detection(
    out: BinaryIO,
    records: Iterable[InputRecord],
    concepts: Sequence[ConceptRecord],
    *,
    read_image: Callable[[InputRecord], bytes | None],
) -> dict:
    """Write the zip; ``read_image`` returns an input's bytes, or None when its file is gone
    (the input is then only in ``labels.csv``, and counted as missing)."""
    classes = {c.path: i for i, c in enumerate(c for c in concepts if c.regions and not c.archived)}
    counts = {"inputs": 0, "labels": 0, "regions": 0, "files": 0, "missing_images": 0}
    with ZipStream(out) as archive:
        for folder in ("images/train", "images/val", "labels/train", "labels/val"):
            archive.mkdir(folder)
        current: dict[str, list[str]] = {"files": []}

        def placed(items: Iterable[InputRecord]):
            for record in items:
                data = read_image(record)
                name = file_name_for(record)
                split = "val" if record.split == "eval" else "train"
                entries: list[str] = []
                if data is None:
                    counts["missing_images"] += 1
                elif record.labels or record.regions:
                    stem = posixpath.splitext(name)[0]
                    entries = [f"images/{split}/{name}", f"labels/{split}/{stem}.txt"]
                    archive.write(entries[0], data)
                    archive.write(entries[1], label_lines(record.regions, classes).encode())
                else:
                    entries = [f"{UNLABELED}/{name}"]
                    archive.write(entries[0], data)
                counts["files"] += len(entries)
                counts["inputs"] += 1
                counts["labels"] += len(record.labels)
                counts["regions"] += len(record.regions)
                current["files"] = entries
                yield record

        with tempfile.TemporaryFile() as spool:
            csvfmt.write_csv(
                spool,
                placed(records),
                concepts,
                extra_columns=["files"],
                extra=lambda record: [join_list(current["files"])],
            )
            archive.write_file(SIDECAR, spool)
        archive.write(DATA_YAML, data_yaml(classes).encode())
    return counts


# ---------------------------------------------------------------------------- reading


def _read_text(archive: zipfile.ZipFile, entry: str) -> str:
    with archive.open(entry) as handle:
        raw = handle.read(MAX_TEXT_BYTES + 1)
    if len(raw) > MAX_TEXT_BYTES:
        raise InterchangeError(f"{entry} is over the limit of {MAX_TEXT_BYTES:,} bytes.")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InterchangeError(f"{entry} is not UTF-8 text ({exc}).") from exc


def _class_names(archive: zipfile.ZipFile, names: Sequence[str]) -> dict[int, str]:
    """Class index -> name, from ``data.yaml`` (``names`` as a list or a mapping), else
    ``classes.txt``; empty when the zip has neither."""
    shallow = sorted(names, key=lambda n: n.count("/"))
    found = next(
        (n for n in shallow if posixpath.basename(n).lower() in (DATA_YAML, "data.yml")), None
    )
    if found is not None:
        import yaml

        try:
            data = yaml.safe_load(_read_text(archive, found))
        except yaml.YAMLError as exc:
            raise InterchangeError(f"{found} is not YAML ({exc}).") from exc
        given = data.get("names") if isinstance(data, dict) else None
        if isinstance(given, list):
            return {i: str(n) for i, n in enumerate(given)}
        if isinstance(given, dict):
            return {i: str(n) for k, n in given.items() if (i := parse_int(k)) is not None}
        raise InterchangeError(f"{found} has no list of class names (names).")
    found = next((n for n in shallow if posixpath.basename(n).lower() == CLASSES_TXT), None)
    if found is not None:
        lines = [line.strip() for line in _read_text(archive, found).splitlines()]
        return {i: line for i, line in enumerate(lines) if line}
    return {}


def parse_label_file(text: str, classes: dict[int, str]) -> list[RegionRecord]:
    """The boxes of a label file. A line that is not ``class cx cy w h`` (a polygon, a class
    with no name, a word) is a box with its problem stated, for the importer to report."""
    regions = []
    for number, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        index = parse_int(parts[0])
        concept = classes.get(index, f"class {parts[0]}") if index is not None else parts[0]
        problem = ""
        if len(parts) not in (5, 6):
            problem = f"line {number} is not 'class cx cy w h' (a polygon?)"
            values = [math.nan] * 4
        else:
            values = [parse_float(v) for v in parts[1:5]]
            values = [math.nan if v is None else v for v in values]
        cx, cy, w, h = values
        regions.append(
            RegionRecord(
                concept=concept,
                box=(cx - w / 2, cy - h / 2, w, h),
                confidence=parse_float(parts[5]) if len(parts) == 6 else None,
                problem=problem,
            )
        )
    return regions


def _label_entry(image: str, texts: set[str], by_stem: dict[str, list[str]]) -> str | None:
    """The label file of an image: ``images/`` -> ``labels/`` in its path, else beside it,
    else the only label file with its stem."""
    stem, _ = posixpath.splitext(image)
    parts = stem.split("/")
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            candidate = "/".join([*parts[:i], "labels", *parts[i + 1 :]]) + ".txt"
            if candidate in texts:
                return candidate
    if stem + ".txt" in texts:
        return stem + ".txt"
    same = by_stem.get(posixpath.basename(stem), [])
    return same[0] if len(same) == 1 else None


def _split(entry: str) -> str:
    for folder in entry.lower().split("/")[:-1]:
        if folder in SPLIT_FOLDERS:
            return SPLIT_FOLDERS[folder]
    return ""


def _with_provenance(regions: list[RegionRecord], known: list[RegionRecord]) -> None:
    """Give each box of a label file the provenance and exact box of its labels.csv row."""
    pool = list(known)
    for position, region in enumerate(regions):
        for candidate in pool:
            if candidate.concept == region.concept and all(
                abs(a - b) <= SAME_BOX for a, b in zip(candidate.box, region.box, strict=True)
            ):
                regions[position] = candidate
                pool.remove(candidate)
                break


def read_yolo_detection(
    archive: zipfile.ZipFile, names: Sequence[str], *, max_image_bytes: int
) -> RecordStream:
    """Records from a detection zip (``names``: its entries, already checked). The label
    files are the truth about boxes; ``labels.csv``, when present, adds names, provenance
    and labels of whole images."""
    classes = _class_names(archive, names)
    sidecar_entry = min(
        (n for n in names if posixpath.basename(n).lower() == SIDECAR),
        key=lambda n: n.count("/"),
        default=None,
    )
    sidecar: list[InputRecord] = []
    if sidecar_entry is not None:
        text = _read_text(archive, sidecar_entry)
        sidecar = list(csvfmt.read_csv(io.BytesIO(text.encode())).records)
        for record in sidecar:
            record.file = record.metadata.pop("files", "")
    by_sha = {r.sha256: r for r in sidecar if r.sha256}
    by_file = {f: r for r in sidecar for f in split_list(r.file)}
    texts = {n for n in names if n.lower().endswith(".txt")}
    by_stem: dict[str, list[str]] = {}
    for entry in texts:
        by_stem.setdefault(posixpath.splitext(posixpath.basename(entry))[0], []).append(entry)
    images: dict[str, str] = {}  # sha256 -> first entry with that content
    for name in names:
        if posixpath.splitext(name)[1][1:].lower() not in IMAGE_EXTENSIONS:
            continue
        with archive.open(name) as handle:
            digest = hashlib.sha256(handle.read(max_image_bytes + 1)).hexdigest()
        images.setdefault(digest, name)

    def records():
        for digest, entry in images.items():
            known = by_sha.get(digest) or by_file.get(entry)
            label_entry = _label_entry(entry, texts, by_stem)
            regions = []
            if label_entry is not None:
                regions = parse_label_file(_read_text(archive, label_entry), classes)
                _with_provenance(regions, known.regions if known else [])
            yield InputRecord(
                name=known.name if known and known.name else posixpath.basename(entry),
                sha256=digest,
                width=known.width if known else None,
                height=known.height if known else None,
                split=_split(entry),
                metadata=known.metadata if known else {},
                labels=known.labels if known else [],
                regions=regions,
                image=entry_reader(archive, entry, max_image_bytes),
            )

    return RecordStream(total=len(images), records=records())
