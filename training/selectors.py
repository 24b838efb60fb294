"""Reads for the model loop: what a model learns from, and how well its labels hold up."""

from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Q

from labeling.models import (
    Annotation,
    AnnotationLabel,
    AnnotationSource,
    AnnotationStatus,
    Project,
    ReviewDecision,
)
from labeling.selectors import label_choices
from training.ml.intervals import Interval, wilson_interval
from training.ml.layout import Layout
from training.models import MLModel, ModelVersion
from training.services.embeddings import LoopProgress, loop_progress


def project_layout(project: Project, *, regions: bool = False) -> Layout:
    """The outputs a classifier of the project has now: every active whole-input label, in
    order; with ``regions``, every active box concept instead (a classifier on crops)."""
    return Layout.from_choices(
        (c.id, c.group) for c in label_choices(project) if c.regions == regions
    )


def trusted_accepted(project: Project):
    """Accepted annotations a model may learn from: people's and imports, and a model's
    only when a reviewer approved it (a model does not learn from its own unchecked output)."""
    approved = ReviewDecision.objects.filter(action=ReviewDecision.Action.APPROVE)
    return Annotation.objects.filter(project=project, status=AnnotationStatus.ACCEPTED).filter(
        ~Q(source=AnnotationSource.MODEL) | Q(id__in=approved.values("annotation_id"))
    )


def labeled_examples(
    project: Project, *, split: str, input_ids: list[int] | None = None
) -> dict[int, set[int]]:
    """Input id → its accepted label set (the latest accepted annotation) in one split."""
    annotations = trusted_accepted(project).filter(input__split=split)
    if input_ids is not None:
        annotations = annotations.filter(input_id__in=input_ids)
    latest = dict(annotations.order_by("input_id", "id").values_list("input_id", "id"))
    labels: dict[int, set[int]] = defaultdict(set)
    chosen = set(latest.values())
    rows = AnnotationLabel.objects.filter(annotation__in=annotations).values_list(
        "annotation_id", "annotation__input_id", "concept_id"
    )
    for annotation_id, input_id, concept_id in rows.iterator(chunk_size=10000):
        if annotation_id in chosen:
            labels[input_id].add(concept_id)
    return dict(labels)


def trusted_label_count(project: Project) -> int:
    return trusted_accepted(project).count()


def router_model(project: Project) -> MLModel | None:
    return (
        MLModel.objects.filter(project=project, routes=True)
        .select_related("active_version")
        .first()
    )


def active_version(project: Project) -> ModelVersion | None:
    model = router_model(project)
    return model.active_version if model else None


def _labels_of(version: ModelVersion):
    """The version's labels still in force: accepted or waiting for review."""
    return Annotation.objects.filter(
        model_version=version,
        source=AnnotationSource.MODEL,
        status__in=[AnnotationStatus.ACCEPTED, AnnotationStatus.PENDING_REVIEW],
    )


def _confirmed():
    return ReviewDecision.objects.filter(
        annotation=OuterRef("pk"), action=ReviewDecision.Action.APPROVE
    )


def unconfirmed_labels(version: ModelVersion):
    """What a rollback takes back: the version's labels no reviewer approved."""
    return _labels_of(version).exclude(Exists(_confirmed()))


@dataclass(frozen=True)
class RollbackCounts:
    automatic: int  # automatic labels (above the threshold), spot checks waiting included
    suggestions: int  # open suggestions (doubt band) waiting for review
    kept: int  # labels a reviewer approved: a person's labels now, not taken back

    @property
    def taken_back(self) -> int:
        return self.automatic + self.suggestions


def rollback_message(number: int, counts: RollbackCounts) -> str:
    kept = f"; {counts.kept:,} confirmed by reviewers kept" if counts.kept else "; nothing was kept"
    return (
        f"Version {number} rolled back: {counts.automatic:,} automatic labels and "
        f"{counts.suggestions:,} open suggestions taken back{kept}."
    )


def rollback_counts(version: ModelVersion) -> RollbackCounts:
    """What rolling the version back would take back now, and what it would keep."""
    rows = (
        _labels_of(version)
        .annotate(confirmed=Exists(_confirmed()))
        .values_list("model_band", "confirmed")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts = {"auto": 0, "doubt": 0, "kept": 0}
    for band, confirmed, n in rows:
        counts["kept" if confirmed else ("auto" if band == "auto" else "doubt")] += n
    return RollbackCounts(counts["auto"], counts["doubt"], counts["kept"])


@dataclass(frozen=True)
class SpotCheck:
    checked: int
    confirmed: int

    @property
    def precision(self) -> float | None:
        return self.confirmed / self.checked if self.checked else None


# a rollback also leaves a decision on the labels it takes back, but it is not a check
REVIEWER_VERDICTS = [
    ReviewDecision.Action.APPROVE,
    ReviewDecision.Action.REJECT,
    ReviewDecision.Action.CORRECT,
]


def auto_label_precision(project: Project, version: ModelVersion | None = None) -> SpotCheck:
    """Measured precision of automatic labels: of the spot-checked ones a reviewer decided
    (first decision), the share approved as they were."""
    decisions = ReviewDecision.objects.filter(
        project=project,
        annotation__source=AnnotationSource.MODEL,
        annotation__model_band="auto",
        action__in=REVIEWER_VERDICTS,
    )
    if version is not None:
        decisions = decisions.filter(annotation__model_version=version)
    first = {}
    for annotation_id, action in decisions.order_by("id").values_list("annotation_id", "action"):
        first.setdefault(annotation_id, action)
    confirmed = sum(1 for a in first.values() if a == ReviewDecision.Action.APPROVE)
    return SpotCheck(checked=len(first), confirmed=confirmed)


# ---------------------------------------------------------------------------- pages

CHART_W, CHART_H = 240, 160


@dataclass(frozen=True)
class ConceptReport:
    concept_id: int
    name: str
    metrics: dict
    tuned: dict
    pr_points: str  # SVG polyline points: recall → x, precision → y
    tuned_point: tuple[float, float] | None
    evidence: int  # eval inputs at or above the (best) cut
    evidence_hits: int  # of them, labeled with this concept
    interval: Interval | None  # 95 % Wilson interval of the precision there

    @property
    def interval_bar(self) -> tuple[float, float]:
        """(left, width) of the interval drawn on a 0–100 % bar."""
        if self.interval is None:
            return (0.0, 0.0)
        low, high = self.interval.low, self.interval.high
        return (round(100 * low, 1), round(100 * (high - low), 1))

    @property
    def withheld(self) -> str:
        """Why the concept has no threshold, in words; "" when it has one."""
        if self.tuned.get("threshold") is not None:
            return ""
        if not self.metrics.get("support", self.metrics.get("true_boxes")):
            return "no eval labels yet"
        if self.tuned.get("missing") == "evidence":
            return "not proven yet"
        return "out of reach"

    @property
    def bound(self) -> float | None:
        """The precision its evidence proves (95 % lower bound; the group's when pooled)."""
        return self.tuned.get("bound")

    @property
    def needed(self) -> int | None:
        """More right labels above its cut before its own bound reaches the target."""
        return self.tuned.get("needed")


def _evidence(tuned: dict) -> tuple[int, int]:
    """(inputs, right ones) a threshold rests on; older versions stored only kept/precision."""
    if "evidence" in tuned:
        return tuned["evidence"], tuned["evidence_hits"]
    kept = tuned.get("kept") or 0
    return kept, round((tuned.get("precision") or 0) * kept)


def withheld_concepts(version: ModelVersion) -> list[ConceptReport]:
    """The concepts the version does not label automatically, each with its reason."""
    return [c for c in version_report(version)["concepts"] if c.withheld]


def _pr_points(curve: dict) -> str:
    """The curve in threshold order (high to low), the way it is traced."""
    points = [
        (r, p)
        for r, p in zip(curve["recall"], curve["precision"], strict=True)
        if r is not None and p is not None
    ]
    points.reverse()
    return " ".join(f"{r * CHART_W:.1f},{(1 - p) * CHART_H:.1f}" for r, p in points)


def draws_boxes(version: ModelVersion) -> bool:
    return version.metrics.get("kind") == "regions"


def concept_metrics(version: ModelVersion) -> dict[str, dict]:
    """Per concept id (a string), what the eval split says of it, each with its ``curve``
    (precision, recall, coverage by threshold): a classifier's per-concept metrics, or a
    detector's per-concept AP (box curves: versions trained before they were stored have
    none, and are left out)."""
    if draws_boxes(version):
        per_concept = version.metrics.get("per_concept", {})
        return {cid: m for cid, m in per_concept.items() if m.get("curve")}
    return version.metrics.get("concepts", {})


def version_report(version: ModelVersion) -> dict:
    """Everything the metrics page shows of a version (``kind``: "regions" for a
    detector, whose table shows AP and box counts)."""
    from labeling.models import Concept

    names = dict(Concept.objects.filter(project=version.model.project_id).values_list("id", "name"))
    concepts = []
    for concept_id, metrics in concept_metrics(version).items():
        tuned = version.thresholds.get(concept_id, {})
        point = None
        if tuned.get("recall") is not None and tuned.get("precision") is not None:
            point = (tuned["recall"] * CHART_W, (1 - tuned["precision"]) * CHART_H)
        evidence, hits = _evidence(tuned)
        concepts.append(
            ConceptReport(
                concept_id=int(concept_id),
                name=names.get(int(concept_id), f"#{concept_id}"),
                metrics=metrics,
                tuned=tuned,
                pr_points=_pr_points(metrics["curve"]),
                tuned_point=point,
                evidence=evidence,
                evidence_hits=hits,
                interval=wilson_interval(hits, evidence),
            )
        )
    confusions = []
    for block in version.metrics.get("confusion", []):
        # shaded by the share of the row (of the inputs with that true label)
        confusions.append(
            {
                "names": [names.get(c, f"#{c}") for c in block["concept_ids"]],
                "rows": [
                    (names.get(c, f"#{c}"), [(n, n / (sum(row) or 1)) for n in row])
                    for c, row in zip(block["concept_ids"], block["matrix"], strict=True)
                ],
            }
        )
    return {
        "concepts": concepts,
        "confusions": confusions,
        "chart": (CHART_W, CHART_H),
        "curves": training_curves(version.metrics.get("curves")),
        "kind": "regions" if draws_boxes(version) else "concepts",
    }


def training_curves(curves: dict | None) -> dict | None:
    """A fine-tuned version's loss and eval F1 per epoch as SVG polyline points on the
    chart's frame (x: epoch; loss scaled to its largest value, F1 to 0-1), or None."""
    if not curves or not curves.get("epoch"):
        return None
    epochs = curves["epoch"]
    span = max(len(epochs) - 1, 1)
    top = max(curves["train_loss"]) or 1.0

    def points(values, scale):
        return " ".join(
            f"{i * CHART_W / span:.1f},{(1 - v / scale) * CHART_H:.1f}"
            for i, v in enumerate(values)
            if v is not None
        )

    best = curves.get("best_epoch") or 0
    best_x = (epochs.index(best) * CHART_W / span) if best in epochs else None
    return {
        "loss": points(curves["train_loss"], top),
        "f1": points(curves["eval_f1"], 1.0),
        "top_loss": top,
        "epochs": len(epochs),
        "best_epoch": best,
        "best_x": best_x,
        "stopped_early": curves.get("stopped_early", False),
        "rows": list(zip(epochs, curves["train_loss"], curves["eval_f1"], strict=True)),
    }


@dataclass(frozen=True)
class ThresholdView:
    threshold: float
    precision: float | None
    recall: float | None
    coverage: float | None


def threshold_view(version: ModelVersion, concept_id: int, threshold: float) -> ThresholdView:
    """Precision, recall and coverage on the eval split at a threshold: the tuned one exactly,
    else the nearest of the stored grid (0.01 steps, 0.001 above 0.9)."""
    concept = concept_metrics(version).get(str(concept_id))
    if concept is None:
        raise KeyError(concept_id)
    tuned = version.thresholds.get(str(concept_id), {})
    if tuned.get("threshold") is not None and abs(tuned["threshold"] - threshold) < 0.0005:
        return ThresholdView(
            tuned["threshold"], tuned["precision"], tuned["recall"], tuned["coverage"]
        )
    curve = concept["curve"]
    grid = curve["thresholds"]
    i = min(range(len(grid)), key=lambda k: abs(grid[k] - threshold))
    return ThresholdView(grid[i], curve["precision"][i], curve["recall"][i], curve["coverage"][i])


@dataclass(frozen=True)
class VersionLabels:
    """A version's labels that stand now. "Labeled automatically" means one thing
    everywhere: inputs whose score passed the threshold and whose label stands, accepted or
    waiting for its spot check (a sampled share of them)."""

    automatic: int
    awaiting_check: int  # of ``automatic``: spot checks not decided yet
    suggestions: int  # doubt band, waiting for review


def version_label_counts(version: ModelVersion | None) -> VersionLabels:
    if version is None:
        return VersionLabels(0, 0, 0)
    rows = (
        _labels_of(version).values_list("model_band", "status").annotate(n=Count("id")).order_by()
    )
    automatic = awaiting = suggestions = 0
    for band, status, n in rows:
        if band == "auto":
            automatic += n
            awaiting += n if status == AnnotationStatus.PENDING_REVIEW else 0
        elif status == AnnotationStatus.PENDING_REVIEW:
            suggestions += n
    return VersionLabels(automatic, awaiting, suggestions)


def live_spot_check(project: Project) -> SpotCheck:
    """Spot-check precision of the live version's own automatic labels (not of earlier or
    rolled-back versions)."""
    version = active_version(project)
    return auto_label_precision(project, version) if version else SpotCheck(0, 0)


@dataclass(frozen=True)
class ModelSummary:
    version: ModelVersion | None
    spot: SpotCheck  # the live version's own spot checks
    labels: VersionLabels  # the live version's standing labels
    progress: LoopProgress  # embedding, and when the first model is due
    rolled_back: ModelVersion | None  # the latest version rolled back, shown as such


def model_summary(project: Project) -> ModelSummary:
    """What the dashboard shows of the model loop."""
    version = active_version(project)
    spot = auto_label_precision(project, version) if version else SpotCheck(0, 0)
    rolled_back = (
        ModelVersion.objects.filter(
            model__project=project, model__routes=True, rolled_back_at__isnull=False
        )
        .order_by("-rolled_back_at")
        .first()
    )
    return ModelSummary(
        version, spot, version_label_counts(version), loop_progress(project), rolled_back
    )


@dataclass(frozen=True)
class DetectorRow:
    """A detector on the Models tab: its latest versions with their COCO AP."""

    model: MLModel
    versions: list
    trainable: bool


def detector_rows(project: Project) -> list[DetectorRow]:
    return _model_rows(project, "regions")


def classifier_rows(project: Project) -> list[DetectorRow]:
    """The project's classifiers besides the routing one (a deep classifier, a second
    context classifier), with their latest versions."""
    return [row for row in _model_rows(project, "concepts") if not row.model.routes]


def _model_rows(project: Project, produces: str) -> list[DetectorRow]:
    from training.model_types import TYPES

    kinds = {key for key, spec in TYPES.items() if produces in spec.produces}
    rows = []
    for model in MLModel.objects.filter(project=project, type__in=kinds).order_by("name"):
        versions = list(model.versions.order_by("-number")[:5])
        rows.append(DetectorRow(model, versions, TYPES[model.type].trainable))
    return rows
