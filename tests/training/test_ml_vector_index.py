"""The vector index on its own (no database): the same answers as exact search when every
list is scanned, good recall when few are, files written whole and read mapped."""

import numpy as np
import pytest

from training.ml import vector_index
from training.ml.vector_index import (
    exact_search,
    index_add,
    index_build,
    index_read,
    index_remove,
    index_search,
    index_write,
    list_count,
    needs_retrain,
)


def clustered(n: int, dim: int = 32, clusters: int = 20, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    return centres[rng.integers(0, clusters, n)] + 0.4 * rng.normal(size=(n, dim))


def test_exact_search_returns_the_k_most_similar_best_first_with_ties_by_row():
    ids = np.array([10, 11, 12, 13])
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0], [1.0, 1.0]])

    found = exact_search(ids, vectors, np.array([3.0, 0.0]), 3)

    assert [i for i, _ in found] == [10, 12, 13]  # 10 and 12 tie at 1.0: row order
    assert [round(s, 4) for _, s in found] == [1.0, 1.0, 0.7071]
    assert exact_search(ids[:0], vectors[:0], np.array([1.0, 0.0]), 3) == []


def test_given_every_list_scanned_then_the_index_answers_as_exact_search_does():
    vectors = clustered(2000)
    ids = np.arange(5000, 7000)
    index = index_build(ids, vectors)

    for query in vectors[:20] + 0.01:
        found = index_search(index, query, 12, nprobe=index.nlist)
        exact = exact_search(ids, vectors, query, 12)
        assert [i for i, _ in found] == [i for i, _ in exact]
        np.testing.assert_allclose([s for _, s in found], [s for _, s in exact], atol=2e-3)


def test_given_a_few_lists_scanned_then_recall_stays_high_on_clustered_vectors():
    vectors = clustered(4000, clusters=30, seed=1)
    ids = np.arange(4000)
    index = index_build(ids, vectors)
    queries = clustered(50, clusters=30, seed=1) + 0.1  # same centres: same seed

    hits = 0
    for query in queries:
        found = {i for i, _ in index_search(index, query, 12, nprobe=8)}
        hits += len(found & {i for i, _ in exact_search(ids, vectors, query, 12)})

    assert index.nlist == list_count(4000) == 63
    assert hits / (12 * len(queries)) >= 0.95


def test_written_then_read_mapped_the_index_gives_the_same_answers(tmp_path):
    vectors = clustered(500)
    index = index_build(np.arange(500), vectors)
    path = tmp_path / "sub" / "project-1.faiss"

    index_write(index, path)
    mapped = index_read(path)

    assert [p.name for p in path.parent.iterdir()] == ["project-1.faiss"]  # no partial left
    for query in vectors[:5]:
        assert index_search(mapped, query, 5, nprobe=4) == index_search(index, query, 5, nprobe=4)


@pytest.mark.parametrize("content", [None, b"", b"not an index at all"])
def test_a_missing_or_damaged_file_raises_runtime_error(tmp_path, content):
    path = tmp_path / "project-1.faiss"
    if content is not None:
        path.write_bytes(content)

    with pytest.raises(RuntimeError):
        index_read(path)


def test_vectors_added_and_removed_in_place_are_found_and_gone():
    vectors = clustered(300)
    index = index_build(np.arange(300), vectors)
    newcomer = vectors[7] * 2 + 0.001

    index_add(index, np.array([900]), newcomer)
    assert index_search(index, newcomer, 1, nprobe=index.nlist)[0][0] == 900

    assert index_remove(index, [900, 7, 12345]) == 2
    found = [i for i, _ in index_search(index, newcomer, 5, nprobe=index.nlist)]
    assert 900 not in found and 7 not in found
    assert index.ntotal == 299


def test_lists_are_retrained_only_when_the_set_grew_well_past_what_they_were_sized_for():
    assert list_count(1) == 1 and list_count(1_000_000) == 1000
    assert list_count(10**9) == vector_index.MAX_LISTS
    assert not needs_retrain(150_000, 100_000)
    assert needs_retrain(250_000, 100_000)
