"""COCO: image-level labels and boxes, written as a stream.

``images`` are written as records arrive; the annotations of the same records go to a spool
file at the same time and are copied in after them; ``categories`` come last, so a concept
met only in the labels still gets one. No part of the document is ever held whole in
memory. Reading loads the whole JSON document (``json.load``): the import size limit keeps
that bounded.

A box is a detection annotation: ``bbox`` ([x, y, width, height] in pixels of the image as
people see it, EXIF applied, with ``width``/``height`` of the image the same way),
``area``, ``iscrowd: 0`` and, for a model's box, ``score``. A label of the whole image is an
annotation without ``bbox`` (COCO's "image-level" use). Where the project has box groups,
the labels of whole images go to a key of their own, ``image_labels``, so that the
``annotations`` are pure detection and load and evaluate in pycocotools as they are.
Every annotation carries the portal's provenance as extra keys: ``status``, ``source``,
``author``, ``model``, ``model_version`` and ``score``.
"""

import io
import json
import posixpath
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import BinaryIO

from labeling.boxes import to_coco
from labeling.interchange.records import (
    PATH_SEPARATOR,
    ConceptRecord,
    InputRecord,
    InterchangeError,
    LabelRecord,
    RecordStream,
    RegionRecord,
    entry_reader,
    normalize_status,
    parse_coordinate,
    parse_float,
    parse_int,
)

IMAGE_LABELS = "image_labels"


def _dump(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def write_coco(
    out: BinaryIO,
    records: Iterable[InputRecord],
    concepts: Sequence[ConceptRecord],
    *,
    description: str = "",
    suggestions: bool = False,
) -> dict:
    """Write a COCO document to ``out``; returns counts. With ``suggestions`` the labels
    waiting for review are in it too, each marked ``"suggestion": true`` (with its status
    and score), and ``info.suggestions`` says so; otherwise every annotation is accepted."""
    text = io.TextIOWrapper(out, encoding="utf-8", newline="\n")
    categories = {c.path: (index, c) for index, c in enumerate(concepts, start=1)}
    detection = any(c.regions for c in concepts)
    info = {
        "description": description,
        "version": "1.0",
        "date_created": datetime.now(UTC).isoformat(timespec="seconds"),
        "contributor": "labeling portal",
        "labels": (
            "boxes: one annotation per box (bbox in pixels of the image as people see it); "
            f"labels of whole images in {IMAGE_LABELS}, without bbox"
            if detection
            else "image-level: one annotation per concept on an image, no bbox"
        ),
        "suggestions": (
            "included: annotations with suggestion true wait for review"
            if suggestions
            else "not included"
        ),
    }
    text.write('{"info":' + _dump(info) + ',"licenses":[],\n"images":[\n')
    counts = {"images": 0, "annotations": 0, "labels": 0, "regions": 0}

    def category_of(path: str) -> int:
        if path not in categories:
            categories[path] = (len(categories) + 1, ConceptRecord(path=path, name=path))
        return categories[path][0]

    def provenance(item: LabelRecord | RegionRecord) -> dict:
        return {
            "status": item.status,
            "suggestion": item.status == "pending_review",
            "source": item.source,
            "author": item.author,
            "model": item.model,
            "model_version": item.model_version,
            "score": item.confidence,
        }

    with (
        tempfile.TemporaryFile("w+", encoding="utf-8") as spool,
        tempfile.TemporaryFile("w+", encoding="utf-8") as label_spool,
    ):
        written = {"spool": 0, "labels": 0}

        def put(annotation: dict, *, label: bool) -> None:
            counts["annotations"] += 1
            annotation = {"id": counts["annotations"], **annotation}
            target, key = (label_spool, "labels") if label and detection else (spool, "spool")
            target.write(("," if written[key] else "") + _dump(annotation) + "\n")
            written[key] += 1

        for image_id, record in enumerate(records, start=1):
            width, height = record.width or 0, record.height or 0
            image = {
                "id": image_id,
                "file_name": record.name,
                "width": width,
                "height": height,
                "sha256": record.sha256,
                "split": record.split,
                "metadata": record.metadata,
            }
            text.write(("," if counts["images"] else "") + _dump(image) + "\n")
            counts["images"] += 1
            for label in record.labels:
                counts["labels"] += 1
                item = {"image_id": image_id, "category_id": category_of(label.concept)}
                put(item | provenance(label), label=True)
            for region in record.regions:
                counts["regions"] += 1
                bbox = [round(v, 6) for v in to_coco(region.box, width, height)]
                item = {
                    "image_id": image_id,
                    "category_id": category_of(region.concept),
                    "bbox": bbox,
                    "area": round(bbox[2] * bbox[3], 6),
                    "iscrowd": 0,
                }
                put(item | provenance(region), label=False)
        text.write('],\n"annotations":[\n')
        spool.seek(0)
        shutil.copyfileobj(spool, text)
        if detection:
            text.write(f'],\n"{IMAGE_LABELS}":[\n')
            label_spool.seek(0)
            shutil.copyfileobj(label_spool, text)
    text.write('],\n"categories":[\n')
    for position, (category_id, concept) in enumerate(categories.values()):
        category = {
            "id": category_id,
            "name": concept.path,
            "supercategory": concept.parent,
            "display_name": concept.name,
            "exclusive_parent": concept.exclusive_parent,
            "archived": concept.archived,
            "regions": concept.regions,
        }
        text.write(("," if position else "") + _dump(category) + "\n")
    text.write("]}\n")
    text.flush()
    text.detach()
    return {
        "inputs": counts["images"],
        "labels": counts["labels"],
        "regions": counts["regions"],
        "categories": len(categories),
    }


def _category_paths(categories: list) -> dict[int, str]:
    """Category id -> the concept path to resolve: the name, under its supercategory when the
    name is not already a path that starts with it (a foreign file's grouping)."""
    paths = {}
    for category in categories:
        if not isinstance(category, dict) or "id" not in category:
            raise InterchangeError("Every COCO category needs an id and a name.")
        name = str(category.get("name", "")).strip()
        parent = str(category.get("supercategory") or "").strip()
        if parent and parent != name and not name.startswith(parent + PATH_SEPARATOR):
            name = f"{parent}{PATH_SEPARATOR}{name}"
        paths[category["id"]] = name
    return paths


def _rotation(annotation: dict) -> float:
    """A box's rotation in degrees, where a tool writes one (CVAT: ``attributes.rotation``)."""
    attributes = annotation.get("attributes")
    value = annotation.get("rotation")
    if value is None and isinstance(attributes, dict):
        value = attributes.get("rotation")
    return parse_float(value) or 0.0


def _bbox(annotation: dict) -> tuple[float, float, float, float] | None:
    """The annotation's box as four numbers (NaN for what is not one), or None without one."""
    bbox = annotation.get("bbox")
    if bbox is None or bbox == []:
        return None
    if not isinstance(bbox, list | tuple) or len(bbox) != 4:
        return (float("nan"),) * 4
    return tuple(parse_coordinate(v) for v in bbox)


def parse_coco(data) -> RecordStream:
    """Records from a parsed COCO document. An annotation with a ``bbox`` is a box; it also
    gives its image a ``boxed`` label of its category (one per category and provenance),
    for readers of labels only. Labels of whole images come from annotations without a box,
    in ``annotations`` or ``image_labels``."""
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise InterchangeError("This is not a COCO file: it has no list of images.")
    paths = _category_paths(data.get("categories") or [])
    by_image: dict = {}
    for key in ("annotations", IMAGE_LABELS):
        for annotation in data.get(key) or []:
            if not isinstance(annotation, dict):
                raise InterchangeError("A COCO annotation is not an object.")
            by_image.setdefault(annotation.get("image_id"), []).append(annotation)
    images = data["images"]

    def records():
        for image in images:
            if not isinstance(image, dict) or "id" not in image:
                raise InterchangeError("Every COCO image needs an id and a file_name.")
            labels, regions, seen = [], [], set()
            for annotation in by_image.get(image["id"], []):
                category = annotation.get("category_id")
                if category not in paths:
                    raise InterchangeError(
                        f"Annotation {annotation.get('id')} names category {category!r}, "
                        "which is not in the categories."
                    )
                label = LabelRecord(
                    concept=paths[category],
                    status=normalize_status(annotation.get("status")),
                    source=str(annotation.get("source") or ""),
                    author=str(annotation.get("author") or ""),
                    model=str(annotation.get("model") or ""),
                    model_version=parse_int(annotation.get("model_version")),
                    confidence=parse_float(annotation.get("score")),
                )
                box = _bbox(annotation)
                if box is not None:
                    regions.append(
                        RegionRecord(
                            concept=label.concept,
                            box=box,
                            pixels=True,
                            rotation=_rotation(annotation),
                            status=label.status,
                            source=label.source,
                            author=label.author,
                            model=label.model,
                            model_version=label.model_version,
                            confidence=label.confidence,
                        )
                    )
                    label.boxed, label.confidence = True, None
                key = (label.concept, label.provenance, label.boxed)
                if key not in seen:
                    seen.add(key)
                    labels.append(label)
            metadata = image.get("metadata")
            yield InputRecord(
                name=str(image.get("file_name") or image["id"]),
                sha256=str(image.get("sha256") or "").lower(),
                width=parse_int(image.get("width")),
                height=parse_int(image.get("height")),
                split=str(image.get("split") or ""),
                metadata=metadata if isinstance(metadata, dict) else {},
                labels=labels,
                regions=regions,
            )

    return RecordStream(total=len(images), records=records())


def read_coco(stream: BinaryIO) -> RecordStream:
    try:
        data = json.load(stream)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InterchangeError(f"This is not a JSON file ({exc}).") from exc
    return parse_coco(data)


def read_coco_archive(
    archive: zipfile.ZipFile, names: Sequence[str], *, max_json_bytes: int, max_image_bytes: int
) -> RecordStream:
    """A zip of a COCO JSON file and its images (``names``: the entries already checked).

    Each image is found by its ``file_name`` as a path in the archive, else by base name;
    its bytes are read only when the importer asks for them (to store a new input).
    """
    documents = [n for n in names if n.lower().endswith(".json")]
    if len(documents) != 1:
        raise InterchangeError(
            f"A COCO archive needs exactly one .json file; this one has {len(documents)}."
        )
    with archive.open(documents[0]) as handle:
        raw = handle.read(max_json_bytes + 1)
    if len(raw) > max_json_bytes:
        raise InterchangeError(f"{documents[0]} is over the limit of {max_json_bytes:,} bytes.")
    try:
        stream = parse_coco(json.loads(raw))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InterchangeError(f"{documents[0]} is not JSON ({exc}).") from exc
    exact = set(names)
    by_base: dict[str, str] = {}
    for name in names:
        by_base.setdefault(posixpath.basename(name), name)

    def records():
        for record in stream.records:
            wanted = record.name.replace("\\", "/").lstrip("/")
            entry = wanted if wanted in exact else by_base.get(posixpath.basename(wanted))
            if entry is not None:
                record.image = entry_reader(archive, entry, max_image_bytes)
            yield record

    return RecordStream(total=stream.total, records=records())
