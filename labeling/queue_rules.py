"""Pure rules of the annotator queue and of a submission. No ORM here."""

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

RESERVED_KEYS = {"s", "u", "d", "?"}  # skip, undo, dictionary, help
FALLBACK_KEYS = [*"1234567890", *"abcefghijklmnopqrtvwxyz"]


@dataclass(frozen=True)
class Choice:
    """A concept an annotator can pick: ``group`` is its exclusive parent's id, or None;
    ``regions``: its group labels boxes, not the whole input."""

    id: int
    name: str
    group: int | None
    regions: bool = False


class InvalidLabels(ValueError):
    pass


@dataclass(frozen=True)
class RegionIn:
    """A box as submitted: its concept and normalised (x, y, w, h)."""

    concept_id: int
    box: tuple[float, float, float, float]


def check_labels(
    chosen: Iterable[int], choices: Sequence[Choice], *, require_one: bool = True
) -> list[int]:
    """The chosen concept ids, checked: known, whole-input concepts (not drawn as boxes), at
    least one (unless ``require_one`` is off: a project with box groups may answer "nothing
    here"), at most one per exclusive group."""
    chosen = list(dict.fromkeys(chosen))
    by_id = {c.id: c for c in choices}
    unknown = [i for i in chosen if i not in by_id]
    if unknown:
        raise InvalidLabels(f"Unknown or archived concept ids: {unknown}.")
    drawn = [by_id[i].name for i in chosen if by_id[i].regions]
    if drawn:
        raise InvalidLabels(
            f"{', '.join(drawn)}: drawn as boxes on the image, not picked for the whole image."
        )
    if not chosen and require_one:
        raise InvalidLabels("Pick at least one label, or skip the item.")
    seen: dict[int, str] = {}
    for concept_id in chosen:
        group = by_id[concept_id].group
        if group is None:
            continue
        if group in seen:
            raise InvalidLabels(
                f"“{seen[group]}” and “{by_id[concept_id].name}” are options of one single "
                "choice: pick one."
            )
        seen[group] = by_id[concept_id].name
    return chosen


def check_regions(
    regions: Sequence[RegionIn], choices: Sequence[Choice], *, limit: int
) -> list[RegionIn]:
    """The submitted boxes, checked and clipped to the image: each names a concept of a box
    group, has a finite, positive size and lies (at least partly) on the image; at most
    ``limit`` of them."""
    from labeling.boxes import InvalidBox, box_checked

    if len(regions) > limit:
        raise InvalidLabels(
            f"{len(regions)} boxes on one image: at most {limit} are allowed. Split the work "
            "or label the image as a whole."
        )
    by_id = {c.id: c for c in choices}
    checked = []
    for number, region in enumerate(regions, start=1):
        choice = by_id.get(region.concept_id)
        if choice is None:
            raise InvalidLabels(
                f"Box {number}: unknown or archived concept id {region.concept_id}."
            )
        if not choice.regions:
            raise InvalidLabels(f"Box {number}: “{choice.name}” labels the whole image, not boxes.")
        try:
            box, _ = box_checked(*region.box)
        except InvalidBox as exc:
            raise InvalidLabels(f"Box {number} ({choice.name}): {exc}.") from None
        checked.append(RegionIn(region.concept_id, box.as_tuple()))
    return checked


def assign_shortcuts(choices: Sequence[Choice]) -> dict[int, str]:
    """A key per choice: its own name when that is one free character (digits 0-9 keep
    their digit), then 1-9, 0 and letters in order. Keys for skip, undo and help stay free."""
    keys: dict[int, str] = {}
    used = set(RESERVED_KEYS)
    for choice in choices:
        own = choice.name.strip().lower()
        if len(own) == 1 and own.isalnum() and own not in used:
            keys[choice.id] = own
            used.add(own)
    free = (k for k in FALLBACK_KEYS if k not in used)
    for choice in choices:
        if choice.id not in keys:
            key = next(free, None)
            if key is None:
                break
            keys[choice.id] = key
            used.add(key)
    return keys


def annotator_offset(user_id: int, project_id: int) -> float:
    """A fixed number in [0, 1) per annotator and project: where their random order starts."""
    digest = hashlib.blake2b(f"{project_id}:{user_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class Candidate(Protocol):
    priority: float
    number: int
    random_key: float


T = TypeVar("T", bound=Candidate)


def pick_candidate(candidates: Sequence[T], offset: float) -> T | None:
    """From candidates in queue order, the one this annotator gets.

    Priority first, then fewer annotations (slot number); among equals, the annotator's own
    stable random order: the first random key at or after their offset, wrapping around.
    Different annotators so start at different places, which keeps them off each other's rows.
    """
    if not candidates:
        return None
    best = max((c.priority, -c.number) for c in candidates)
    tied = [c for c in candidates if (c.priority, -c.number) == best]
    return min(tied, key=lambda c: (c.random_key - offset) % 1.0)


def lease_is_live(leased_until: datetime | None, now: datetime) -> bool:
    return leased_until is not None and leased_until > now


def input_status(*, accepted: bool, waiting: bool, open_slot: bool) -> str:
    """The one rule for an input's status: labeled once an annotation of it is accepted; in
    review while annotations wait and the queue needs no more; unlabeled while a slot is
    open (or nothing waits)."""
    if accepted:
        return "labeled"
    if waiting and not open_slot:
        return "in_review"
    return "unlabeled"
