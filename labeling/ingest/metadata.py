"""Per-input metadata from a CSV beside the images: one row per file, other columns as values."""

import csv
import io
import posixpath

NAME_COLUMNS = ("filename", "file", "image", "name", "path")


class MetadataRejected(ValueError):
    pass


def parse_metadata_csv(data: bytes) -> dict[str, dict[str, str]]:
    """Map each file name in the CSV to its other columns (empty cells left out)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MetadataRejected("CSV is not UTF-8 text") from exc
    reader = csv.DictReader(io.StringIO(text))
    columns = [c.strip() for c in reader.fieldnames or []]
    name_column = next((c for c in columns if c.lower() in NAME_COLUMNS), None)
    if name_column is None:
        raise MetadataRejected(f"CSV needs a column named one of: {', '.join(NAME_COLUMNS)}")
    rows: dict[str, dict[str, str]] = {}
    for row in reader:
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        name = row.pop(name_column, "")
        if name:
            rows[name] = {k: v for k, v in row.items() if k and v}
    return rows


def metadata_for(name: str, table: dict[str, dict[str, str]]) -> dict[str, str]:
    """The row for a file, matched by its path as uploaded or by its base name."""
    if name in table:
        return table[name]
    return table.get(posixpath.basename(name.replace("\\", "/")), {})
