"""CSV: one row per input; its labels and their provenance as ``;``-separated lists; and,
where the project has box groups, one more row per box.

``labels``, ``statuses``, ``sources``, ``authors``, ``models``, ``model_versions`` and
``confidences`` line up: the n-th entry of each describes the n-th label. Written and read
row by row.

A box's row names its input the same way and has its concept in ``labels`` (its status,
source, author, model, version and confidence in the other columns) and the box in
``x, y, w, h`` (fractions of the image as people see it) and ``x0, y0, x1, y1`` (pixels, x1
and y1 exclusive). A file with box columns is read whole and its rows grouped by input
(name and hash), so another tool's one-row-per-box file lands as one record per image.
"""

import csv
import io
import json
from collections.abc import Callable, Iterable, Sequence
from typing import BinaryIO

from labeling.boxes import to_pixels
from labeling.interchange.records import (
    ConceptRecord,
    InputRecord,
    InterchangeError,
    LabelRecord,
    RecordStream,
    RegionRecord,
    join_list,
    normalize_status,
    parse_coordinate,
    parse_float,
    parse_int,
    split_list,
)

COLUMNS = [
    "name",
    "labels",
    "statuses",
    "sources",
    "authors",
    "models",
    "model_versions",
    "confidences",
    "sha256",
    "split",
    "width",
    "height",
    "metadata",
]
NAME_COLUMNS = ("name", "filename", "file_name", "file", "image", "path", "image_path")
LABEL_COLUMNS = ("labels", "label", "concepts", "concept", "class", "category")
LIST_COLUMNS = {
    "statuses": ("statuses", "status"),
    "sources": ("sources", "source"),
    "authors": ("authors", "author"),
    "models": ("models", "model"),
    "model_versions": ("model_versions", "model_version"),
    "confidences": ("confidences", "confidence", "scores", "score"),
}
OTHER_COLUMNS = ("sha256", "split", "width", "height", "metadata")
BOX_COLUMNS = ["x", "y", "w", "h", "x0", "y0", "x1", "y1"]
# Names other tools give the same columns (normalised: x, y, width, height; pixels: corners).
BOX_ALIASES = {
    "x": ("x", "left"),
    "y": ("y", "top"),
    "w": ("w", "width_norm", "box_width"),
    "h": ("h", "height_norm", "box_height"),
    "x0": ("x0", "xmin", "x_min", "left_px"),
    "y0": ("y0", "ymin", "y_min", "top_px"),
    "x1": ("x1", "xmax", "x_max", "right_px"),
    "y1": ("y1", "ymax", "y_max", "bottom_px"),
}


def row_for(record: InputRecord) -> list:
    labels = record.labels
    return [
        record.name,
        join_list(label.concept for label in labels),
        join_list(label.status for label in labels),
        join_list(label.source for label in labels),
        join_list(label.author for label in labels),
        join_list(label.model for label in labels),
        join_list(label.model_version for label in labels),
        join_list(label.confidence for label in labels),
        record.sha256,
        record.split,
        "" if record.width is None else record.width,
        "" if record.height is None else record.height,
        json.dumps(record.metadata, ensure_ascii=False, sort_keys=True) if record.metadata else "",
    ]


def region_row(record: InputRecord, region: RegionRecord, width: int) -> list:
    """A box's row: the input's name, hash, split and size, the box's concept and
    provenance, ``width`` empty cells (the caller's extra columns), then the box."""
    pixels = (
        to_pixels(region.box, record.width, record.height)
        if record.width and record.height
        else ("", "", "", "")
    )
    return [
        record.name,
        region.concept,
        region.status,
        region.source,
        region.author,
        region.model,
        "" if region.model_version is None else region.model_version,
        "" if region.confidence is None else region.confidence,
        record.sha256,
        record.split,
        "" if record.width is None else record.width,
        "" if record.height is None else record.height,
        "",
        *([""] * width),
        *region.box,
        *pixels,
    ]


def write_csv(
    out: BinaryIO,
    records: Iterable[InputRecord],
    concepts: Sequence[ConceptRecord] = (),
    *,
    extra_columns: Sequence[str] = (),
    extra: Callable[[InputRecord], list] | None = None,
) -> dict:
    """Write the header and one row per record; ``extra`` adds the ``extra_columns`` values.
    Where a concept labels boxes, the box columns follow and each box gets a row."""
    text = io.TextIOWrapper(out, encoding="utf-8", newline="")
    writer = csv.writer(text)
    boxes = any(c.regions for c in concepts)
    writer.writerow([*COLUMNS, *extra_columns, *(BOX_COLUMNS if boxes else [])])
    inputs = labels = regions = 0
    for record in records:
        row = [*row_for(record), *(extra(record) if extra else [])]
        writer.writerow(row + ([""] * len(BOX_COLUMNS) if boxes else []))
        if boxes:
            for region in record.regions:
                writer.writerow(region_row(record, region, len(extra_columns)))
        inputs += 1
        labels += len(record.labels)
        regions += len(record.regions)
    text.flush()
    text.detach()
    return {"inputs": inputs, "labels": labels, "regions": regions}


def _column(header: dict[str, str], names: Sequence[str]) -> str | None:
    return next((header[n] for n in names if n in header), None)


def _nth(values: list[str], index: int) -> str:
    """The index-th value of a list column; one value stands for every label."""
    if len(values) == 1:
        return values[0]
    return values[index] if index < len(values) else ""


def record_from_row(row: dict, columns: dict[str, str | None], unknown: list[str]) -> InputRecord:
    def cell(key: str) -> str:
        column = columns.get(key)
        return (row.get(column) or "").strip() if column else ""

    concepts = split_list(cell("labels"))
    lists = {key: split_list(cell(key)) for key in LIST_COLUMNS}
    labels = [
        LabelRecord(
            concept=concept,
            status=normalize_status(_nth(lists["statuses"], i)),
            source=_nth(lists["sources"], i),
            author=_nth(lists["authors"], i),
            model=_nth(lists["models"], i),
            model_version=parse_int(_nth(lists["model_versions"], i)),
            confidence=parse_float(_nth(lists["confidences"], i)),
        )
        for i, concept in enumerate(concepts)
        if concept
    ]
    metadata: dict = {}
    if cell("metadata"):
        try:
            parsed = json.loads(cell("metadata"))
        except json.JSONDecodeError:
            parsed = {"metadata": cell("metadata")}
        metadata = parsed if isinstance(parsed, dict) else {"metadata": parsed}
    for column in unknown:
        if row.get(column):
            metadata[column] = row[column]
    return InputRecord(
        name=cell("name"),
        sha256=cell("sha256").lower(),
        width=parse_int(cell("width")),
        height=parse_int(cell("height")),
        split=cell("split"),
        metadata=metadata,
        labels=labels,
    )


def region_from_row(row: dict, columns: dict[str, str | None]) -> RegionRecord | None:
    """The box of a row, or None when its box cells are empty: normalised ``x, y, w, h``
    when given, else pixel corners ``x0, y0, x1, y1``."""

    def cell(key: str) -> str:
        column = columns.get(key)
        return (row.get(column) or "").strip() if column else ""

    normalised = [cell(k) for k in ("x", "y", "w", "h")]
    corners = [cell(k) for k in ("x0", "y0", "x1", "y1")]
    if any(normalised):
        box, pixels = tuple(parse_coordinate(v) for v in normalised), False
    elif any(corners):
        x0, y0, x1, y1 = (parse_coordinate(v) for v in corners)
        box, pixels = (x0, y0, x1 - x0, y1 - y0), True
    else:
        return None
    return RegionRecord(
        concept=cell("labels"),
        box=box,
        pixels=pixels,
        status=normalize_status(cell("statuses")),
        source=cell("sources"),
        author=cell("authors"),
        model=cell("models"),
        model_version=parse_int(cell("model_versions")),
        confidence=parse_float(cell("confidences")),
    )


def _grouped(rows: Iterable[dict], columns: dict[str, str | None], unknown: list[str]):
    """Records of a file with box columns: its rows grouped by input, in first-seen order."""
    by_input: dict[tuple[str, str], InputRecord] = {}
    for row in rows:
        region = region_from_row(row, columns)
        if region is not None:
            row = {k: v for k, v in row.items() if k != columns["labels"]}
        record = record_from_row(row, columns, unknown if region is None else [])
        key = (record.name, record.sha256)
        found = by_input.get(key)
        if found is None:
            by_input[key] = found = record
        else:
            found.labels.extend(record.labels)
            found.metadata = found.metadata or record.metadata
            found.width, found.height = found.width or record.width, found.height or record.height
        if region is not None:
            found.regions.append(region)
    return list(by_input.values())


def read_csv(stream: BinaryIO) -> RecordStream:
    """Records from a CSV with at least a name column (``name``, ``filename``, ``image``…)
    and usually a ``labels`` column. Columns it does not know become metadata."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    try:
        total = max(sum(1 for row in csv.reader(text) if any(row)) - 1, 0)
        text.seek(0)
        reader = csv.DictReader(text)
        fieldnames = reader.fieldnames or []
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InterchangeError(f"This is not a UTF-8 CSV file ({exc}).") from exc
    header = {name.strip().lower(): name for name in fieldnames if name}
    columns: dict[str, str | None] = {
        "name": _column(header, NAME_COLUMNS),
        "labels": _column(header, LABEL_COLUMNS),
        **{key: _column(header, names) for key, names in LIST_COLUMNS.items()},
        **{key: _column(header, (key,)) for key in OTHER_COLUMNS},
        **{key: _column(header, names) for key, names in BOX_ALIASES.items()},
    }
    if columns["name"] is None:
        raise InterchangeError(
            "The CSV needs a column naming each image: one of " + ", ".join(NAME_COLUMNS) + "."
        )
    known = {c for c in columns.values() if c}
    unknown = [name for name in fieldnames if name and name not in known]
    if any(columns[key] for key in BOX_ALIASES):
        try:
            rows = [r for r in reader if any(isinstance(v, str) and v.strip() for v in r.values())]
        except (UnicodeDecodeError, csv.Error) as exc:
            raise InterchangeError(
                f"The CSV is broken near line {reader.line_num} ({exc})."
            ) from exc
        grouped = _grouped(rows, columns, unknown)
        return RecordStream(total=len(grouped), records=iter(grouped))

    def records():
        try:
            for row in reader:
                values = [v for v in row.values() if isinstance(v, str)]
                if not any(v.strip() for v in values):
                    continue
                yield record_from_row(row, columns, unknown)
        except (UnicodeDecodeError, csv.Error) as exc:
            raise InterchangeError(
                f"The CSV is broken near line {reader.line_num} ({exc})."
            ) from exc

    return RecordStream(total=total, records=records())
