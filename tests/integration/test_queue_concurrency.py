"""Many annotators drain one queue at once, each thread on its own database connection."""

import threading
from collections import Counter

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, connections

from labeling.models import Annotation, Input, Membership, QueueSlot, Role
from labeling.services.projects import project_create
from labeling.services.queue import annotation_submit, queue_next, queue_slots_fill_project
from labeling.services.taxonomy import concept_create

pytestmark = pytest.mark.django_db(transaction=True)
is_postgres = connection.vendor == "postgresql"


def make_project(*, inputs: int, overlap: int, annotators: int):
    User = get_user_model()
    owner = User.objects.create_user("owner")
    project = project_create(name="drain", created_by=owner, overlap=overlap)
    concept = concept_create(project=project, name="thing", actor=owner)
    Input.objects.bulk_create(
        [
            Input(
                project=project,
                sha256=f"{i:064x}",
                original_name=f"{i}.png",
                file=f"x/{i}.png",
                thumbnail=f"x/{i}.png",
                format="PNG",
                width=8,
                height=8,
                byte_size=1,
                split="train",
            )
            for i in range(inputs)
        ]
    )
    queue_slots_fill_project(project=project)
    users = [User.objects.create_user(f"annotator{n}") for n in range(annotators)]
    Membership.objects.bulk_create(
        [Membership(project=project, user=u, role=Role.ANNOTATOR) for u in users]
    )
    return project, concept, users


def drain(project, concept, users) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(len(users))

    def work(user):
        try:
            start.wait()
            while (slot := queue_next(project=project, user=user)) is not None:
                annotation_submit(
                    project=project,
                    user=user,
                    input=slot.input,
                    concept_ids=[concept.id],
                    client_token=f"{user.id}-{slot.id}",
                )
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(u,)) for u in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    return errors


def assert_each_input_annotated(project, times: int, inputs: int) -> None:
    per_input = Counter(
        Annotation.objects.filter(project=project).values_list("input_id", flat=True)
    )
    assert len(per_input) == inputs, "no input is lost"
    assert set(per_input.values()) == {times}, "no input is annotated more often than the overlap"
    pairs = Annotation.objects.filter(project=project).values_list("input_id", "author_id")
    assert len(set(pairs)) == len(pairs), "nobody annotates the same input twice"
    assert not QueueSlot.objects.filter(project=project, annotation__isnull=True).exists()


@pytest.mark.postgres
@pytest.mark.skipif(not is_postgres, reason="row locks are tested on PostgreSQL")
@pytest.mark.parametrize("overlap", [1, 2])
def test_sixteen_annotators_drain_two_thousand_inputs(overlap):
    project, concept, users = make_project(inputs=2000, overlap=overlap, annotators=16)

    errors = drain(project, concept, users)

    assert errors == []
    assert_each_input_annotated(project, times=overlap, inputs=2000)


def test_concurrent_annotators_on_sqlite_never_see_database_locked():
    # On SQLite every writer waits its turn (immediate transactions, a busy timeout):
    # no "database is locked" error may reach an annotator. Also runs on PostgreSQL.
    project, concept, users = make_project(inputs=300, overlap=1, annotators=6)

    errors = drain(project, concept, users)

    assert errors == []
    assert_each_input_annotated(project, times=1, inputs=300)
