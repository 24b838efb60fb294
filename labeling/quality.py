"""Reads for the admin's Quality page: annotator volume, speed, rejections, gold accuracy,
agreement (Cohen's and Fleiss' kappa), per-concept disagreement and confused choices.

The math is in pure functions over plain tuples (top of the module); ``project_quality``
loads the rows with a handful of ``values_list`` queries and hands them over.

What counts:

- Only human annotations (``source == "human"``) with an author. A reviewer's correction is
  left out: it was made looking at someone else's labels, so it is not an independent rating.
- Every status counts for agreement, rejected and superseded included: they are what the
  annotator said. When an annotator labeled an input more than once (a rejected annotation
  and its redo), their first annotation of it is their rating: the one made before any
  review feedback.
- The category of an annotation is its whole label set (a frozenset of concept ids), so two
  annotators agree on an input only when they picked exactly the same concepts.
- Boxes have their own agreement, per pair of annotators: on each input both annotated, the
  F1 of matching their boxes (``labeling.boxes.boxes_agreement``: Hungarian matching by
  concept, IoU >= the project's ``region_iou``), averaged over the inputs where at least one
  of the two drew a box (two empty answers say nothing about drawing).
"""

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import combinations, groupby
from operator import itemgetter

from django.contrib.auth import get_user_model

from labeling.boxes import boxes_agreement, boxes_array
from labeling.models import (
    Annotation,
    AnnotationSource,
    Concept,
    Project,
    Region,
    ReviewDecision,
)
from labeling.review_rules import BoxLabel, cohen_kappa, fleiss_kappa

MIN_SHARED = 5  # inputs two annotators must share before their kappa is shown
CONFUSED_LIMIT = 10
CONCEPT_LIMIT = 30
REJECT = ReviewDecision.Action.REJECT.value
NO_LABEL = frozenset([None])  # the left join's row of an annotation without labels

Rating = tuple[int, int, frozenset[int]]  # (input id, annotator id, concept ids)
Grouped = dict[int, dict[int, frozenset[int]]]  # input id -> {annotator id: concept ids}
BoxRating = tuple[int, int, tuple[BoxLabel, ...]]  # (input id, annotator id, boxes)


# ---------------------------------------------------------------------------- pure math


def ratings_by_input(ratings: Iterable[Rating]) -> Grouped:
    """input id -> {annotator id: label set}, keeping each annotator's first rating of an
    input (pass ratings in the order they were made)."""
    by_input: Grouped = defaultdict(dict)
    for input_id, annotator_id, labels in ratings:
        by_input[input_id].setdefault(annotator_id, labels)
    return by_input


def _grouped(ratings: Iterable[Rating] | Grouped) -> Grouped:
    """The functions below take ratings, or (to group them once for all) their grouping."""
    return ratings if isinstance(ratings, dict) else ratings_by_input(ratings)


@dataclass(frozen=True)
class PairAgreement:
    a: int  # the smaller annotator id
    b: int
    shared: int  # inputs both rated
    kappa: float | None  # None with fewer than MIN_SHARED shared inputs, or when undefined


def pairwise_kappa(
    ratings: Iterable[Rating] | Grouped, *, min_shared: int = MIN_SHARED
) -> dict[tuple[int, int], PairAgreement]:
    """Cohen's kappa of every pair of annotators over the inputs both rated."""
    items: dict[tuple[int, int], list[tuple[frozenset[int], frozenset[int]]]] = defaultdict(list)
    for raters in _grouped(ratings).values():
        for a, b in combinations(sorted(raters), 2):
            items[(a, b)].append((raters[a], raters[b]))
    return {
        (a, b): PairAgreement(
            a, b, len(pairs), cohen_kappa(pairs) if len(pairs) >= min_shared else None
        )
        for (a, b), pairs in items.items()
    }


def mean_kappa_by_annotator(pairs: Iterable[PairAgreement]) -> dict[int, tuple[float, int]]:
    """Per annotator: the mean of their kappas with each other annotator, and how many
    partners it averages (pairs without a kappa are left out)."""
    kappas: dict[int, list[float]] = defaultdict(list)
    for pair in pairs:
        if pair.kappa is not None:
            kappas[pair.a].append(pair.kappa)
            kappas[pair.b].append(pair.kappa)
    return {who: (statistics.fmean(values), len(values)) for who, values in kappas.items()}


@dataclass(frozen=True)
class BoxPairAgreement:
    a: int  # the smaller annotator id
    b: int
    shared: int  # inputs both annotated where at least one of them drew a box
    mean: float  # mean F1 of their boxes over those inputs


def pairwise_box_agreement(
    ratings: Iterable[BoxRating], *, min_iou: float
) -> dict[tuple[int, int], BoxPairAgreement]:
    """Per pair of annotators, the mean ``boxes_agreement`` of their boxes over the inputs
    both annotated where at least one of them drew a box. Each annotator's first rating of
    an input counts (pass ratings in the order they were made)."""
    by_input: dict[int, dict[int, tuple[BoxLabel, ...]]] = defaultdict(dict)
    for input_id, annotator_id, boxes in ratings:
        by_input[input_id].setdefault(annotator_id, tuple(boxes))
    scores: dict[tuple[int, int], list[float]] = defaultdict(list)
    for raters in by_input.values():
        for a, b in combinations(sorted(raters), 2):
            first, second = raters[a], raters[b]
            if not first and not second:
                continue
            scores[(a, b)].append(
                boxes_agreement(
                    boxes_array(box for _, box in first),
                    boxes_array(box for _, box in second),
                    min_iou=min_iou,
                    a_concepts=[concept for concept, _ in first],
                    b_concepts=[concept for concept, _ in second],
                )
            )
    return {
        (a, b): BoxPairAgreement(a, b, len(values), statistics.fmean(values))
        for (a, b), values in scores.items()
    }


@dataclass(frozen=True)
class FleissResult:
    kappa: float | None
    raters: int  # k: annotators per input
    items: int  # inputs with exactly k annotators, the ones the kappa is computed over


def project_fleiss(ratings: Iterable[Rating] | Grouped) -> FleissResult | None:
    """Fleiss' kappa over the inputs rated by exactly k annotators, k being the most common
    number of annotators among inputs with two or more (on a tie, the larger k). None when
    no input has two annotators."""
    by_input = _grouped(ratings)
    sizes = Counter(len(raters) for raters in by_input.values() if len(raters) >= 2)
    if not sizes:
        return None
    k = max(sizes, key=lambda size: (sizes[size], size))
    table = [Counter(raters.values()) for raters in by_input.values() if len(raters) == k]
    return FleissResult(fleiss_kappa(table), k, len(table))


@dataclass(frozen=True)
class ConceptDisagreement:
    concept_id: int
    inputs: int  # inputs with 2+ annotators where at least one gave the concept
    disagreed: int  # of those, the ones where not every annotator gave it

    @property
    def rate(self) -> float:
        return self.disagreed / self.inputs


def concept_disagreement(ratings: Iterable[Rating] | Grouped) -> list[ConceptDisagreement]:
    """Per concept, among inputs with two or more annotators where at least one annotator
    gave the concept, the share where not all of them did. Highest rate first."""
    inputs: Counter[int] = Counter()
    disagreed: Counter[int] = Counter()
    for raters in _grouped(ratings).values():
        if len(raters) < 2:
            continue
        sets = list(raters.values())
        given = frozenset().union(*sets)
        shared = frozenset.intersection(*sets)
        inputs.update(given)
        disagreed.update(given - shared)
    rows = [ConceptDisagreement(c, n, disagreed[c]) for c, n in inputs.items()]
    return sorted(rows, key=lambda r: (-r.rate, -r.inputs, r.concept_id))


def confused_pairs(
    ratings: Iterable[Rating] | Grouped, groups: dict[int, int], *, limit: int = CONFUSED_LIMIT
) -> list[tuple[tuple[int, int], int]]:
    """The options of one single choice that annotators confuse most.

    ``groups`` maps each option (a child of an exclusive concept) to its group (the parent).
    A pair {A, B} of options of one group counts once per input where one annotator chose A
    and another chose B. Returns ((smaller id, larger id), inputs), most confused first.
    """
    counts: Counter[tuple[int, int]] = Counter()
    for raters in _grouped(ratings).values():
        if len(raters) < 2:
            continue
        confused: set[tuple[int, int]] = set()
        for first, second in combinations(raters.values(), 2):
            for a in first:
                for b in second:
                    if a != b and a in groups and groups[a] == groups.get(b):
                        confused.add((min(a, b), max(a, b)))
        counts.update(confused)
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]


@dataclass
class AnnotatorStats:
    annotator_id: int
    annotations: int = 0
    times_ms: list[int] = field(default_factory=list, repr=False)
    decided: int = 0  # annotations that got any review decision
    rejected: int = 0  # of those, the ones with a reject decision
    gold_checked: int = 0
    gold_correct: int = 0
    mean_kappa: float | None = None
    kappa_partners: int = 0

    @property
    def avg_seconds(self) -> float | None:
        return statistics.fmean(self.times_ms) / 1000 if self.times_ms else None

    @property
    def median_seconds(self) -> float | None:
        return statistics.median(self.times_ms) / 1000 if self.times_ms else None

    @property
    def rejection_rate(self) -> float | None:
        return self.rejected / self.decided if self.decided else None

    @property
    def gold_accuracy(self) -> float | None:
        return self.gold_correct / self.gold_checked if self.gold_checked else None


def annotator_stats(
    annotations: Iterable[tuple[int, int, int | None, bool | None]],
    decisions: Iterable[tuple[int, str]],
) -> dict[int, AnnotatorStats]:
    """Per annotator, from (annotation id, annotator id, time spent ms, gold correct) rows and
    (annotation id, action) decisions: volume, times, rejections and gold accuracy."""
    decided: set[int] = set()
    rejected: set[int] = set()
    for annotation_id, action in decisions:
        decided.add(annotation_id)
        if action == REJECT:
            rejected.add(annotation_id)
    stats: dict[int, AnnotatorStats] = {}
    for annotation_id, annotator_id, time_ms, gold in annotations:
        row = stats.setdefault(annotator_id, AnnotatorStats(annotator_id))
        row.annotations += 1
        if time_ms is not None:
            row.times_ms.append(time_ms)
        if annotation_id in decided:
            row.decided += 1
            row.rejected += annotation_id in rejected
        if gold is not None:
            row.gold_checked += 1
            row.gold_correct += gold
    return stats


def kappa_band(kappa: float | None) -> str:
    """Landis & Koch's (1977) words for a kappa."""
    if kappa is None:
        return ""
    for upper, word in ((0.0, "poor"), (0.2, "slight"), (0.4, "fair"), (0.6, "moderate")):
        if kappa <= upper:
            return word
    return "substantial" if kappa <= 0.8 else "almost perfect"


def kappa_hue(kappa: float) -> int:
    """A heatmap hue: red (0) at kappa <= 0, through yellow, to green (120) at kappa 1."""
    return round(120 * min(max(kappa, 0.0), 1.0))


# ---------------------------------------------------------------------------- the page


@dataclass(frozen=True)
class AnnotatorRow:
    name: str
    stats: AnnotatorStats
    volume_percent: float  # of the busiest annotator, for the bar
    time_percent: float  # of the slowest median, for the bar

    @property
    def kappa_percent(self) -> float:
        kappa = self.stats.mean_kappa
        return 100.0 * min(max(kappa, 0.0), 1.0) if kappa is not None else 0.0

    @property
    def kappa_hue(self) -> int:
        return kappa_hue(self.stats.mean_kappa) if self.stats.mean_kappa is not None else 0

    @property
    def kappa_band(self) -> str:
        return kappa_band(self.stats.mean_kappa)


@dataclass(frozen=True)
class HeatCell:
    pair: PairAgreement | None  # None on the diagonal and for annotators who share nothing
    diagonal: bool = False

    @property
    def hue(self) -> int:
        return kappa_hue(self.pair.kappa) if self.pair and self.pair.kappa is not None else 0


@dataclass(frozen=True)
class Bar:
    label: str
    count: int
    total: int
    percent: float  # the bar's length
    title: str = ""


@dataclass(frozen=True)
class BoxPairRow:
    a: str
    b: str
    pair: BoxPairAgreement

    @property
    def percent(self) -> float:
        return 100.0 * self.pair.mean

    @property
    def hue(self) -> int:
        return kappa_hue(self.pair.mean)


@dataclass
class QualityReport:
    human_annotations: int
    annotators: list[AnnotatorRow]
    heatmap_names: list[str]
    heatmap: list[tuple[str, list[HeatCell]]]
    pairs_with_kappa: int
    fleiss: FleissResult | None
    multi_rated_inputs: int
    concepts: list[Bar]
    concepts_total: int
    confused: list[Bar]
    has_exclusive: bool
    min_shared: int = MIN_SHARED
    has_boxes: bool = False  # the project labels boxes: the box agreement table is shown
    box_pairs: list[BoxPairRow] = field(default_factory=list)
    region_iou: float = 0.5

    @property
    def fleiss_band(self) -> str:
        return kappa_band(self.fleiss.kappa) if self.fleiss else ""

    @property
    def fleiss_percent(self) -> float:
        """Where the Fleiss kappa sits on a 0 to 1 scale (below 0 sits at 0)."""
        kappa = self.fleiss.kappa if self.fleiss else None
        return 100.0 * min(max(kappa, 0.0), 1.0) if kappa is not None else 0.0


def _concept_names(
    project: Project,
) -> tuple[dict[int, str], dict[int, str], dict[int, int], bool]:
    """The names of the project's concepts, plain and as "parent › child", the exclusive
    group (parent id) of each option of a single choice, and whether any group labels boxes
    (people's boxes exist only then: a group's scope is fixed once it has labels)."""
    rows = list(
        Concept.objects.filter(project=project).values_list(
            "id", "name", "parent_id", "parent__exclusive", "scope"
        )
    )
    names = {cid: name for cid, name, _, _, _ in rows}
    display = {
        cid: f"{names[parent]} › {name}" if parent in names else name
        for cid, name, parent, _, _ in rows
    }
    groups = {cid: parent for cid, _, parent, exclusive, _ in rows if exclusive}
    has_boxes = any(scope == Concept.Scope.REGIONS for *_, scope in rows)
    return names, display, groups, has_boxes


def _load(
    project: Project,
) -> tuple[list[tuple[int, int, int | None, bool | None]], Grouped, dict[int, tuple[int, int]]]:
    """One query: the (annotation id, annotator id, time spent, gold correct) rows that count
    (see the module's docstring), the annotators' label sets grouped by input, and the
    annotation that is each annotator's rating of an input (id -> (input id, annotator id))."""
    rows = (
        Annotation.objects.filter(
            project=project,
            source=AnnotationSource.HUMAN,
            author__isnull=False,
            corrects__isnull=True,
        )
        .order_by("id")
        .values_list(
            "id", "input_id", "author_id", "time_spent_ms", "gold_correct", "labels__concept_id"
        )
    )
    annotations: list[tuple[int, int, int | None, bool | None]] = []
    label_sets: dict[frozenset[int], frozenset[int]] = {}  # one object per distinct set
    by_input: Grouped = defaultdict(dict)
    rating_ids: dict[int, tuple[int, int]] = {}
    for annotation_id, run in groupby(rows, key=itemgetter(0)):  # one row per label
        label_rows = list(run)
        _, input_id, author_id, time_ms, gold, _ = label_rows[0]
        labels = frozenset(row[5] for row in label_rows) - NO_LABEL
        annotations.append((annotation_id, author_id, time_ms, gold))
        if author_id not in by_input[input_id]:
            rating_ids[annotation_id] = (input_id, author_id)
        by_input[input_id].setdefault(author_id, label_sets.setdefault(labels, labels))
    return annotations, by_input, rating_ids


def _box_ratings(project: Project, rating_ids: dict[int, tuple[int, int]]) -> list[BoxRating]:
    """The boxes of each rating annotation (none drawn is an answer too), in rating order."""
    boxes: dict[int, list[BoxLabel]] = defaultdict(list)
    rows = (
        Region.objects.filter(
            annotation__project=project,
            annotation__source=AnnotationSource.HUMAN,
            annotation__author__isnull=False,
            annotation__corrects__isnull=True,
        )
        .order_by("annotation_id", "position", "id")
        .values_list("annotation_id", "concept_id", "x", "y", "w", "h")
    )
    for annotation_id, concept_id, x, y, w, h in rows:
        if annotation_id in rating_ids:
            boxes[annotation_id].append((concept_id, (x, y, w, h)))
    return [
        (input_id, author_id, tuple(boxes.get(annotation_id, ())))
        for annotation_id, (input_id, author_id) in rating_ids.items()
    ]


def project_quality(project: Project) -> QualityReport:
    annotations, by_input, rating_ids = _load(project)
    decisions = ReviewDecision.objects.filter(project=project).values_list(
        "annotation_id", "action"
    )
    stats = annotator_stats(annotations, decisions)
    pairs = pairwise_kappa(by_input)
    for who, (mean, partners) in mean_kappa_by_annotator(pairs.values()).items():
        stats[who].mean_kappa, stats[who].kappa_partners = mean, partners
    users = dict(get_user_model().objects.filter(id__in=list(stats)).values_list("id", "username"))
    order = sorted(stats.values(), key=lambda s: (-s.annotations, users.get(s.annotator_id, "")))
    most = max((s.annotations for s in order), default=0)
    slowest = max((s.median_seconds or 0 for s in order), default=0)
    rows = [
        AnnotatorRow(
            users.get(s.annotator_id, f"user {s.annotator_id}"),
            s,
            100.0 * s.annotations / most if most else 0.0,
            100.0 * (s.median_seconds or 0) / slowest if slowest else 0.0,
        )
        for s in order
    ]

    # The heatmap shows annotators who share at least one input with someone.
    in_pairs = {who for key in pairs for who in key}
    paired = [s.annotator_id for s in order if s.annotator_id in in_pairs]
    heatmap = [
        (
            users.get(a, f"user {a}"),
            [HeatCell(pairs.get((min(a, b), max(a, b))), diagonal=a == b) for b in paired],
        )
        for a in paired
    ]

    names, display, groups, has_boxes = _concept_names(project)
    disagreement = concept_disagreement(by_input)
    concept_bars = [
        Bar(
            display.get(d.concept_id, f"concept {d.concept_id}"),
            d.disagreed,
            d.inputs,
            100.0 * d.rate,
            f"{d.disagreed} of {d.inputs} inputs",
        )
        for d in disagreement[:CONCEPT_LIMIT]
    ]
    confused = confused_pairs(by_input, groups)
    top = confused[0][1] if confused else 0
    confused_bars = [
        Bar(
            f"{display.get(a, a)} ↔ {names.get(b, b)}",
            n,
            n,
            100.0 * n / top,
        )
        for (a, b), n in confused
    ]
    box_pairs = []
    if has_boxes:
        agreement = pairwise_box_agreement(
            _box_ratings(project, rating_ids), min_iou=project.region_iou
        )

        def name(who: int) -> str:
            return users.get(who, f"user {who}")

        box_pairs = sorted(  # the pairs that agree least first: they need a look
            (BoxPairRow(name(p.a), name(p.b), p) for p in agreement.values()),
            key=lambda row: (row.pair.mean, -row.pair.shared, row.a, row.b),
        )
    return QualityReport(
        human_annotations=len(annotations),
        annotators=rows,
        heatmap_names=[name for name, _ in heatmap],
        heatmap=heatmap,
        pairs_with_kappa=sum(1 for p in pairs.values() if p.kappa is not None),
        fleiss=project_fleiss(by_input),
        multi_rated_inputs=sum(1 for raters in by_input.values() if len(raters) >= 2),
        concepts=concept_bars,
        concepts_total=len(disagreement),
        confused=confused_bars,
        has_exclusive=bool(groups),
        has_boxes=has_boxes,
        box_pairs=box_pairs,
        region_iou=project.region_iou,
    )
