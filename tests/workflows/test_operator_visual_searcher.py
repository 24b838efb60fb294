"""visual-searcher: exact nearest neighbours by cosine similarity, with a floor; in a run,
the project's own search index."""

import numpy as np
import pytest

from labeling.models import Input
from labeling.storage import media_path
from training.services.search_index import search_index_update
from workflows.models import WorkflowRun
from workflows.operators import visual_searcher
from workflows.operators.visual_searcher import SearchIndex, nearest
from workflows.services.runs import workflow_dry_run_create, workflow_dry_run_process
from workflows.services.workflows import workflow_create


def test_given_candidates_then_the_nearest_k_come_best_first():
    index = SearchIndex(
        np.array([101, 102, 103, 104]),
        np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]]),
    )

    matches = nearest(np.array([[2.0, 0.1]]), index, k=2, min_similarity=-1.0)

    assert matches.ids[0].tolist() == [101, 103]
    assert matches.similarity[0, 0] > matches.similarity[0, 1]


def test_given_a_minimum_similarity_then_weaker_matches_are_left_out():
    index = SearchIndex(np.array([1, 2, 3]), np.array([[1.0, 0.0], [0.7, 0.7], [0.0, 1.0]]))

    matches = nearest(np.array([[1.0, 0.0], [0.0, -1.0]]), index, k=3, min_similarity=0.5)

    assert [(i, round(s, 6)) for i, s in matches.row(0)] == [(1, 1.0), (2, 0.707107)]
    assert matches.row(1) == []
    assert matches.counts.tolist() == [2, 0]


def test_given_many_queries_in_chunks_then_results_equal_a_brute_force_search(monkeypatch):
    monkeypatch.setattr(visual_searcher, "CHUNK_CELLS", 500)  # many small chunks
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(300, 8))
    queries = rng.normal(size=(40, 8))
    index = SearchIndex(np.arange(1000, 1300), vectors)

    matches = nearest(queries, index, k=5, min_similarity=0.0)

    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    sims = (queries / np.linalg.norm(queries, axis=1, keepdims=True)) @ unit.T
    for i in range(len(queries)):
        best = [j for j in np.argsort(-sims[i], kind="stable")[:5] if sims[i, j] >= 0]
        assert [m for m, _ in matches.row(i)] == (1000 + np.array(best)).tolist()


# ---------------------------------------------------------------------------- in a workflow


@pytest.mark.django_db
def test_a_dry_run_searches_the_project_s_index_for_the_uploaded_image(
    live_digits, admin, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.TRAINING_SEARCH_EXACT_BELOW = 10  # the project's 150 digits get an index
    settings.TRAINING_SEARCH_DIR = tmp_path / "indexes"
    project, _, _, _, _ = live_digits()
    assert search_index_update(project_id=project.id) == "rebuilt"
    wanted = Input.objects.filter(project=project).order_by("id")[5]
    document = {
        "nodes": [
            {"id": "input", "type": "input"},
            {
                "id": "embed",
                "type": "model",
                "model": {"type": "embedder", "version": "live"},
                "inputs": [{"node_id": "input"}],
            },
            {
                "id": "search",
                "type": "visual-searcher",
                "inputs": [{"node_id": "embed"}],
                "params": {"k": 3, "min_similarity": 0.0},
            },
        ]
    }
    workflow = workflow_create(project=project, name="Search", document=document, actor=admin)
    with django_capture_on_commit_callbacks():
        run = workflow_dry_run_create(
            workflow_version=workflow.versions.get(),
            actor=admin,
            data=media_path(wanted.file).read_bytes(),
        )

    run = workflow_dry_run_process(run_id=run.id)

    assert run.status == WorkflowRun.Status.DONE, run.error
    [found] = run.result["nodes"]["search"]["matches"]["inputs"]
    assert len(found) == 3 and found[0][0] == wanted.id and found[0][1] > 0.999
    assert [s for _, s in found] == sorted((s for _, s in found), reverse=True)
