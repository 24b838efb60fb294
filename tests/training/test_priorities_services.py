"""The annotators' order on real digit images: a priority on every open queue slot, from the
live version's uncertainty, the embeddings' diversity, or none at all."""

import numpy as np
import pytest

from labeling.models import Annotation, AnnotationSource, QueueSlot
from labeling.services.ingest import input_ingest
from training.models import ModelVersion
from training.services.embeddings import embeddings_compute, embeddings_load
from training.services.priorities import queue_priorities_refresh
from training.services.versions import (
    model_router_ensure,
    version_head,
    version_queue,
    version_train,
)

pytestmark = pytest.mark.django_db
FAST = {"steps": 60, "learning_rate": 0.05}


def open_priorities(project) -> dict[int, float]:
    """Input id → the priority of its open slot (one slot per input here)."""
    return dict(
        QueueSlot.objects.filter(project=project, annotation__isnull=True).values_list(
            "input_id", "priority"
        )
    )


def set_strategy(project, strategy: str) -> None:
    project.queue_strategy = strategy
    project.save(update_fields=["queue_strategy"])


def test_given_a_live_version_then_the_least_sure_input_is_served_before_a_sure_one(
    digits_project, admin
):
    project, _, items = digits_project(classes=3, count=150, labeled=0.4)
    embeddings_compute(project_id=project.id)
    model = model_router_ensure(project=project)
    model.params = FAST
    model.save(update_fields=["params"])
    version = version_train(version_id=version_queue(model=model, actor=admin).id)
    assert version.status == ModelVersion.Status.READY, version.error
    set_strategy(project, "uncertainty")
    waiting = sorted(open_priorities(project))

    assert queue_priorities_refresh(project=project) == len(waiting)

    priorities = open_priorities(project)
    values = np.array([priorities[i] for i in waiting])
    assert values.min() >= 0.0 and values.max() <= 1.0
    assert len(set(values)) == len(waiting)
    ids, features = embeddings_load(waiting)
    probs = np.sort(version_head(version).probabilities(features), axis=1)
    margin = probs[:, -1] - probs[:, -2]  # one exclusive group: top-1 minus top-2
    least_sure, surest = ids[int(margin.argmin())], ids[int(margin.argmax())]
    assert margin.max() - margin.min() > 0.5
    assert priorities[least_sure] == max(values)
    assert priorities[least_sure] > priorities[surest]


def test_given_the_random_strategy_then_every_priority_is_zero(digits_project):
    project, _, _ = digits_project(classes=3, count=40, labeled=0)
    embeddings_compute(project_id=project.id)
    QueueSlot.objects.filter(project=project).update(priority=0.5)
    set_strategy(project, "random")

    queue_priorities_refresh(project=project)

    assert set(open_priorities(project).values()) == {0.0}


def test_given_no_model_yet_then_diversity_spreads_the_priorities(digits_project):
    project, _, items = digits_project(classes=3, count=60, labeled=0)
    embeddings_compute(project_id=project.id)
    set_strategy(project, "diversity")

    assert queue_priorities_refresh(project=project) == len(items)

    diversity = open_priorities(project)
    values = sorted(diversity.values())
    assert len(set(values)) == len(items)  # a full order, no ties
    assert values[0] > 0.0 and values[-1] == 1.0
    # uncertainty without a live version falls back to the same order
    set_strategy(project, "uncertainty")
    queue_priorities_refresh(project=project)
    assert open_priorities(project) == diversity


def test_inputs_without_embeddings_and_filled_slots_keep_their_priority(
    digits_project, annotator, image_bytes
):
    project, _, items = digits_project(classes=3, count=30, labeled=0)
    project.overlap = 2
    project.save(update_fields=["overlap"])
    first = items[0][0]
    QueueSlot.objects.create(project=project, input=first, number=1)
    embeddings_compute(project_id=project.id)
    newcomer = input_ingest(project=project, name="late.png", data=image_bytes(noise=True)).input
    annotation = Annotation.objects.create(
        project=project, input=first, author=annotator, source=AnnotationSource.HUMAN
    )
    filled = QueueSlot.objects.get(input=first, number=0)
    filled.annotation, filled.priority = annotation, 0.42
    filled.save(update_fields=["annotation", "priority"])
    set_strategy(project, "diversity")

    assert queue_priorities_refresh(project=project) == len(items)

    filled.refresh_from_db()
    assert filled.priority == 0.42
    sibling = QueueSlot.objects.get(input=first, number=1)
    assert 0.0 < sibling.priority <= 1.0
    assert set(QueueSlot.objects.filter(input=newcomer).values_list("priority", flat=True)) == {0.0}
    ranked = QueueSlot.objects.filter(project=project, annotation__isnull=True).exclude(
        input=newcomer
    )
    assert all(p > 0.0 for p in ranked.values_list("priority", flat=True))
