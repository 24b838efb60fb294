"""visual-searcher: exact nearest neighbours by cosine similarity, with a floor; in a run,
the project's own search index, or another project's that the user can see."""

import re

import numpy as np
import pytest
from factories import MembershipFactory, UserFactory

from labeling.models import Input, Role
from labeling.services.projects import project_create
from labeling.storage import media_path
from training.services.search_index import search_index_update
from workflows.models import WorkflowRun
from workflows.operators import visual_searcher
from workflows.operators.visual_searcher import SearchIndex, nearest
from workflows.services.runs import (
    workflow_dry_run_create,
    workflow_dry_run_process,
    workflow_run_start,
)
from workflows.services.workflows import WorkflowRejected, workflow_create
from workflows.spec import parse
from workflows.validate import validate


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


def searcher(index: str) -> dict:
    return {
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
                "params": {"k": 3, "min_similarity": 0.0, "index": index},
            },
        ]
    }


@pytest.fixture
def indexed_digits(live_digits, settings, tmp_path):
    """The digits project (150 inputs, embedded) with its search index built."""
    settings.TRAINING_SEARCH_EXACT_BELOW = 10  # the project's 150 digits get an index
    settings.TRAINING_SEARCH_DIR = tmp_path / "indexes"
    project, _, _, _, _ = live_digits()
    assert search_index_update(project_id=project.id) == "rebuilt"
    return project


def dry_run(workflow, wanted, actor, capture) -> list[tuple[int, float]]:
    """Dry-run the stored image of ``wanted`` through ``workflow``: the searcher's matches."""
    with capture():
        run = workflow_dry_run_create(
            workflow_version=workflow.versions.get(),
            actor=actor,
            data=media_path(wanted.file).read_bytes(),
        )
    run = workflow_dry_run_process(run_id=run.id)
    assert run.status == WorkflowRun.Status.DONE, run.error
    [found] = run.result["nodes"]["search"]["matches"]["inputs"]
    return found


@pytest.mark.django_db
def test_a_dry_run_searches_the_project_s_index_for_the_uploaded_image(
    indexed_digits, admin, django_capture_on_commit_callbacks
):
    project = indexed_digits
    wanted = Input.objects.filter(project=project).order_by("id")[5]
    workflow = workflow_create(
        project=project, name="Search", document=searcher("project"), actor=admin
    )

    found = dry_run(workflow, wanted, admin, django_capture_on_commit_callbacks)

    assert len(found) == 3 and found[0][0] == wanted.id and found[0][1] > 0.999
    assert [s for _, s in found] == sorted((s for _, s in found), reverse=True)


# ---------------------------------------------------------------------------- another project


@pytest.mark.parametrize("index", ["project", "project:12"])
def test_given_this_or_another_project_then_the_index_is_valid(kinds, index):
    assert validate(parse(searcher(index)), kinds) == []


@pytest.mark.parametrize("index", ["other", "project:", "project:0", "project:x", "projects:3"])
def test_given_an_index_of_neither_form_then_the_searcher_is_named(kinds, index):
    [problem] = validate(parse(searcher(index)), kinds)

    assert (problem.node_id, problem.field) == ("search", "params.index")
    assert '"project:<id>"' in problem.message and repr(index) in problem.message


@pytest.mark.django_db
def test_a_dry_run_searches_another_project_the_user_can_see(
    indexed_digits, admin, django_capture_on_commit_callbacks
):
    digits = indexed_digits
    wanted = Input.objects.filter(project=digits).order_by("id")[7]
    # given: a workflow of another project, searching the digits project's inputs
    elsewhere = project_create(name="Elsewhere", created_by=admin)
    workflow = workflow_create(
        project=elsewhere, name="Search", document=searcher(f"project:{digits.id}"), actor=admin
    )

    # when: one of the digits is dry-run through it
    found = dry_run(workflow, wanted, admin, django_capture_on_commit_callbacks)

    # then: its nearest stored input is itself, found in the digits project
    assert found[0][0] == wanted.id and found[0][1] > 0.999
    projects = Input.objects.filter(id__in=[i for i, _ in found]).values_list("project", flat=True)
    assert set(projects) == {digits.id}


@pytest.mark.django_db
def test_a_project_the_user_cannot_see_is_refused_on_save_and_on_run(project, admin):
    secret = project_create(name="Secret", created_by=UserFactory())
    document = searcher(f"project:{secret.id}")
    message = f"project {secret.id} is not a project you can see."

    # when: an admin of this project, not a member of the secret one, saves a search of it
    with pytest.raises(WorkflowRejected) as refused:
        workflow_create(project=project, name="Peek", document=document, actor=admin)

    # then: it is refused on the searcher, naming the project
    assert [(p.node_id, p.field, p.message) for p in refused.value.problems] == [
        ("search", "params.index", message)
    ]

    # when: they are a member there (any role), it is saved
    MembershipFactory(project=secret, user=admin, role=Role.ANNOTATOR)
    workflow = workflow_create(project=project, name="Peek", document=document, actor=admin)

    # then: another admin of this project who cannot see the secret one may not run it
    colleague = UserFactory()
    MembershipFactory(project=project, user=colleague, role=Role.ADMIN)
    with pytest.raises(WorkflowRejected, match=re.escape(message)):
        workflow_run_start(workflow_version=workflow.versions.get(), actor=colleague)
