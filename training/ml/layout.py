"""How a project's taxonomy maps onto a classifier's outputs.

Every label an annotator can pick is one output column. The options of an exclusive concept
form a *group* (softmax: exactly one of them); every other label is a *single* (sigmoid: on
or off, independently of the rest).
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Layout:
    concept_ids: tuple[int, ...]
    groups: tuple[tuple[int, ...], ...]  # column indexes of each exclusive group
    singles: tuple[int, ...]  # column indexes of multi-label concepts

    @classmethod
    def from_choices(cls, choices: Iterable[tuple[int, int | None]]) -> "Layout":
        """From (concept id, exclusive group id or None) pairs, in taxonomy order."""
        ids: list[int] = []
        groups: dict[int, list[int]] = {}
        singles: list[int] = []
        for column, (concept_id, group) in enumerate(choices):
            ids.append(concept_id)
            if group is None:
                singles.append(column)
            else:
                groups.setdefault(group, []).append(column)
        return cls(tuple(ids), tuple(tuple(g) for g in groups.values()), tuple(singles))

    @property
    def width(self) -> int:
        return len(self.concept_ids)

    def column(self, concept_id: int) -> int:
        return self.concept_ids.index(concept_id)

    def group_of(self, column: int) -> tuple[int, ...] | None:
        return next((g for g in self.groups if column in g), None)

    def targets(self, label_sets: Sequence[Iterable[int]]) -> tuple[np.ndarray, np.ndarray]:
        """Targets (n, width) of 0/1 and a mask of the entries the labels say something about.

        A single is known for every labeled input (not chosen means absent); a group is known
        only for inputs where one of its options was chosen.
        """
        n = len(label_sets)
        y = np.zeros((n, self.width), dtype=np.float32)
        known = np.zeros((n, self.width), dtype=bool)
        index = {cid: i for i, cid in enumerate(self.concept_ids)}
        known[:, list(self.singles)] = True
        for row, labels in enumerate(label_sets):
            for concept_id in labels:
                column = index.get(concept_id)
                if column is not None:
                    y[row, column] = 1.0
        for group in self.groups:
            columns = list(group)
            known[:, columns] = (y[:, columns].sum(axis=1) > 0)[:, None]
        return y, known

    def to_dict(self) -> dict:
        return {
            "concept_ids": list(self.concept_ids),
            "groups": [list(g) for g in self.groups],
            "singles": list(self.singles),
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Layout":
        return cls(
            tuple(data["concept_ids"]),
            tuple(tuple(g) for g in data["groups"]),
            tuple(data["singles"]),
        )
