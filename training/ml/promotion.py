"""The promotion rule: may a newly trained version go live, and why (pure, no database).

A new version goes live unless its score on the eval split is lower than the active
version's on the same inputs by more than ``tolerance`` (the noise of a re-run on the same
data). No active version, or an active version with no score there, never blocks it.
"""

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Decision:
    promoted: bool
    reason: str
    compared_with: int | None  # the active version's number, when there was one to compare
    ours: float | None
    theirs: float | None

    def to_dict(self) -> dict:
        """As stored on the version (``ModelVersion.promotion``)."""
        return asdict(self)


def promotion_decide(
    *,
    ours: float | None,
    theirs: float | None,
    tolerance: float,
    active_number: int | None,
    metric: str = "macro F1",
) -> Decision:
    """``ours``: the new version's score; ``theirs``: the active version's on the same eval
    inputs (None when not compared); ``active_number``: the active version's number, None
    when the model has none."""
    compared = {"compared_with": active_number, "ours": ours, "theirs": theirs}
    if active_number is None:
        return Decision(True, "Promoted: the first version of this model.", **compared)
    if theirs is not None and (ours is None or ours < theirs - tolerance):
        return Decision(
            False,
            f"Not promoted: {metric} {ours or 0:.3f} on the eval split is below the active "
            f"version {active_number}'s {theirs:.3f} on the same inputs.",
            **compared,
        )
    return Decision(
        True,
        f"Promoted: {metric} {ours or 0:.3f} on the eval split vs {theirs or 0:.3f} for "
        f"version {active_number} on the same inputs.",
        **compared,
    )
