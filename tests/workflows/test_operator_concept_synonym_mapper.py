"""concept-synonym-mapper: renaming and merging concepts through the taxonomy's synonyms."""

import numpy as np

from workflows.operators.concept_synonym_mapper import concepts_map
from workflows.ports import Concepts


def test_given_synonyms_then_concepts_are_renamed_and_merged_with_the_best_score():
    concepts = Concepts.scored(
        ["dog", "puppy", "cat"],
        np.array([[0.2, 0.7, 0.1], [0.9, 0.3, 0.4]]),
        tuned=(0.5, 0.6, 0.7),
    )

    out = concepts_map(concepts, {"dog": 11, "puppy": 11, "cat": 12})

    assert out.concept_ids == (11, 12)
    assert out.scores.tolist() == [[0.7, 0.1], [0.9, 0.4]]
    assert out.labels.all()
    # a merged column has no single threshold; one that stays one column keeps its own
    assert out.tuned == (None, 0.7)


def test_given_unmapped_concepts_then_they_are_kept_or_dropped():
    concepts = Concepts.scored([1, 2], np.array([[0.5, 0.6]]))

    assert concepts_map(concepts, {"1": 10}).concept_ids == (10, 2)
    assert concepts_map(concepts, {"1": 10}, unmapped="drop").concept_ids == (10,)


def test_given_labels_then_a_merged_label_is_on_when_any_source_is():
    concepts = Concepts(
        (1, 2, 3),
        np.array([[0.5, 0.6, 0.1]]),
        np.array([[False, True, False]]),
    )

    out = concepts_map(concepts, {"1": 9, "2": 9})

    assert out.concept_ids == (9, 3)
    assert out.labels.tolist() == [[True, False]]


def test_given_an_exclusive_group_then_its_columns_follow_the_mapping():
    concepts = Concepts.scored([1, 2, 3, 4], np.zeros((1, 4)), groups=((0, 1), (2, 3)))

    out = concepts_map(concepts, {"1": 5, "3": 6, "4": 6})

    # group (1, 2) becomes columns of 5 and 2; group (3, 4) collapses into one concept
    assert out.concept_ids == (5, 2, 6)
    assert out.groups == ((0, 1),)
