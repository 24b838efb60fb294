"""The project's search index: built on a worker above the exact-search size, used by
"find similar", never silently stale (newer embeddings are searched beside it, then added),
rebuilt when inputs go, and a damaged file falls back to exact search with a log line."""

import logging

import numpy as np
import pytest
from factories import InputFactory

from labeling import hooks
from training import similar, tasks
from training.ml.vector_index import exact_search
from training.models import Embedding
from training.services import search_index
from training.services.search_index import (
    projects_needing_index,
    record_read,
    search_index_request,
    search_index_update,
)
from training.similar import nearest_input_ids, similar_inputs, similar_to_vector

pytestmark = pytest.mark.django_db
DIM = 16


@pytest.fixture(autouse=True)
def small_index(settings, tmp_path):
    """Projects of 5+ vectors get an index (the default is 20,000)."""
    settings.TRAINING_SEARCH_EXACT_BELOW = 5
    settings.TRAINING_SEARCH_DIR = tmp_path / "indexes"
    settings.TRAINING_SEARCH_NPROBE = 1000  # every list: answers equal exact search
    similar._open.clear()


def embed(project, vector, backbone="pixels16"):
    input = InputFactory(project=project)
    Embedding.objects.create(
        input=input,
        project=project,
        backbone=backbone,
        vector=np.asarray(vector, dtype=np.float16).tobytes(),
    )
    return input


def fill(project, n=60, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(4, DIM))
    return [embed(project, centres[i % 4] + 0.3 * rng.normal(size=DIM)) for i in range(n)]


def exact_answer(project, query, k):
    rows = Embedding.objects.filter(project=project, error="").values_list("input_id", "vector")
    ids = np.array([r[0] for r in rows])
    vectors = np.stack([np.frombuffer(r[1], dtype=np.float16) for r in rows])
    return [i for i, _ in exact_search(ids, vectors.astype(np.float32), query, k)]


def test_given_a_project_above_the_size_then_an_index_is_built_and_answers_like_exact(project):
    inputs = fill(project)

    assert search_index_update(project_id=project.id) == "rebuilt"

    record = record_read(project.id)
    assert (record.count, record.backbone, record.dim) == (60, "pixels16", DIM)
    assert record.max_embedding_id == Embedding.objects.order_by("-id").first().id
    assert (search_index.index_dir() / record.file).exists()
    found = similar_inputs(inputs[0], k=5)
    query = np.frombuffer(Embedding.objects.get(input=inputs[0]).vector, dtype=np.float16)
    expected = [i for i in exact_answer(project, query.astype(np.float32), 6) if i != inputs[0].id]
    assert [input.id for input, _ in found] == expected[:5]
    assert search_index_update(project_id=project.id) == "fresh"


def test_given_a_small_project_then_it_has_no_index_and_search_is_exact(project, settings):
    settings.TRAINING_SEARCH_EXACT_BELOW = 100
    inputs = fill(project, n=30)

    assert search_index_update(project_id=project.id) == "exact"

    assert record_read(project.id) is None
    assert len(similar_inputs(inputs[0], k=4)) == 4


def test_given_inputs_embedded_after_the_index_then_they_are_found_before_and_after_the_update(
    project,
):
    fill(project)
    search_index_update(project_id=project.id)
    query = np.ones(DIM) * 5
    newcomer = embed(project, query * 3)  # the nearest of all, and not in the index yet

    assert nearest_input_ids(project.id, query, 3)[0][0] == newcomer.id

    assert search_index_update(project_id=project.id) == "added 1"
    record = record_read(project.id)
    assert record.count == 61 and record.max_embedding_id == newcomer.embedding.id
    assert nearest_input_ids(project.id, query, 3)[0][0] == newcomer.id
    assert len(list((search_index.index_dir()).glob("*.faiss"))) == 1  # the old file is gone


def test_given_deleted_inputs_then_they_are_not_answered_and_the_index_is_rebuilt(project):
    inputs = fill(project)
    search_index_update(project_id=project.id)
    gone = inputs[4]
    vector = np.frombuffer(gone.embedding.vector, dtype=np.float16).astype(np.float32)
    gone.delete()

    found = similar_to_vector(project_id=project.id, vector=vector, k=5)
    assert gone.id not in [input.id for input, _ in found] and len(found) == 5
    assert projects_needing_index() == [project.id]

    assert search_index_update(project_id=project.id) == "rebuilt"
    assert record_read(project.id).count == 59
    assert gone.id not in [i for i, _ in nearest_input_ids(project.id, vector, 5)]
    assert projects_needing_index() == []


@pytest.mark.parametrize("damage", ["corrupt", "missing"])
def test_given_a_damaged_index_file_then_search_is_exact_with_a_log_line_and_a_rebuild_queued(
    project, caplog, monkeypatch, damage
):
    inputs = fill(project)
    search_index_update(project_id=project.id)
    path = search_index.index_dir() / record_read(project.id).file
    if damage == "corrupt":
        path.write_bytes(b"\0" * 100)
    else:
        path.unlink()
    queued = []
    monkeypatch.setattr(tasks.search_index_update_task, "delay", queued.append)
    query = np.frombuffer(inputs[3].embedding.vector, dtype=np.float16).astype(np.float32)

    with caplog.at_level(logging.ERROR, logger="training.similar"):
        found = nearest_input_ids(project.id, query, 6)

    assert [i for i, _ in found] == exact_answer(project, query, 6)
    assert "unreadable" in caplog.text and record_read(project.id).file in caplog.text
    assert (search_index.index_dir() / f"project-{project.id}.pending").exists()
    assert search_index_update(project_id=project.id) == "rebuilt"
    assert [i for i, _ in nearest_input_ids(project.id, query, 6)] == exact_answer(
        project, query, 6
    )


def test_given_another_backbone_then_the_index_is_not_used_and_is_rebuilt(project, settings):
    inputs = fill(project)
    search_index_update(project_id=project.id)
    settings.TRAINING_BACKBONE = "other"
    Embedding.objects.filter(project=project).update(backbone="other")

    query = np.frombuffer(inputs[0].embedding.vector, dtype=np.float16).astype(np.float32)
    assert [i for i, _ in nearest_input_ids(project.id, query, 3)][0] == inputs[0].id
    assert search_index_update(project_id=project.id) == "rebuilt"
    assert record_read(project.id).backbone == "other"


def test_inputs_embedded_queue_one_index_update_until_it_runs(
    project, monkeypatch, django_capture_on_commit_callbacks
):
    queued = []
    monkeypatch.setattr(tasks.search_index_update_task, "delay", queued.append)

    with django_capture_on_commit_callbacks(execute=True):
        hooks.announce(hooks.INPUTS_EMBEDDED, project_id=project.id, since=None)
        hooks.announce(hooks.INPUTS_EMBEDDED, project_id=project.id, since=None)
    assert queued == [project.id]  # debounced: one update queued

    fill(project, n=10)
    search_index_update(project_id=project.id)  # the worker runs it
    assert search_index_request(project.id) is True  # the next announcement queues again


def test_given_a_failed_embedding_then_the_scheduler_checks_once_and_the_index_stays(project):
    fill(project)
    search_index_update(project_id=project.id)
    file = record_read(project.id).file
    broken = InputFactory(project=project)
    Embedding.objects.create(
        input=broken, project=project, backbone="pixels16", vector=b"", error="broken"
    )

    assert projects_needing_index() == [project.id]
    assert search_index_update(project_id=project.id) == "fresh"
    assert projects_needing_index() == [] and record_read(project.id).file == file


def test_an_embedding_stored_during_an_update_is_added_once_by_the_next_one(project, monkeypatch):
    fill(project)
    search_index_update(project_id=project.id)
    first, second = embed(project, np.ones(DIM)), embed(project, -np.ones(DIM))
    counted = (61, first.embedding.id)  # the update counted before ``second`` was stored
    monkeypatch.setattr(search_index, "_coverage", lambda project_id: counted)

    assert search_index_update(project_id=project.id) == "added 1"
    monkeypatch.undo()
    assert search_index_update(project_id=project.id) == "added 1"

    record = record_read(project.id)
    assert record.count == 62 and record.max_embedding_id == second.embedding.id
    found = nearest_input_ids(project.id, -np.ones(DIM), 3)
    assert found[0][0] == second.id and found[1][0] != second.id  # in the index once
