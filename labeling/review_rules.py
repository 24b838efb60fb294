"""Pure rules of review: which tier an annotation goes to next, consensus, agreement.

No ORM here. Agreement statistics follow Cohen (1960) and Fleiss (1971).
"""

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

ALL = "all"
SAMPLE = "sample"
DISAGREEMENTS = "disagreements"
MODEL_DOUBT = "model_doubt"
MODEL_SPOT_CHECK = "model_spot_check"
MODES = (ALL, SAMPLE, DISAGREEMENTS, MODEL_DOUBT, MODEL_SPOT_CHECK)


@dataclass(frozen=True)
class TierRule:
    """What a review tier looks at: every annotation, a share of them, or a kind of them."""

    number: int
    mode: str = ALL
    sample_rate: float = 1.0  # for SAMPLE and MODEL_SPOT_CHECK


@dataclass(frozen=True)
class Facts:
    """What routing needs to know of an annotation."""

    id: int
    from_model: bool = False
    disagreement: bool = False
    model_band: str = ""  # "doubt" or "auto" for a model's annotation


def draw(annotation_id: int, tier: int) -> float:
    """A fixed number in [0, 1) per annotation and tier: the same sample on every run."""
    digest = hashlib.blake2b(f"{annotation_id}:{tier}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def tier_takes(rule: TierRule, facts: Facts) -> bool:
    if rule.mode == ALL:
        return not facts.from_model or facts.model_band == "doubt"
    if rule.mode == SAMPLE:
        return draw(facts.id, rule.number) < rule.sample_rate
    if rule.mode == DISAGREEMENTS:
        return facts.disagreement
    if rule.mode == MODEL_DOUBT:
        return facts.from_model and facts.model_band == "doubt"
    if rule.mode == MODEL_SPOT_CHECK:
        return (
            facts.from_model
            and facts.model_band == "auto"
            and (draw(facts.id, rule.number) < rule.sample_rate)
        )
    raise ValueError(f"unknown review mode {rule.mode!r}")


def next_tier(after: int, rules: Sequence[TierRule], facts: Facts) -> int | None:
    """The first tier above ``after`` that takes this annotation; None means accept it."""
    for rule in sorted(rules, key=lambda r: r.number):
        if rule.number > after and tier_takes(rule, facts):
            return rule.number
    return None


def model_first_tier(band: str, spot_checked: bool, rules: Sequence[TierRule]) -> int | None:
    """Where a model's new annotation waits: a doubtful suggestion goes to the first tier that
    takes doubt (tier 1 when none is set up: an admin reviews it); an automatic label is
    accepted at once unless drawn for a spot check, which goes to the first tier that
    spot-checks or takes everything (else tier 1)."""
    if band == "doubt":
        takes = (ALL, MODEL_DOUBT)
    elif band == "auto" and spot_checked:
        takes = (ALL, MODEL_SPOT_CHECK)
    else:
        return None
    ordered = sorted(rules, key=lambda r: r.number)
    return next((r.number for r in ordered if r.mode in takes), 1)


def tier_unreached(review_tier: int | None, tier_count: int) -> bool:
    """Whether a reviewer's tier is above the project's tiers: annotators' labels never get
    there (only a model's doubtful suggestions go to tier 1 of a project without tiers)."""
    return review_tier is not None and review_tier > tier_count


Box = tuple[float, float, float, float]  # normalised x, y, w, h (see labeling.boxes)
BoxLabel = tuple[int, Box]  # a box and its concept id
SAME_BOX = 1e-6  # coordinates closer than this are the same (a float's trip through JSON)


def boxes_same(a: Sequence[BoxLabel], b: Sequence[BoxLabel]) -> bool:
    """The same boxes with the same concepts, in any order (no overlap rule: exactly these)."""
    if len(a) != len(b):
        return False
    pairs = zip(sorted(a), sorted(b), strict=True)
    return all(
        ca == cb and all(abs(u - v) <= SAME_BOX for u, v in zip(ba, bb, strict=True))
        for (ca, ba), (cb, bb) in pairs
    )


def correction_changes(
    proposed: frozenset[int],
    corrected: frozenset[int],
    proposed_boxes: Sequence[BoxLabel] = (),
    corrected_boxes: Sequence[BoxLabel] = (),
) -> bool:
    """Whether a "correction" changes anything: the same label set with the same boxes is an
    approval."""
    return proposed != corrected or not boxes_same(proposed_boxes, corrected_boxes)


def consensus(label_sets: Sequence[frozenset[int]], majority: int) -> frozenset[int] | None:
    """The label set at least ``majority`` annotators gave (all of them when 0), or None."""
    if not label_sets:
        return None
    needed = majority or len(label_sets)
    labels, count = Counter(label_sets).most_common(1)[0]
    return labels if count >= needed else None


@dataclass(frozen=True)
class Answer:
    """What one annotation says of an input: its whole-input labels and its boxes."""

    labels: frozenset[int]
    boxes: tuple[BoxLabel, ...] = ()


def boxes_agree(a: Sequence[BoxLabel], b: Sequence[BoxLabel], *, min_iou: float) -> bool:
    """Two people's boxes on one image agree when they pair up one to one: as many boxes on
    each side, and the Hungarian matching by concept (``labeling.boxes.boxes_match``) pairs
    every box with one of the same concept overlapping it by IoU >= ``min_iou``. No boxes on
    either side agree too ("nothing here")."""
    if len(a) != len(b):
        return False
    if not a:
        return True
    from labeling.boxes import boxes_array, boxes_match

    matches = boxes_match(
        boxes_array(box for _, box in a),
        boxes_array(box for _, box in b),
        min_iou=min_iou,
        a_concepts=[concept for concept, _ in a],
        b_concepts=[concept for concept, _ in b],
    )
    return len(matches) == len(a)


def answers_agree(a: Answer, b: Answer, *, min_iou: float) -> bool:
    """The same whole-input labels, and boxes that agree (``boxes_agree``)."""
    return a.labels == b.labels and boxes_agree(a.boxes, b.boxes, min_iou=min_iou)


def consensus_group(
    answers: Sequence[Answer], majority: int, *, min_iou: float
) -> list[int] | None:
    """The indexes (ascending) of the answers that make the consensus, or None.

    Box agreement is not transitive (A may match B and B match C while A misses C), so a
    group is built to agree pairwise: each answer in turn seeds one, then takes, in order,
    every answer that agrees with all those already in it. The largest group (the earliest
    seed on a tie) is the consensus when it holds at least ``majority`` answers (all of them
    when 0). Without boxes, agreement is equality of label sets and this picks what
    ``consensus`` picks."""
    if not answers:
        return None
    n = len(answers)
    needed = majority or n
    agree = [[i == j for j in range(n)] for i in range(n)]
    for i, j in combinations(range(n), 2):
        agree[i][j] = agree[j][i] = answers_agree(answers[i], answers[j], min_iou=min_iou)
    best: list[int] = []
    for seed in range(n):
        group = [seed]
        for other in range(n):
            if other != seed and all(agree[other][member] for member in group):
                group.append(other)
        if len(group) > len(best):
            best = group
    return sorted(best) if len(best) >= needed else None


def cohen_kappa(pairs: Sequence[tuple[object, object]]) -> float | None:
    """Cohen's kappa of two raters, from (rater A's category, rater B's category) per item."""
    n = len(pairs)
    if n == 0:
        return None
    observed = sum(1 for a, b in pairs if a == b) / n
    a_counts = Counter(a for a, _ in pairs)
    b_counts = Counter(b for _, b in pairs)
    expected = sum(a_counts[c] * b_counts.get(c, 0) for c in a_counts) / (n * n)
    if expected == 1:
        return 1.0 if observed == 1 else None
    return (observed - expected) / (1 - expected)


def fleiss_kappa(ratings: Sequence[dict[object, int]]) -> float | None:
    """Fleiss' kappa from, per item, the number of raters who chose each category.

    Every item must have the same number of raters (at least two).
    """
    items = [r for r in ratings if sum(r.values()) > 0]
    if not items:
        return None
    raters = sum(items[0].values())
    if raters < 2 or any(sum(r.values()) != raters for r in items):
        raise ValueError("Fleiss' kappa needs the same number (>= 2) of raters per item")
    n = len(items)
    totals: Counter = Counter()
    agreement = 0.0
    for item in items:
        totals.update(item)
        agreement += (sum(v * v for v in item.values()) - raters) / (raters * (raters - 1))
    p_bar = agreement / n
    p_e = sum((t / (n * raters)) ** 2 for t in totals.values())
    if p_e == 1:
        return 1.0 if p_bar == 1 else None
    return (p_bar - p_e) / (1 - p_e)
