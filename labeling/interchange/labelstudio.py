"""Label Studio JSON: the task list Label Studio exports and imports.

One task per input: ``data.image`` (a URL, or the file name), ``annotations`` (people's and
imported labels, and a model's accepted ones) and ``predictions`` (a model's labels waiting
for review, with scores). A concept under a parent is a choice of the ``Choices`` control
named after the parent path (``digit`` → ``3``); top-level concepts are choices of the
control ``choice``. ``labeling_config`` writes the matching Label Studio labeling config.
Each annotation and prediction also carries a ``provenance`` object (status, source,
author, model, version, per-concept scores) that Label Studio ignores and the portal reads.

Boxes are ``rectanglelabels`` results of a ``RectangleLabels`` control (named after the
parent path, or ``label`` at the top) in Label Studio's percent coordinates: ``x``, ``y``,
``width``, ``height`` of the image as people see it, ``rotation`` 0, with
``original_width``/``original_height``. A rotated box is read with its rotation, and the
importer refuses it (the portal's boxes are upright).

Written as a stream, one task at a time. Reading loads the whole document (``json.load``).
"""

import io
import json
import posixpath
import re
from collections.abc import Callable, Iterable, Sequence
from typing import BinaryIO
from urllib.parse import parse_qs, unquote, urlparse
from xml.sax.saxutils import quoteattr

from labeling.interchange.records import (
    IMAGE_EXTENSIONS,
    PATH_SEPARATOR,
    ConceptRecord,
    InputRecord,
    InterchangeError,
    LabelRecord,
    RecordStream,
    RegionRecord,
    normalize_status,
    parse_coordinate,
    parse_float,
    parse_int,
)

ROOT_CONTROL = "choice"
ROOT_BOX_CONTROL = "label"  # Label Studio's own name for a RectangleLabels control
TO_NAME = "image"
FOLDER_SEPARATOR = "__"
# Control names that only say "a label": their choices are matched as plain concept names.
GENERIC_CONTROLS = {
    "bbox",
    "box",
    "boxes",
    "rectanglelabels",
    "choice",
    "choices",
    "label",
    "labels",
    "class",
    "classes",
    "category",
    "categories",
    "tag",
    "tags",
    "taxonomy",
}
# Label Studio puts 8 hex digits and a dash before the name of every file uploaded to it.
UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-")
MIN_EXPORT_KEYS = {"id", "annotator", "annotation_id", "created_at", "updated_at", "lead_time"}
DATA_KEYS = {"image", "name", "sha256", "split", "url", "file", "filename", "img"}


def control_for(path: str, *, box: bool = False) -> tuple[str, str]:
    """(control name, choice or label value) of a concept path."""
    parent, _, leaf = path.rpartition(PATH_SEPARATOR)
    root = ROOT_BOX_CONTROL if box else ROOT_CONTROL
    return (parent.replace(PATH_SEPARATOR, FOLDER_SEPARATOR) if parent else root), leaf


def labeling_config(concepts: Sequence[ConceptRecord]) -> str:
    """A Label Studio labeling config with one ``Choices`` control per group of concepts,
    and one ``RectangleLabels`` control per group of box concepts."""
    groups: dict[str, list[ConceptRecord]] = {}
    single: dict[str, bool] = {}
    boxes: dict[str, list[ConceptRecord]] = {}
    for concept in concepts:
        if concept.archived:
            continue
        if concept.regions:
            boxes.setdefault(control_for(concept.path, box=True)[0], []).append(concept)
            continue
        control, _ = control_for(concept.path)
        groups.setdefault(control, []).append(concept)
        single[control] = concept.exclusive_parent
    lines = ["<View>", f'  <Image name="{TO_NAME}" value="$image"/>']
    for control, members in boxes.items():
        lines.append(f'  <RectangleLabels name={quoteattr(control)} toName="{TO_NAME}">')
        for concept in members:
            lines.append(
                f"    <Label value={quoteattr(concept.key)} hint={quoteattr(concept.name)}/>"
            )
        lines.append("  </RectangleLabels>")
    for control, members in groups.items():
        choice = "single" if single[control] else "multiple"
        lines.append(
            f'  <Choices name={quoteattr(control)} toName="{TO_NAME}" choice="{choice}" '
            'showInLine="true">'
        )
        for concept in members:
            lines.append(
                f"    <Choice value={quoteattr(concept.key)} hint={quoteattr(concept.name)}/>"
            )
        lines.append("  </Choices>")
    lines.append("</View>")
    return "\n".join(lines) + "\n"


def _results(labels: list[LabelRecord], origin: str) -> list[dict]:
    by_control: dict[str, dict] = {}
    for label in labels:
        control, value = control_for(label.concept)
        result = by_control.setdefault(
            control,
            {
                "id": f"r{len(by_control) + 1}",
                "from_name": control,
                "to_name": TO_NAME,
                "type": "choices",
                "origin": origin,
                "value": {"choices": []},
            },
        )
        if value not in result["value"]["choices"]:
            result["value"]["choices"].append(value)
        if label.confidence is not None:
            result["score"] = max(result.get("score", label.confidence), label.confidence)
    return list(by_control.values())


def _box_results(record: InputRecord, regions: list[RegionRecord], origin: str) -> list[dict]:
    results = []
    for number, region in enumerate(regions, start=1):
        control, value = control_for(region.concept, box=True)
        x, y, w, h = region.box
        result = {
            "id": f"b{number}",
            "from_name": control,
            "to_name": TO_NAME,
            "type": "rectanglelabels",
            "origin": origin,
            "original_width": record.width,
            "original_height": record.height,
            "image_rotation": 0,
            "value": {
                "x": x * 100,
                "y": y * 100,
                "width": w * 100,
                "height": h * 100,
                "rotation": 0,
                "rectanglelabels": [value],
            },
        }
        if region.confidence is not None:
            result["score"] = region.confidence
        results.append(result)
    return results


def _provenance(labels: list) -> dict:
    first = labels[0]
    scores = {
        label.concept: label.confidence
        for label in labels
        if label.confidence is not None and isinstance(label, LabelRecord)
    }
    return {
        "status": first.status,
        "source": first.source,
        "author": first.author,
        "model": first.model,
        "model_version": first.model_version,
        "scores": scores,
    }


def task_for(record: InputRecord, task_id: int, image: str) -> dict:
    """One task; labels and boxes with the same provenance are one annotation (or
    prediction) of it."""
    groups: dict[tuple, list] = {}
    for item in [*record.labels, *record.regions]:
        groups.setdefault(item.provenance, []).append(item)
    annotations, predictions = [], []
    for items in groups.values():
        first = items[0]
        labels = [i for i in items if isinstance(i, LabelRecord)]
        regions = [i for i in items if isinstance(i, RegionRecord)]
        if first.source == "model" and first.status == "pending_review":
            version = f" v{first.model_version}" if first.model_version is not None else ""
            scores = [item.confidence for item in items if item.confidence is not None]
            predictions.append(
                {
                    "model_version": f"{first.model}{version}".strip(),
                    "score": max(scores) if scores else None,
                    "result": _results(labels, "prediction")
                    + _box_results(record, regions, "prediction"),
                    "provenance": _provenance(items),
                }
            )
        else:
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "result": _results(labels, "manual") + _box_results(record, regions, "manual"),
                    "was_cancelled": False,
                    "ground_truth": False,
                    "provenance": _provenance(items),
                }
            )
    return {
        "id": task_id,
        "data": {
            "image": image,
            "name": record.name,
            "sha256": record.sha256,
            "split": record.split,
        },
        "meta": record.metadata,
        "annotations": annotations,
        "predictions": predictions,
    }


def write_labelstudio(
    out: BinaryIO,
    records: Iterable[InputRecord],
    concepts: Sequence[ConceptRecord] = (),
    *,
    image_url: Callable[[InputRecord], str] | None = None,
) -> dict:
    """Write a JSON list of tasks, one per record; ``image_url`` gives ``data.image``
    (the input's name when not given)."""
    text = io.TextIOWrapper(out, encoding="utf-8", newline="\n")
    text.write("[\n")
    inputs = labels = regions = 0
    for task_id, record in enumerate(records, start=1):
        image = image_url(record) if image_url else record.name
        task = task_for(record, task_id, image)
        text.write(("," if inputs else "") + json.dumps(task, ensure_ascii=False) + "\n")
        inputs += 1
        labels += len(record.labels)
        regions += len(record.regions)
    text.write("]\n")
    text.flush()
    text.detach()
    return {"inputs": inputs, "labels": labels, "regions": regions}


# ---------------------------------------------------------------------------- reading


def name_from_url(value: str) -> str:
    """The file name an image URL points to: the base name of its path (or of the ``d``
    parameter of Label Studio's local-files URLs), without the prefix Label Studio puts
    on uploaded files."""
    parsed = urlparse(value)
    query = parse_qs(parsed.query)
    path = query["d"][0] if "d" in query else parsed.path or value
    name = posixpath.basename(unquote(path).replace("\\", "/"))
    if "/data/upload/" in parsed.path:
        name = UPLOAD_PREFIX.sub("", name)
    return name


def _image_value(data: dict) -> str:
    value = data.get("image") or data.get("img") or data.get("url")
    if isinstance(value, str) and value:
        return value
    strings = [v for v in data.values() if isinstance(v, str) and v]
    for text in strings:
        if posixpath.splitext(urlparse(text).path)[1][1:].lower() in IMAGE_EXTENSIONS:
            return text
    return strings[0] if strings else ""


def _prefixed(control: str, value) -> str:
    if not control or control.lower() in GENERIC_CONTROLS:
        return str(value)
    return control.replace(FOLDER_SEPARATOR, PATH_SEPARATOR) + PATH_SEPARATOR + str(value)


def result_concepts(result: dict) -> list[str]:
    """Concept paths of one result: choices (under their control's name), taxonomy paths,
    and the labels of regions (``rectanglelabels`` and the like) as image-level labels."""
    if not isinstance(result, dict):
        return []
    value = result.get("value") or {}
    control = str(result.get("from_name") or "")
    if not isinstance(value, dict):
        return []
    found: list[str] = []
    for path in value.get("taxonomy") or []:
        parts = path if isinstance(path, list) else [path]
        if parts:
            found.append(PATH_SEPARATOR.join(str(p) for p in parts))
    for key, items in value.items():
        if key == "choices" or (key.endswith("labels") and key != "taxonomy"):
            for item in items if isinstance(items, list) else [items]:
                found.append(_prefixed(control, item))
    return found


def is_box(value) -> bool:
    """A result value that is a box (``rectanglelabels``, or any labels with x and y)."""
    return isinstance(value, dict) and "x" in value and "y" in value


def result_boxes(result: dict) -> list[tuple[str, tuple, float]]:
    """(concept path, (x, y, w, h) as fractions, rotation) of a box result: one per label
    it carries. Label Studio's coordinates are percents of the image."""
    value = result.get("value") or {}
    control = str(result.get("from_name") or "")
    box = tuple(parse_coordinate(value.get(key)) / 100 for key in ("x", "y", "width", "height"))
    rotation = parse_float(value.get("rotation")) or 0.0
    found = []
    for key, items in value.items():
        if key.endswith("labels"):
            for item in items if isinstance(items, list) else [items]:
                found.append((_prefixed(control, item), box, rotation))
    return found


def _author(completed_by) -> str:
    if isinstance(completed_by, dict):
        return str(completed_by.get("email") or completed_by.get("username") or "")
    return "" if completed_by is None else str(completed_by)


def _labels(item: dict, *, prediction: bool) -> tuple[list[LabelRecord], list[RegionRecord]]:
    provenance = item.get("provenance") if isinstance(item.get("provenance"), dict) else {}
    scores = provenance.get("scores") if isinstance(provenance.get("scores"), dict) else {}
    model, version = "", None
    if prediction:
        tag = str(item.get("model_version") or "")
        match = re.fullmatch(r"(.*?)\s*v(\d+)", tag)
        model, version = (match.group(1), int(match.group(2))) if match else (tag, None)
    default_status = "pending_review" if prediction else "accepted"
    status = normalize_status(provenance.get("status") or default_status)
    source = str(provenance.get("source") or ("model" if prediction else "human"))
    author = str(provenance.get("author") or _author(item.get("completed_by")))
    model = str(provenance.get("model") or model)
    if provenance.get("model_version") is not None:
        version = parse_int(provenance.get("model_version"))
    labels, regions, seen = [], [], set()
    for result in item.get("result") or []:
        if isinstance(result, dict) and is_box(result.get("value")):
            score = parse_float(result.get("score"))
            if score is None and prediction:
                score = parse_float(item.get("score"))
            regions.extend(
                RegionRecord(
                    concept=concept,
                    box=box,
                    rotation=rotation,
                    status=status,
                    source=source,
                    author=author,
                    model=model,
                    model_version=version,
                    confidence=score,
                )
                for concept, box, rotation in result_boxes(result)
            )
            continue
        for concept in result_concepts(result):
            if concept in seen:
                continue
            seen.add(concept)
            confidence = parse_float(scores.get(concept))
            if confidence is None and prediction:
                confidence = parse_float(result.get("score", item.get("score")))
            labels.append(
                LabelRecord(
                    concept=concept,
                    status=status,
                    source=source,
                    author=author,
                    model=model,
                    model_version=version,
                    confidence=confidence,
                )
            )
    return labels, regions


def _min_labels(task: dict) -> tuple[list[LabelRecord], list[RegionRecord]]:
    """Labels of a JSON-MIN export row: each control is a key holding its choice (a string),
    its choices (``{"choices": [...]}``), its taxonomy, or its boxes (a list of
    ``{"x", "y", "width", "height", "rectanglelabels"}``)."""
    labels, regions = [], []
    for key, value in task.items():
        if key in MIN_EXPORT_KEYS or key in DATA_KEYS:
            continue
        if isinstance(value, list) and value and all(is_box(v) for v in value):
            for box in value:
                regions.extend(
                    RegionRecord(concept=c, box=b, rotation=r)
                    for c, b, r in result_boxes({"from_name": key, "value": box})
                )
            continue
        if isinstance(value, dict):
            concepts = result_concepts({"from_name": key, "value": value})
        elif isinstance(value, str) and value and "/" not in value and "." not in value:
            concepts = [_prefixed(key, value)]
        else:
            concepts = []
        labels.extend(LabelRecord(concept=c) for c in concepts)
    return labels, regions


def record_from_task(task: dict, *, predictions: bool = True) -> InputRecord:
    if not isinstance(task, dict):
        raise InterchangeError("A Label Studio task is not an object.")
    full = isinstance(task.get("data"), dict)
    data = task["data"] if full else task
    image = _image_value(data)
    labels: list[LabelRecord] = []
    regions: list[RegionRecord] = []
    sizes = []
    if full or "annotations" in task or "predictions" in task:
        items = [
            (annotation, False)
            for annotation in task.get("annotations") or task.get("completions") or []
            if isinstance(annotation, dict) and not annotation.get("was_cancelled")
        ]
        if predictions:
            items += [(p, True) for p in task.get("predictions") or [] if isinstance(p, dict)]
        for item, prediction in items:
            found, boxes = _labels(item, prediction=prediction)
            labels.extend(found)
            regions.extend(boxes)
            sizes += [
                (parse_int(r.get("original_width")), parse_int(r.get("original_height")))
                for r in item.get("result") or []
                if isinstance(r, dict) and r.get("original_width")
            ]
    else:
        labels, regions = _min_labels(task)
    meta = task.get("meta")
    return InputRecord(
        name=str(data.get("name") or name_from_url(image) or task.get("id", "")),
        sha256=str(data.get("sha256") or "").lower(),
        split=str(data.get("split") or ""),
        metadata=meta if isinstance(meta, dict) else {},
        labels=labels,
        regions=regions,
        width=sizes[0][0] if sizes else None,
        height=sizes[0][1] if sizes else None,
    )


def read_labelstudio(stream: BinaryIO, *, predictions: bool = True) -> RecordStream:
    """Records from a Label Studio JSON export (the full ``JSON`` export; ``JSON-MIN`` rows
    are read too). ``predictions=False`` leaves models' predictions out."""
    try:
        data = json.load(stream)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InterchangeError(f"This is not a JSON file ({exc}).") from exc
    if isinstance(data, dict):
        data = data.get("tasks") if isinstance(data.get("tasks"), list) else [data]
    if not isinstance(data, list):
        raise InterchangeError("A Label Studio export is a JSON list of tasks.")
    return RecordStream(
        total=len(data), records=(record_from_task(t, predictions=predictions) for t in data)
    )
