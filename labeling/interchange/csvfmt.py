"""CSV: one row per input; its labels and their provenance as ``;``-separated lists.

``labels``, ``statuses``, ``sources``, ``authors``, ``models``, ``model_versions`` and
``confidences`` line up: the n-th entry of each describes the n-th label. Written and read
row by row.
"""

import csv
import io
import json
from collections.abc import Callable, Iterable, Sequence
from typing import BinaryIO

from labeling.interchange.records import (
    ConceptRecord,
    InputRecord,
    InterchangeError,
    LabelRecord,
    RecordStream,
    join_list,
    normalize_status,
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


def write_csv(
    out: BinaryIO,
    records: Iterable[InputRecord],
    concepts: Sequence[ConceptRecord] = (),
    *,
    extra_columns: Sequence[str] = (),
    extra: Callable[[InputRecord], list] | None = None,
) -> dict:
    """Write the header and one row per record; ``extra`` adds the ``extra_columns`` values."""
    text = io.TextIOWrapper(out, encoding="utf-8", newline="")
    writer = csv.writer(text)
    writer.writerow([*COLUMNS, *extra_columns])
    inputs = labels = 0
    for record in records:
        writer.writerow([*row_for(record), *(extra(record) if extra else [])])
        inputs += 1
        labels += len(record.labels)
    text.flush()
    text.detach()
    return {"inputs": inputs, "labels": labels}


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
    }
    if columns["name"] is None:
        raise InterchangeError(
            "The CSV needs a column naming each image: one of " + ", ".join(NAME_COLUMNS) + "."
        )
    known = {c for c in columns.values() if c}
    unknown = [name for name in fieldnames if name and name not in known]

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
