"""The closed set of port types and the values that travel along them.

Every value describes a batch of N inputs at once: arrays with N rows, never one Python
object per input, so a node costs the same handful of numpy calls for 1 input or 5,000.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np


class PortType(StrEnum):
    IMAGE = "image"  # Images: the batch's input ids, pixels (opaque) and sizes
    EMBEDDING = "embedding"  # (N, D) float array
    CONCEPTS = "concepts"  # Concepts: scores (N, C) and which labels each input carries
    REGIONS = "regions"  # Regions: normalised boxes, each on one input of the batch
    CROPS = "crops"  # Crops: pixel boxes cut from the batch's images
    SELECTION = "selection"  # (N,) bool array: which inputs of the batch a branch holds
    MATCHES = "matches"  # Matches: each input's nearest stored inputs


@dataclass(frozen=True, eq=False)
class Images:
    """The batch itself, as the input node gives it. ``pixels`` is whatever the caller's
    model runners read (paths, arrays); operators only use ids and sizes."""

    input_ids: np.ndarray  # (N,) int
    sizes: np.ndarray | None = None  # (N, 2) int: width, height in pixels
    pixels: Any = None

    def __len__(self) -> int:
        return len(self.input_ids)


@dataclass(frozen=True, eq=False)
class Concepts:
    """Concept scores of N inputs over C concepts, and the labels each input carries.

    ``labels`` is all True for a classifier's raw output (every concept with its score);
    a thresholder keeps only the labels that pass. ``groups`` are column indexes of
    exclusive groups (one option per input), ``tuned`` the producing model version's tuned
    thresholds per column (None: its target precision was out of reach), ``thresholds`` the
    thresholds a thresholder applied (kept for the annotation's provenance) and ``source``
    names the model version that scored (model name, version number)."""

    concept_ids: tuple
    scores: np.ndarray  # (N, C) float
    labels: np.ndarray  # (N, C) bool
    groups: tuple[tuple[int, ...], ...] = ()
    tuned: tuple[float | None, ...] | None = None
    thresholds: tuple[float | None, ...] | None = None
    source: dict = field(default_factory=dict)

    @classmethod
    def scored(cls, concept_ids: Sequence, scores: np.ndarray, **extra) -> "Concepts":
        """A model's raw output: every concept is a label with its score."""
        scores = np.asarray(scores, dtype=np.float64)
        return cls(tuple(concept_ids), scores, np.ones(scores.shape, dtype=bool), **extra)

    def __len__(self) -> int:
        return len(self.scores)

    @property
    def selection(self) -> np.ndarray:
        """The inputs that carry at least one label."""
        return self.labels.any(axis=1)


@dataclass(frozen=True, eq=False)
class Regions:
    """R boxes in normalised (x, y, w, h) of their input's image, x and y the top left.

    A detector names each box's concept with its score, and gives its version's tuned box
    thresholds per concept (``tuned``: concept id -> threshold, None when the target
    precision was out of reach) and ``source`` (model name, version number), as
    ``Concepts`` does. ``thresholds`` are those a thresholder applied, per box."""

    input_index: np.ndarray  # (R,) int: row of the batch each box belongs to
    boxes: np.ndarray  # (R, 4) float
    concept_ids: tuple = ()  # per box, when a detector named them
    scores: np.ndarray | None = None  # (R,) float
    tuned: dict | None = None
    thresholds: np.ndarray | None = None  # (R,) float, nan where none applied
    source: dict = field(default_factory=dict)

    def subset(self, keep: np.ndarray, **changes) -> "Regions":
        """The boxes where ``keep`` (R,) is true, in order."""
        keep = np.asarray(keep, dtype=bool)
        picked = np.flatnonzero(keep)
        return Regions(
            np.asarray(self.input_index)[picked],
            np.asarray(self.boxes).reshape(-1, 4)[picked],
            tuple(self.concept_ids[i] for i in picked) if self.concept_ids else (),
            None if self.scores is None else np.asarray(self.scores)[picked],
            self.tuned,
            changes.get("thresholds", None if self.thresholds is None else self.thresholds[picked]),
            self.source,
        )

    def __len__(self) -> int:
        return len(self.input_index)


@dataclass(frozen=True, eq=False)
class Crops:
    """K pixel boxes (x0, y0, x1, y1; x1, y1 exclusive) and the regions that gave none."""

    input_index: np.ndarray  # (K,) int
    region_index: np.ndarray  # (K,) int: which region of the Regions value
    boxes: np.ndarray  # (K, 4) int
    dropped: tuple[tuple[int, str], ...] = ()  # (region index, why)

    def __len__(self) -> int:
        return len(self.input_index)


@dataclass(frozen=True, eq=False)
class Matches:
    """Per input its nearest candidates, best first. Row i holds ``counts[i]`` matches; the
    rest of the row is padding (id -1, similarity nan)."""

    ids: np.ndarray  # (N, k) candidate ids
    similarity: np.ndarray  # (N, k) float
    counts: np.ndarray  # (N,) int

    def __len__(self) -> int:
        return len(self.ids)

    def row(self, i: int) -> list[tuple[Any, float]]:
        n = int(self.counts[i])
        return list(zip(self.ids[i, :n].tolist(), self.similarity[i, :n].tolist(), strict=True))
