"""Interchange: reading labels (and images) in, matched by hash or name, with a report."""

import hashlib
import logging
import posixpath
import zipfile
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from itertools import islice

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from labeling.boxes import InvalidBox
from labeling.ingest.images import ImageRejected
from labeling.interchange import coco, csvfmt, labelstudio, yolo, yolo_detection
from labeling.interchange.records import (
    ConceptIndex,
    ConceptRow,
    InputRecord,
    InterchangeError,
    LabelRecord,
    RecordStream,
    region_box,
)
from labeling.models import (
    Annotation,
    AnnotationSource,
    AnnotationStatus,
    Concept,
    ConceptSynonym,
    Input,
    InterchangeJob,
    Membership,
    Project,
    Role,
)
from labeling.services.annotations import RegionSpec, annotations_create
from labeling.services.ingest import input_ingest
from labeling.services.interchange.common import (
    IMPORT_CHUNK,
    REPORT_EXAMPLES,
    _checked_names,
    _import_limit,
    _progress,
)
from labeling.services.queue import queue_slots_close, region_concept_ids
from labeling.services.statuses import input_status_refresh
from labeling.storage import media_path

logger = logging.getLogger(__name__)
Job = InterchangeJob

# ---------------------------------------------------------------------------- import


@dataclass
class ImportReport:
    as_admin: bool = False
    records: int = 0
    inputs_matched: int = 0
    inputs_created: int = 0
    inputs_unmatched: int = 0
    unmatched_examples: list[str] = field(default_factory=list)
    ambiguous_names: list[str] = field(default_factory=list)
    images_rejected: list[dict] = field(default_factory=list)
    annotations_created: int = 0
    labels_created: int = 0
    duplicates_skipped: int = 0
    rejected_skipped: int = 0
    conflicts: list[str] = field(default_factory=list)
    unknown_concepts: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    regions_created: int = 0
    boxes_clipped: int = 0
    clipped_examples: list[str] = field(default_factory=list)
    boxes_refused: int = 0
    refused_examples: list[dict] = field(default_factory=list)
    boxes_as_labels: int = 0
    boxes_as_labels_examples: list[str] = field(default_factory=list)
    labels_on_box_concepts: int = 0
    labels_on_box_concepts_examples: list[str] = field(default_factory=list)
    too_many_boxes: list[str] = field(default_factory=list)

    def note(self, items: list, value) -> None:
        if len(items) < REPORT_EXAMPLES:
            items.append(value)

    def as_dict(self) -> dict:
        return {
            "as_admin": self.as_admin,
            "records": self.records,
            "inputs_matched": self.inputs_matched,
            "inputs_created": self.inputs_created,
            "inputs_unmatched": self.inputs_unmatched,
            "unmatched_examples": self.unmatched_examples,
            "ambiguous_names": self.ambiguous_names,
            "images_rejected": self.images_rejected,
            "annotations_created": self.annotations_created,
            "labels_created": self.labels_created,
            "duplicates_skipped": self.duplicates_skipped,
            "rejected_skipped": self.rejected_skipped,
            "conflicts": self.conflicts,
            "unknown_concepts": dict(self.unknown_concepts.most_common(100)),
            "unknown_labels": sum(self.unknown_concepts.values()),
            "statuses": dict(self.statuses),
            "regions_created": self.regions_created,
            "boxes_clipped": self.boxes_clipped,
            "clipped_examples": self.clipped_examples,
            "boxes_refused": self.boxes_refused,
            "refused_examples": self.refused_examples,
            "boxes_as_labels": self.boxes_as_labels,
            "boxes_as_labels_examples": self.boxes_as_labels_examples,
            "labels_on_box_concepts": self.labels_on_box_concepts,
            "labels_on_box_concepts_examples": self.labels_on_box_concepts_examples,
            "too_many_boxes": self.too_many_boxes,
        }


def _is_admin(project: Project, user) -> bool:
    if user is None:
        return False
    if user.is_superuser:
        return True
    return Membership.objects.filter(project=project, user=user, role=Role.ADMIN).exists()


@dataclass(frozen=True)
class Taxonomy:
    """What an import matches names against: the concept index and which concepts label
    boxes (read once per job)."""

    index: ConceptIndex
    boxed: frozenset[int]


def concept_index(project: Project) -> ConceptIndex:
    rows = [
        ConceptRow(c.id, c.parent_id, c.key, c.name, c.exclusive, c.is_archived)
        for c in Concept.objects.filter(project=project)
    ]
    synonyms = dict(
        ConceptSynonym.objects.filter(project=project).values_list("normalized", "concept_id")
    )
    return ConceptIndex(rows, synonyms)


def _open_records(job: InterchangeJob, stack: ExitStack) -> RecordStream:
    path = media_path(job.file)
    max_image = settings.LABELING_MAX_IMAGE_BYTES
    if zipfile.is_zipfile(path):
        if job.format not in (Job.Format.YOLO, Job.Format.COCO):
            raise InterchangeError("Upload the file itself, not a zip of it.")
        archive = stack.enter_context(zipfile.ZipFile(path))
        names = _checked_names(archive)
        if job.format == Job.Format.YOLO and yolo_detection.is_detection(names):
            return yolo_detection.read_yolo_detection(archive, names, max_image_bytes=max_image)
        if job.format == Job.Format.YOLO:
            return yolo.read_yolo(archive, names, max_image_bytes=max_image)
        return coco.read_coco_archive(
            archive, names, max_json_bytes=_import_limit(False), max_image_bytes=max_image
        )
    if job.format == Job.Format.YOLO:
        raise InterchangeError(
            "A YOLO import is a .zip of class folders, or of images/ and labels/ (boxes)."
        )
    handle = stack.enter_context(path.open("rb"))
    if job.format == Job.Format.COCO:
        return coco.read_coco(handle)
    if job.format == Job.Format.CSV:
        return csvfmt.read_csv(handle)
    return labelstudio.read_labelstudio(handle, predictions=job.options.get("predictions", True))


def _batches(records: Iterable[InputRecord], size: int) -> Iterator[list[InputRecord]]:
    iterator = iter(records)
    while chunk := list(islice(iterator, size)):
        yield chunk


def import_run(job: InterchangeJob) -> None:
    project, user = job.project, job.created_by
    report = ImportReport(as_admin=_is_admin(project, user))
    taxonomy = Taxonomy(concept_index(project), frozenset(region_concept_ids(project)))
    done = 0
    with ExitStack() as stack:
        stream = _open_records(job, stack)
        Job.objects.filter(id=job.id).update(total=stream.total or 0, done=0)
        for chunk in _batches(stream.records, IMPORT_CHUNK):
            _import_chunk(job, taxonomy, chunk, report)
            done += len(chunk)
            _progress(job, done, total=max(stream.total or 0, done), report=report.as_dict())
    now = timezone.now()
    Job.objects.filter(id=job.id).update(
        status=Job.Status.DONE, report=report.as_dict(), finished_at=now, heartbeat_at=now
    )


def _match_inputs(
    project: Project, records: list[InputRecord], report: ImportReport
) -> list[Input | None]:
    """The project's input for each record: by sha256 when the record has one (content is
    exact: a record whose hash is not in the project is not matched by name), else by its
    name, then its base name, when exactly one input carries it."""
    shas = {r.sha256 for r in records if r.sha256}
    by_sha = {i.sha256: i for i in Input.objects.filter(project=project, sha256__in=shas)}
    wanted = set()
    for record in records:
        if not record.sha256:
            wanted |= {record.name, posixpath.basename(record.name.replace("\\", "/"))}
    by_name: dict[str, list[Input]] = {}
    for found in Input.objects.filter(project=project, original_name__in=wanted):
        by_name.setdefault(found.original_name, []).append(found)
    matched: list[Input | None] = []
    for record in records:
        if record.sha256:
            matched.append(by_sha.get(record.sha256))
            continue
        base = posixpath.basename(record.name.replace("\\", "/"))
        candidates = by_name.get(record.name) or by_name.get(base) or []
        if len(candidates) > 1:
            report.note(report.ambiguous_names, record.name)
            matched.append(None)
        else:
            matched.append(candidates[0] if candidates else None)
    return matched


def _ingest_new(job: InterchangeJob, record: InputRecord, report: ImportReport) -> Input | None:
    """Store the image a record carries (YOLO zips, COCO zips) as a new input."""
    try:
        result = input_ingest(
            project=job.project,
            name=posixpath.basename(record.name.replace("\\", "/")) or "image",
            data=record.image(),
            metadata=record.metadata,
        )
    except ImageRejected as exc:
        report.note(report.images_rejected, {"name": record.name, "message": str(exc)})
        return None
    except (OSError, zipfile.BadZipFile, KeyError) as exc:
        report.note(report.images_rejected, {"name": record.name, "message": f"unreadable ({exc})"})
        return None
    if result.created:
        report.inputs_created += 1
    else:
        report.inputs_matched += 1
    return result.input


def _box_key(concept_id: int, box) -> tuple:
    # Rounded: a box that went out and back through a format in pixels or percents is the
    # same box.
    return (concept_id, *(round(v, 5) for v in box))


def _signature(
    status: str, concept_ids, source: str, author: str, model: str, version, boxes=()
) -> tuple:
    return (
        status,
        frozenset(concept_ids),
        source or "",
        author or "",
        model or "",
        version,
        frozenset(boxes),
    )


def _existing_signatures(input_ids: list[int]) -> dict[int, set[tuple]]:
    """What each input already has, so that importing the same file twice (or a project's
    export into itself) adds nothing: an annotation matches a group of the file with the
    same status, concepts and provenance. An imported annotation answers to both its own
    provenance and the one its file gave."""
    found: dict[int, set[tuple]] = {}
    annotations = (
        Annotation.objects.filter(input_id__in=input_ids)
        .exclude(status=AnnotationStatus.SUPERSEDED)
        .select_related("author", "model_version__model")
        .prefetch_related("labels", "regions")
    )
    for annotation in annotations:
        concepts = [label.concept_id for label in annotation.labels.all()]
        boxes = [_box_key(r.concept_id, r.box) for r in annotation.regions.all()]
        version = annotation.model_version
        own = _signature(
            annotation.status,
            concepts,
            annotation.source,
            annotation.author.username if annotation.author else "",
            version.model.name if version else "",
            version.number if version else None,
            boxes,
        )
        signatures = found.setdefault(annotation.input_id, set())
        signatures.add(own)
        given = (annotation.provenance or {}).get("import")
        if annotation.source == AnnotationSource.IMPORT and isinstance(given, dict):
            signatures.add(
                _signature(
                    annotation.status,
                    concepts,
                    given.get("source", ""),
                    given.get("author", ""),
                    given.get("model", ""),
                    given.get("model_version"),
                    boxes,
                )
            )
    return found


@dataclass
class _Group:
    """The labels and boxes of one record that share provenance: one annotation to create."""

    first: LabelRecord
    concept_ids: list[int] = field(default_factory=list)
    confidences: dict[int, float | None] = field(default_factory=dict)
    regions: list[RegionSpec] = field(default_factory=list)

    def add_label(self, concept_id: int, confidence: float | None) -> None:
        if concept_id not in self.confidences:
            self.concept_ids.append(concept_id)
            self.confidences[concept_id] = confidence


def _groups(
    record: InputRecord, input: Input, taxonomy: Taxonomy, report: ImportReport
) -> list[_Group]:
    """The record's labels and boxes, resolved and checked, grouped by provenance.

    A whole-image label naming a box concept is left out (a box concept needs a box); a box
    on a concept of a whole-image group becomes a label of the whole image (what a
    detection file says about a classification project); both are reported, as are boxes
    clipped to the image and boxes refused (each with its reason)."""
    index, boxed = taxonomy.index, taxonomy.boxed
    groups: dict[tuple, _Group] = {}

    def group_of(item) -> _Group:
        return groups.setdefault(item.provenance, _Group(first=item))

    for label in record.labels:
        if label.boxed:  # the box itself carries it
            continue
        concept_id = index.resolve(label.concept)
        if concept_id is None:
            report.unknown_concepts[label.concept] += 1
            continue
        if concept_id in boxed:
            report.labels_on_box_concepts += 1
            report.note(report.labels_on_box_concepts_examples, f"{record.name}: {label.concept}")
            continue
        group_of(label).add_label(concept_id, label.confidence)
    width, height = record.width, record.height
    if not (width and height and width > 0 and height > 0):
        width, height = input.width, input.height
    for region in record.regions:
        concept_id = index.resolve(region.concept)
        if concept_id is None:
            report.unknown_concepts[region.concept] += 1
            continue
        try:
            box, clipped = region_box(region, width, height)
        except InvalidBox as exc:
            report.boxes_refused += 1
            report.note(
                report.refused_examples,
                {"name": record.name, "concept": region.concept, "message": str(exc)},
            )
            continue
        if concept_id not in boxed:
            report.boxes_as_labels += 1
            report.note(report.boxes_as_labels_examples, f"{record.name}: {region.concept}")
            group_of(region).add_label(concept_id, region.confidence)
            continue
        if clipped:
            report.boxes_clipped += 1
            report.note(report.clipped_examples, f"{record.name}: {region.concept}")
        group_of(region).regions.append(RegionSpec(concept_id, box.as_tuple(), region.confidence))
    limit = settings.LABELING_MAX_REGIONS
    kept = []
    for group in groups.values():
        if len(group.regions) > limit:
            report.note(
                report.too_many_boxes,
                f"{record.name}: {len(group.regions):,} boxes, over the limit of {limit:,}",
            )
            continue
        kept.append(group)
    return kept


def _conflict(group: _Group, index: ConceptIndex) -> bool:
    """Two options of one single choice in one annotation."""
    seen = set()
    for concept_id in group.concept_ids:
        exclusive = index.exclusive_group(concept_id)
        if exclusive is not None:
            if exclusive in seen:
                return True
            seen.add(exclusive)
    return False


def _import_chunk(
    job: InterchangeJob, taxonomy: Taxonomy, records: list[InputRecord], report: ImportReport
) -> None:
    project, user = job.project, job.created_by
    report.records += len(records)
    for record in records:
        if record.image is not None and not record.sha256:
            # The image is in the file: its content, not its name, says which input it is.
            # An unreadable one is reported when it is stored.
            with suppress(OSError, zipfile.BadZipFile, KeyError):
                record.sha256 = hashlib.sha256(record.image()).hexdigest()
    matched = _match_inputs(project, records, report)
    # New images are stored before the transaction: decoding them must not hold the lock.
    for position, record in enumerate(records):
        if matched[position] is not None:
            report.inputs_matched += 1
        elif record.image is not None:
            matched[position] = _ingest_new(job, record, report)
        else:
            report.inputs_unmatched += 1
            report.note(report.unmatched_examples, record.name)
    pairs = [(r, i) for r, i in zip(records, matched, strict=True) if i is not None]
    with transaction.atomic():
        existing = _existing_signatures([i.id for _, i in pairs])
        to_create: list[tuple[Annotation, _Group]] = []
        for record, input in pairs:
            signatures = existing.setdefault(input.id, set())
            for group in _groups(record, input, taxonomy, report):
                label = group.first
                status = label.status
                if not report.as_admin:
                    if status == AnnotationStatus.REJECTED:
                        report.rejected_skipped += 1
                        continue
                    status = AnnotationStatus.PENDING_REVIEW
                if _conflict(group, taxonomy.index):
                    names = ", ".join(taxonomy.index.rows[c].name for c in group.concept_ids)
                    report.note(report.conflicts, f"{record.name}: {names} (one choice)")
                    continue
                signature = _signature(
                    status,
                    group.concept_ids,
                    label.source,
                    label.author,
                    label.model,
                    label.model_version,
                    [_box_key(r.concept_id, r.box) for r in group.regions],
                )
                if signature in signatures:
                    report.duplicates_skipped += 1
                    continue
                signatures.add(signature)
                annotation = Annotation(
                    project=project,
                    input=input,
                    author=user,
                    source=AnnotationSource.IMPORT,
                    status=status,
                    review_tier=1 if status == AnnotationStatus.PENDING_REVIEW else 0,
                    provenance={
                        "import": {
                            "job": job.id,
                            "format": job.format,
                            "status": label.status,
                            "source": label.source,
                            "author": label.author,
                            "model": label.model,
                            "model_version": label.model_version,
                        }
                    },
                )
                to_create.append((annotation, group))
                report.statuses[status] += 1
        _create_annotations(to_create, report)
        touched = {a.input_id: a.input for a, _ in to_create}
        accepted = {a.input_id for a, _ in to_create if a.status == AnnotationStatus.ACCEPTED}
        for input_id, input in touched.items():
            if input_id in accepted:
                queue_slots_close(input=input)
            input_status_refresh(input=input)


def _create_annotations(to_create: list[tuple[Annotation, "_Group"]], report: ImportReport) -> None:
    if not to_create:
        return
    labels = annotations_create(
        annotations=[
            (annotation, {c: group.confidences[c] for c in group.concept_ids}, group.regions)
            for annotation, group in to_create
        ]
    )
    report.annotations_created += len(to_create)
    report.labels_created += labels
    report.regions_created += sum(len(group.regions) for _, group in to_create)
