"""What every interchange format reads and writes: plain records, no ORM.

An export turns each input into one ``InputRecord`` carrying the labels of its live
annotations; a format writer streams records to a file, a format reader yields records back.
``ConceptIndex`` maps the concept names found in a file onto a project's taxonomy (pure: it
is built from rows the service reads once).
"""

import math
import posixpath
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from labeling.boxes import Box, InvalidBox, box_checked

PATH_SEPARATOR = "/"
LIST_SEPARATOR = ";"  # between the labels of one input in CSV cells
STATUSES = ("accepted", "pending_review", "rejected")
DEFAULT_STATUSES = ("accepted", "pending_review")


@dataclass
class LabelRecord:
    """One concept on one input, with where it came from."""

    concept: str  # a concept path of keys ("digit/3"), or a plain key or name from a file
    status: str = "accepted"
    source: str = ""  # human, model or import; "" when the file does not say
    author: str = ""  # username, or "" (a model, or unknown)
    model: str = ""  # for a model's label: the model's name
    model_version: int | None = None
    confidence: float | None = None

    # Set by readers of detection files on the label a box implies ("this image shows a dog"):
    # it tells tools that read labels only what the boxes show. The importer skips it, as
    # the box itself (a ``RegionRecord``) carries the concept.
    boxed: bool = False

    @property
    def provenance(self) -> tuple:
        """Labels sharing this key came from the same annotation (or could have)."""
        return (self.status, self.source, self.author, self.model, self.model_version)


@dataclass
class RegionRecord:
    """One box with its concept on one input, with where it came from (as ``LabelRecord``).

    ``box`` is (x, y, w, h) of the image as people see it (EXIF applied): fractions of its
    width and height, or pixels when ``pixels`` is true (the importer converts them with the
    record's width and height, else the input's). Readers keep what the file says, however
    wrong (NaN, outside the image, rotated): the importer checks each box and reports it."""

    concept: str
    box: tuple[float, float, float, float]
    pixels: bool = False
    rotation: float = 0.0  # degrees; only upright boxes can be stored
    status: str = "accepted"
    source: str = ""
    author: str = ""
    model: str = ""
    model_version: int | None = None
    confidence: float | None = None
    problem: str = ""  # what the reader found wrong with it (the importer refuses it)

    @property
    def provenance(self) -> tuple:
        return (self.status, self.source, self.author, self.model, self.model_version)


@dataclass
class InputRecord:
    """One image and its labels. ``file`` and ``image`` never go into a file: the writer of a
    format with images reads bytes through them."""

    name: str
    sha256: str = ""
    width: int | None = None
    height: int | None = None
    split: str = ""
    metadata: dict = field(default_factory=dict)
    labels: list[LabelRecord] = field(default_factory=list)
    regions: list[RegionRecord] = field(default_factory=list)
    format: str = ""  # Pillow's format name ("PNG"), for the extension of an exported image
    file: str = field(default="", repr=False, compare=False)
    image: Callable[[], bytes] | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class ConceptRecord:
    """A concept of the exported taxonomy (a COCO category, a YOLO folder, an LS choice)."""

    path: str
    name: str
    exclusive_parent: bool = False  # its parent is a single choice
    archived: bool = False
    regions: bool = False  # its group labels boxes, not whole inputs

    @property
    def parent(self) -> str:
        return self.path.rpartition(PATH_SEPARATOR)[0]

    @property
    def key(self) -> str:
        return self.path.rpartition(PATH_SEPARATOR)[2]


@dataclass(frozen=True)
class RecordStream:
    """What a reader returns: how many records (when it knows) and the records."""

    total: int | None
    records: Iterable[InputRecord]


class InterchangeError(ValueError):
    """The file cannot be read as the format; the message says why, for the user."""


# ---------------------------------------------------------------------------- helpers

IMAGE_EXTENSIONS = {"jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff"}
FORMAT_EXTENSIONS = {
    "JPEG": "jpg",
    "MPO": "jpg",
    "PNG": "png",
    "WEBP": "webp",
    "BMP": "bmp",
    "TIFF": "tif",
}


def file_name_for(record: InputRecord) -> str:
    """A safe, unique file name for an exported image: a hash prefix keeps two inputs with
    the same original name apart; the extension follows the stored format."""
    base = posixpath.basename(record.name.replace("\\", "/")) or "image"
    stem, ext = posixpath.splitext(base)
    ext = ext[1:].lower()
    if ext not in IMAGE_EXTENSIONS:
        stem, ext = base, ""
    ext = FORMAT_EXTENSIONS.get(record.format.upper()) or {"jpeg": "jpg", "tiff": "tif"}.get(
        ext, ext
    )
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._")[-80:] or "image"
    prefix = record.sha256[:10]
    return f"{prefix}_{safe}.{ext or 'img'}" if prefix else f"{safe}.{ext or 'img'}"


def join_list(values: Iterable) -> str:
    return LIST_SEPARATOR.join("" if v is None else str(v) for v in values)


def split_list(cell: str | None) -> list[str]:
    """A CSV cell of ``;``-separated values; an empty cell is no values."""
    if cell is None or not cell.strip():
        return []
    return [part.strip() for part in cell.split(LIST_SEPARATOR)]


def parse_int(value) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def parse_float(value) -> float | None:
    try:
        return float(str(value).strip())
    except (TypeError, ValueError):
        return None


def parse_coordinate(value) -> float:
    """A box coordinate from a file; NaN when it is missing or not a number, so that the
    importer refuses that one box with a reason instead of the whole file."""
    parsed = parse_float(value)
    return float("nan") if parsed is None else parsed


def normalize_status(value) -> str:
    """A status from a file; anything unknown (or missing) counts as accepted ground truth."""
    text = str(value or "").strip().lower().replace(" ", "_").replace("-", "_")
    if text in ("pending", "pending_review", "in_review", "review", "suggested", "prediction"):
        return "pending_review"
    if text in ("rejected", "cancelled", "canceled"):
        return "rejected"
    return "accepted"


# ---------------------------------------------------------------------------- concepts


@dataclass(frozen=True)
class ConceptRow:
    id: int
    parent_id: int | None
    key: str
    name: str
    exclusive: bool = False
    archived: bool = False


def normalize_name(name: str) -> str:
    """Case and spacing do not matter when a file's names are matched (as for synonyms)."""
    return " ".join(str(name).strip().lower().split())


class ConceptIndex:
    """Concept names and paths from files mapped onto a project's active concepts.

    ``resolve("digit/3")`` walks the tree from the roots: each part matches a child's key,
    name or synonym (case-insensitive). When the walk fails, the last part alone is matched
    anywhere in the tree and kept only if that is unambiguous (preferring concepts whose
    parent matches the part before it), so a file's own grouping (``class/cat``, a COCO
    supercategory) does not stop a label from landing. Only concepts without active children
    can be labels; anything else resolves to None.
    """

    def __init__(self, rows: Iterable[ConceptRow], synonyms: dict[str, int]):
        self.rows = {row.id: row for row in rows if not row.archived}
        self.synonyms = {normalize_name(k): v for k, v in synonyms.items()}
        self.children: dict[int | None, list[ConceptRow]] = {}
        for row in self.rows.values():
            self.children.setdefault(row.parent_id, []).append(row)
        self._cache: dict[str, int | None] = {}

    def _matches(self, row: ConceptRow, wanted: str) -> bool:
        return wanted in (row.key.lower(), normalize_name(row.name)) or (
            self.synonyms.get(wanted) == row.id
        )

    def _find(self, pool: Iterable[ConceptRow], part: str) -> list[ConceptRow]:
        wanted = normalize_name(part)
        direct = [row for row in pool if wanted in (row.key.lower(), normalize_name(row.name))]
        if direct:
            return direct
        return [row for row in pool if self.synonyms.get(wanted) == row.id]

    def is_leaf(self, concept_id: int) -> bool:
        return not self.children.get(concept_id)

    def resolve(self, path: str) -> int | None:
        if path not in self._cache:
            self._cache[path] = self._resolve(path)
        return self._cache[path]

    def _resolve(self, path: str) -> int | None:
        parts = [p for p in str(path).replace("\\", "/").split(PATH_SEPARATOR) if p.strip()]
        if not parts:
            return None
        parent: int | None = None
        walked: ConceptRow | None = None
        for part in parts:
            found = self._find(self.children.get(parent, []), part)
            if len(found) != 1:
                walked = None
                break
            walked = found[0]
            parent = walked.id
        if walked is not None:
            return walked.id if self.is_leaf(walked.id) else None
        candidates = [
            row for row in self._find(self.rows.values(), parts[-1]) if self.is_leaf(row.id)
        ]
        if len(candidates) > 1 and len(parts) > 1:
            wanted_parent = normalize_name(parts[-2])
            narrowed = [
                row
                for row in candidates
                if row.parent_id is not None
                and self._matches(self.rows[row.parent_id], wanted_parent)
            ]
            candidates = narrowed or candidates
        return candidates[0].id if len(candidates) == 1 else None

    def exclusive_group(self, concept_id: int) -> int | None:
        """The exclusive parent whose single choice this concept is, if any."""
        row = self.rows.get(concept_id)
        if row is None or row.parent_id is None:
            return None
        parent = self.rows.get(row.parent_id)
        return parent.id if parent is not None and parent.exclusive else None


# ---------------------------------------------------------------------------- boxes


def region_box(region: RegionRecord, width: int | None, height: int | None) -> tuple[Box, bool]:
    """The normalised box of a file's region, clipped to the image, and whether clipping
    changed it; ``width``/``height`` convert a box in pixels. InvalidBox, with the reason
    for the import report, for a box that cannot be stored: what the reader found wrong,
    a rotation, pixels with no image size, no finite numbers, no size, or off the image."""
    if region.problem:
        raise InvalidBox(region.problem)
    rotation = region.rotation or 0.0
    if not math.isfinite(rotation) or rotation % 360:
        raise InvalidBox(
            f"the box is rotated by {region.rotation:g} degrees; only upright boxes are kept"
        )
    x, y, w, h = region.box
    if region.pixels:
        if not width or not height:
            raise InvalidBox("the box is in pixels and the image's size is not known")
        x, y, w, h = x / width, y / height, w / width, h / height
    return box_checked(x, y, w, h)


def entry_reader(archive, entry: str, limit: int):
    """A function reading an archive entry's bytes when called (at most ``limit`` + 1, so a
    larger image is seen as too large without reading it all)."""

    def read() -> bytes:
        with archive.open(entry) as handle:
            return handle.read(limit + 1)

    return read
