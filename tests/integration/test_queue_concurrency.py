"""Many annotators drain one queue at once, each thread on its own database connection."""

import threading
from collections import Counter

import pytest
from django.contrib.auth import get_user_model
from django.db import OperationalError, connection, connections, transaction

from labeling.models import Annotation, Input, Membership, QueueSlot, Role
from labeling.services import queue
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


def lockable_elsewhere(slot_id: int) -> bool:
    """Whether another connection can lock the slot row at once (FOR UPDATE NOWAIT)."""
    result = {}

    def probe():
        sql = f"SELECT id FROM {QueueSlot._meta.db_table} WHERE id = %s FOR UPDATE NOWAIT"
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, [slot_id])
            result["locked"] = True
        except OperationalError:
            result["locked"] = False
        finally:
            connections.close_all()

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join(timeout=60)
    return result["locked"]


@pytest.mark.postgres
@pytest.mark.skipif(not is_postgres, reason="row locks are tested on PostgreSQL")
def test_the_waiting_query_holds_no_lock_the_skipping_query_took(monkeypatch):
    # The skipping query may lock a row, find it taken meanwhile and return nothing; the row
    # stays locked to the end of its transaction. Waiting for another row while holding it
    # deadlocked with a submitter of that input (who holds its first slot and waits for this
    # one), as CI saw once with overlap 2. The lock must be let go before the wait.
    project, concept, users = make_project(inputs=2, overlap=2, annotators=1)
    taken = QueueSlot.objects.filter(project=project).order_by("id").first()
    open_candidates = queue._open_candidates
    seen = {}

    def skipping_finds_its_row_taken(project, user, now, *, limit, wait):
        if not wait:
            table = QueueSlot._meta.db_table
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT id FROM {table} WHERE id = %s FOR UPDATE", [taken.id])
            return []
        seen["lockable while waiting"] = lockable_elsewhere(taken.id)
        return open_candidates(project, user, now, limit=limit, wait=wait)

    monkeypatch.setattr(queue, "_open_candidates", skipping_finds_its_row_taken)

    slot = queue_next(project=project, user=users[0])

    assert seen == {"lockable while waiting": True}
    assert slot is not None, "the waiting query still serves the annotator"
