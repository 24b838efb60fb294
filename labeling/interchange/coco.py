"""COCO: image-level labels as annotations without boxes, written as a stream.

``images`` are written as records arrive; the annotations of the same records go to a spool
file at the same time and are copied in after them; ``categories`` come last, so a concept
met only in the labels still gets one. No part of the document is ever held whole in
memory. Reading loads the whole JSON document (``json.load``): the import size limit keeps
that bounded.

An annotation here is one concept on one image (COCO's "image-level" use), carrying the
portal's provenance as extra keys: ``status``, ``source``, ``author``, ``model``,
``model_version`` and ``score``. Boxes can be added later as ``bbox`` without changing
anything else.
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

from labeling.interchange.records import (
    PATH_SEPARATOR,
    ConceptRecord,
    InputRecord,
    InterchangeError,
    LabelRecord,
    RecordStream,
    normalize_status,
    parse_float,
    parse_int,
)


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
    info = {
        "description": description,
        "version": "1.0",
        "date_created": datetime.now(UTC).isoformat(timespec="seconds"),
        "contributor": "labeling portal",
        "labels": "image-level: one annotation per concept on an image, no bbox",
        "suggestions": (
            "included: annotations with suggestion true wait for review"
            if suggestions
            else "not included"
        ),
    }
    text.write('{"info":' + _dump(info) + ',"licenses":[],\n"images":[\n')
    images = annotations = 0
    with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:
        for image_id, record in enumerate(records, start=1):
            image = {
                "id": image_id,
                "file_name": record.name,
                "width": record.width or 0,
                "height": record.height or 0,
                "sha256": record.sha256,
                "split": record.split,
                "metadata": record.metadata,
            }
            text.write(("," if images else "") + _dump(image) + "\n")
            images += 1
            for label in record.labels:
                if label.concept not in categories:
                    categories[label.concept] = (
                        len(categories) + 1,
                        ConceptRecord(path=label.concept, name=label.concept),
                    )
                annotations += 1
                annotation = {
                    "id": annotations,
                    "image_id": image_id,
                    "category_id": categories[label.concept][0],
                    "status": label.status,
                    "suggestion": label.status == "pending_review",
                    "source": label.source,
                    "author": label.author,
                    "model": label.model,
                    "model_version": label.model_version,
                    "score": label.confidence,
                }
                spool.write(("," if annotations > 1 else "") + _dump(annotation) + "\n")
        text.write('],\n"annotations":[\n')
        spool.seek(0)
        shutil.copyfileobj(spool, text)
    text.write('],\n"categories":[\n')
    for position, (category_id, concept) in enumerate(categories.values()):
        category = {
            "id": category_id,
            "name": concept.path,
            "supercategory": concept.parent,
            "display_name": concept.name,
            "exclusive_parent": concept.exclusive_parent,
            "archived": concept.archived,
        }
        text.write(("," if position else "") + _dump(category) + "\n")
    text.write("]}\n")
    text.flush()
    text.detach()
    return {"inputs": images, "labels": annotations, "categories": len(categories)}


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


def parse_coco(data) -> RecordStream:
    """Records from a parsed COCO document. Several annotations of one category on one image
    (boxes, say) become one label."""
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise InterchangeError("This is not a COCO file: it has no list of images.")
    paths = _category_paths(data.get("categories") or [])
    by_image: dict = {}
    for annotation in data.get("annotations") or []:
        if not isinstance(annotation, dict):
            raise InterchangeError("A COCO annotation is not an object.")
        by_image.setdefault(annotation.get("image_id"), []).append(annotation)
    images = data["images"]

    def records():
        for image in images:
            if not isinstance(image, dict) or "id" not in image:
                raise InterchangeError("Every COCO image needs an id and a file_name.")
            labels, seen = [], set()
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
                key = (label.concept, label.provenance)
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

    def reader(entry: str):
        def read() -> bytes:
            with archive.open(entry) as handle:
                return handle.read(max_image_bytes + 1)

        return read

    def records():
        for record in stream.records:
            wanted = record.name.replace("\\", "/").lstrip("/")
            entry = wanted if wanted in exact else by_base.get(posixpath.basename(wanted))
            if entry is not None:
                record.image = reader(entry)
            yield record

    return RecordStream(total=stream.total, records=records())
