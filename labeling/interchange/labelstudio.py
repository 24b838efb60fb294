"""Label Studio JSON: the task list Label Studio exports and imports.

One task per input: ``data.image`` (a URL, or the file name), ``annotations`` (people's and
imported labels, and a model's accepted ones) and ``predictions`` (a model's labels waiting
for review, with scores). A concept under a parent is a choice of the ``Choices`` control
named after the parent path (``digit`` → ``3``); top-level concepts are choices of the
control ``choice``. ``labeling_config`` writes the matching Label Studio labeling config.
Each annotation and prediction also carries a ``provenance`` object (status, source,
author, model, version, per-concept scores) that Label Studio ignores and the portal reads.

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
    normalize_status,
    parse_float,
    parse_int,
)

ROOT_CONTROL = "choice"
TO_NAME = "image"
FOLDER_SEPARATOR = "__"
# Control names that only say "a label": their choices are matched as plain concept names.
GENERIC_CONTROLS = {
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


def control_for(path: str) -> tuple[str, str]:
    """(control name, choice value) of a concept path."""
    parent, _, leaf = path.rpartition(PATH_SEPARATOR)
    return (parent.replace(PATH_SEPARATOR, FOLDER_SEPARATOR) if parent else ROOT_CONTROL), leaf


def labeling_config(concepts: Sequence[ConceptRecord]) -> str:
    """A Label Studio labeling config with one ``Choices`` control per group of concepts."""
    groups: dict[str, list[ConceptRecord]] = {}
    single: dict[str, bool] = {}
    for concept in concepts:
        if concept.archived:
            continue
        control, _ = control_for(concept.path)
        groups.setdefault(control, []).append(concept)
        single[control] = concept.exclusive_parent
    lines = ["<View>", f'  <Image name="{TO_NAME}" value="$image"/>']
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


def _provenance(labels: list[LabelRecord]) -> dict:
    first = labels[0]
    scores = {label.concept: label.confidence for label in labels if label.confidence is not None}
    return {
        "status": first.status,
        "source": first.source,
        "author": first.author,
        "model": first.model,
        "model_version": first.model_version,
        "scores": scores,
    }


def task_for(record: InputRecord, task_id: int, image: str) -> dict:
    groups: dict[tuple, list[LabelRecord]] = {}
    for label in record.labels:
        groups.setdefault(label.provenance, []).append(label)
    annotations, predictions = [], []
    for labels in groups.values():
        first = labels[0]
        if first.source == "model" and first.status == "pending_review":
            version = f" v{first.model_version}" if first.model_version is not None else ""
            scores = [label.confidence for label in labels if label.confidence is not None]
            predictions.append(
                {
                    "model_version": f"{first.model}{version}".strip(),
                    "score": max(scores) if scores else None,
                    "result": _results(labels, "prediction"),
                    "provenance": _provenance(labels),
                }
            )
        else:
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "result": _results(labels, "manual"),
                    "was_cancelled": False,
                    "ground_truth": False,
                    "provenance": _provenance(labels),
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
    inputs = labels = 0
    for task_id, record in enumerate(records, start=1):
        image = image_url(record) if image_url else record.name
        task = task_for(record, task_id, image)
        text.write(("," if inputs else "") + json.dumps(task, ensure_ascii=False) + "\n")
        inputs += 1
        labels += len(record.labels)
    text.write("]\n")
    text.flush()
    text.detach()
    return {"inputs": inputs, "labels": labels}


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


def _author(completed_by) -> str:
    if isinstance(completed_by, dict):
        return str(completed_by.get("email") or completed_by.get("username") or "")
    return "" if completed_by is None else str(completed_by)


def _labels(item: dict, *, prediction: bool) -> list[LabelRecord]:
    provenance = item.get("provenance") if isinstance(item.get("provenance"), dict) else {}
    scores = provenance.get("scores") if isinstance(provenance.get("scores"), dict) else {}
    model, version = "", None
    if prediction:
        tag = str(item.get("model_version") or "")
        match = re.fullmatch(r"(.*?)\s*v(\d+)", tag)
        model, version = (match.group(1), int(match.group(2))) if match else (tag, None)
    default_status = "pending_review" if prediction else "accepted"
    labels, seen = [], set()
    for result in item.get("result") or []:
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
                    status=normalize_status(provenance.get("status") or default_status),
                    source=str(provenance.get("source") or ("model" if prediction else "human")),
                    author=str(provenance.get("author") or _author(item.get("completed_by"))),
                    model=str(provenance.get("model") or model),
                    model_version=parse_int(provenance.get("model_version"))
                    if provenance.get("model_version") is not None
                    else version,
                    confidence=confidence,
                )
            )
    return labels


def _min_labels(task: dict) -> list[LabelRecord]:
    """Labels of a JSON-MIN export row: each control is a key holding its choice (a string),
    its choices (``{"choices": [...]}``) or its taxonomy."""
    labels = []
    for key, value in task.items():
        if key in MIN_EXPORT_KEYS or key in DATA_KEYS:
            continue
        if isinstance(value, dict):
            concepts = result_concepts({"from_name": key, "value": value})
        elif isinstance(value, str) and value and "/" not in value and "." not in value:
            concepts = [_prefixed(key, value)]
        else:
            concepts = []
        labels.extend(LabelRecord(concept=c) for c in concepts)
    return labels


def record_from_task(task: dict, *, predictions: bool = True) -> InputRecord:
    if not isinstance(task, dict):
        raise InterchangeError("A Label Studio task is not an object.")
    full = isinstance(task.get("data"), dict)
    data = task["data"] if full else task
    image = _image_value(data)
    labels: list[LabelRecord] = []
    if full or "annotations" in task or "predictions" in task:
        for annotation in task.get("annotations") or task.get("completions") or []:
            if isinstance(annotation, dict) and not annotation.get("was_cancelled"):
                labels.extend(_labels(annotation, prediction=False))
        if predictions:
            for prediction in task.get("predictions") or []:
                if isinstance(prediction, dict):
                    labels.extend(_labels(prediction, prediction=True))
    else:
        labels = _min_labels(task)
    meta = task.get("meta")
    return InputRecord(
        name=str(data.get("name") or name_from_url(image) or task.get("id", "")),
        sha256=str(data.get("sha256") or "").lower(),
        split=str(data.get("split") or ""),
        metadata=meta if isinstance(meta, dict) else {},
        labels=labels,
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
