"""Interchange: writing a project out (streamed, a chunk of inputs at a time)."""

import logging
import os
import tempfile
from collections.abc import Iterator
from urllib.parse import quote

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.text import slugify

from labeling.interchange import EXTENSIONS, coco, csvfmt, labelstudio, yolo, yolo_detection
from labeling.interchange.records import (
    PATH_SEPARATOR,
    ConceptRecord,
    InputRecord,
    LabelRecord,
    RegionRecord,
)
from labeling.models import (
    Annotation,
    AnnotationLabel,
    AnnotationSource,
    AnnotationStatus,
    Concept,
    Input,
    InterchangeJob,
    Project,
    Region,
)
from labeling.services.interchange.common import (
    EXPORT_CHUNK,
    _progress,
    default_statuses,
)
from labeling.services.queue import region_concept_ids
from labeling.storage import media_path

logger = logging.getLogger(__name__)
Job = InterchangeJob

# ---------------------------------------------------------------------------- export


def _concept_paths(concepts: list[Concept]) -> dict[int, str]:
    by_id = {c.id: c for c in concepts}
    paths: dict[int, str] = {}

    def path(concept: Concept) -> str:
        if concept.id not in paths:
            parent = by_id.get(concept.parent_id)
            paths[concept.id] = (
                f"{path(parent)}{PATH_SEPARATOR}{concept.key}" if parent else concept.key
            )
        return paths[concept.id]

    for concept in concepts:
        path(concept)
    return paths


def export_concepts(project: Project) -> tuple[list[ConceptRecord], dict[int, str]]:
    """The concepts labels can carry (leaves, archived ones flagged; merged ones left out;
    box concepts flagged ``regions``), in taxonomy order, and the path of every concept by
    id."""
    concepts = list(Concept.objects.filter(project=project).order_by("position", "id"))
    boxed = region_concept_ids(project)
    paths = _concept_paths(concepts)
    live = [c for c in concepts if c.merged_into_id is None]
    parents = {c.parent_id for c in live}
    by_id = {c.id: c for c in concepts}
    children: dict[int | None, list[Concept]] = {}
    for concept in live:
        children.setdefault(concept.parent_id, []).append(concept)
    ordered: list[ConceptRecord] = []

    def walk(parent_id: int | None) -> None:
        for concept in children.get(parent_id, []):
            if concept.id in parents:
                walk(concept.id)
                continue
            parent = by_id.get(concept.parent_id)
            ordered.append(
                ConceptRecord(
                    path=paths[concept.id],
                    name=concept.name,
                    exclusive_parent=bool(parent and parent.exclusive),
                    archived=concept.is_archived,
                    regions=concept.id in boxed,
                )
            )

    walk(None)
    return ordered, paths


def _exported_annotations(statuses: list[str], automatic_labels: bool):
    """The annotations an export writes: of the chosen statuses, gold answers left out, and
    without the accepted ones a model wrote when automatic labels are not wanted."""
    annotations = Annotation.objects.filter(status__in=statuses, gold_correct__isnull=True)
    if not automatic_labels:
        annotations = annotations.exclude(
            status=AnnotationStatus.ACCEPTED, source=AnnotationSource.MODEL
        )
    return annotations


def _labels_by_input(
    input_ids: list[int], statuses: list[str], paths: dict[int, str], automatic_labels: bool
) -> tuple[dict[int, list[LabelRecord]], dict[int, list[RegionRecord]]]:
    """The labels and boxes of a chunk of inputs, in three queries: the annotations (by the
    input index), then their labels and their boxes (by the annotation index). One joined
    query let PostgreSQL hash-join the whole label table, every project's, for each chunk.
    Answers to gold items are left out: the gold item's known answer stands for them (see
    ``_gold_labels``)."""
    annotations = {
        row[0]: row[1:]
        for row in _exported_annotations(statuses, automatic_labels)
        .filter(input_id__in=input_ids)
        .values_list(
            "id",
            "input_id",
            "status",
            "source",
            "author__username",
            "model_version__model__name",
            "model_version__number",
        )
    }
    rows = (
        AnnotationLabel.objects.filter(annotation_id__in=list(annotations))
        .order_by("annotation_id", "id")
        .values_list("annotation_id", "concept_id", "confidence")
    )
    labels: dict[int, list[LabelRecord]] = {}
    for annotation_id, concept_id, confidence in rows:
        input_id, status, source, author, model, version = annotations[annotation_id]
        labels.setdefault(input_id, []).append(
            LabelRecord(
                concept=paths[concept_id],
                status=status,
                source=source,
                author=author or "",
                model=model or "",
                model_version=version,
                confidence=confidence,
            )
        )
    boxes = (
        Region.objects.filter(annotation_id__in=list(annotations))
        .order_by("annotation_id", "position", "id")
        .values_list("annotation_id", "concept_id", "x", "y", "w", "h", "confidence")
    )
    regions: dict[int, list[RegionRecord]] = {}
    for annotation_id, concept_id, x, y, w, h, confidence in boxes:
        input_id, status, source, author, model, version = annotations[annotation_id]
        regions.setdefault(input_id, []).append(
            RegionRecord(
                concept=paths[concept_id],
                box=(x, y, w, h),
                status=status,
                source=source,
                author=author or "",
                model=model or "",
                model_version=version,
                confidence=confidence,
            )
        )
    return labels, regions


def _gold_labels(concept_ids, paths: dict[int, str]) -> list[LabelRecord]:
    return [
        LabelRecord(concept=paths[c], status="accepted", source="gold")
        for c in concept_ids or []
        if c in paths
    ]


def _export_records(
    job: InterchangeJob,
    inputs,
    statuses: list[str],
    paths: dict[int, str],
    automatic_labels: bool = True,
) -> Iterator[InputRecord]:
    """Inputs as records, a chunk at a time, reporting progress after each chunk.

    Pages by primary key rather than holding one cursor open for the whole export: each
    chunk is two short queries (inputs, then all their labels), the same on SQLite and
    PostgreSQL, and nothing stays open while the job row is updated between chunks.
    """
    fields = ("id", "original_name", "sha256", "width", "height", "split", "metadata")
    fields += ("format", "file", "gold_concept_ids")
    last_id, done = 0, 0
    while True:
        chunk = list(inputs.filter(id__gt=last_id).order_by("id").values(*fields)[:EXPORT_CHUNK])
        if not chunk:
            return
        last_id = chunk[-1]["id"]
        ids = [row["id"] for row in chunk]
        labels, regions = _labels_by_input(ids, statuses, paths, automatic_labels)
        for row in chunk:
            gold = _gold_labels(row["gold_concept_ids"], paths) if "accepted" in statuses else []
            yield InputRecord(
                name=row["original_name"],
                sha256=row["sha256"],
                width=row["width"],
                height=row["height"],
                split=row["split"],
                metadata=row["metadata"] or {},
                labels=gold + labels.get(row["id"], []),
                regions=regions.get(row["id"], []),
                format=row["format"],
                file=row["file"],
            )
        done += len(chunk)
        _progress(job, done)


def _read_image(record: InputRecord) -> bytes | None:
    try:
        return media_path(record.file).read_bytes()
    except (OSError, ValueError):
        return None


def _yolo_layout(options: dict, concepts: list[ConceptRecord]) -> str:
    """Detection (images/, labels/, data.yaml) for a project with box groups, class folders
    otherwise, unless the export asked for one."""
    chosen = options.get("yolo_layout") or ""
    if chosen in ("classify", "detect"):
        return chosen
    return "detect" if any(c.regions for c in concepts) else "classify"


def export_run(job: InterchangeJob) -> None:
    project, options = job.project, job.options
    statuses = options.get("statuses") or default_statuses(job.format)
    automatic_labels = options.get("automatic_labels", True)
    inputs = Input.objects.filter(project=project)
    if options.get("split"):
        inputs = inputs.filter(split=options["split"])
    if not options.get("include_unlabeled", True):
        labeled = _exported_annotations(statuses, automatic_labels).filter(input=OuterRef("pk"))
        inputs = inputs.filter(Exists(labeled) | Q(gold_concept_ids__isnull=False))
    total = inputs.count()
    Job.objects.filter(id=job.id).update(total=total, done=0)
    concepts, paths = export_concepts(project)
    records = _export_records(job, inputs, statuses, paths, automatic_labels)
    name = f"{slugify(project.name) or 'project'}-{job.format}-{job.id}.{EXTENSIONS[job.format]}"
    relative = f"interchange/{project.id}/{job.id}/{name}"
    target = media_path(relative)
    target.parent.mkdir(parents=True, exist_ok=True)
    report: dict = {
        "filename": name,
        "statuses": statuses,
        "automatic_labels": automatic_labels,
    }
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as out:
            if job.format == Job.Format.COCO:
                stats = coco.write_coco(
                    out,
                    records,
                    concepts,
                    description=project.name,
                    suggestions="pending_review" in statuses,
                )
            elif job.format == Job.Format.CSV:
                stats = csvfmt.write_csv(out, records, concepts)
            elif job.format == Job.Format.YOLO and _yolo_layout(options, concepts) == "detect":
                stats = yolo_detection.write_yolo_detection(
                    out, records, concepts, read_image=_read_image
                )
                report["yolo_layout"] = "detect"
            elif job.format == Job.Format.YOLO:
                stats = yolo.write_yolo(out, records, concepts, read_image=_read_image)
                report["yolo_layout"] = "classify"
            else:
                prefix = options.get("image_url_prefix") or ""
                stats = labelstudio.write_labelstudio(
                    out,
                    records,
                    concepts,
                    image_url=(lambda r: prefix + quote(r.name)) if prefix else None,
                )
                report["labelstudio_config"] = labelstudio.labeling_config(concepts)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    report.update(stats, bytes=target.stat().st_size)
    now = timezone.now()
    Job.objects.filter(id=job.id).update(
        status=Job.Status.DONE,
        file=relative,
        report=report,
        done=total,
        finished_at=now,
        heartbeat_at=now,
    )
