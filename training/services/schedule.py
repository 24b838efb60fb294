"""The retraining policy, checked by the scheduler every minute.

A project's routing model gets a new version when at least ``retrain_min_labels`` trusted
labels were accepted since its last version was queued, and at least
``retrain_every_minutes`` passed since then (0 turns the schedule off). Never two runs of a
model at once: ``version_queue`` refuses, and a database constraint backs it.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from labeling.models import Input, Project
from labeling.services.errors import ServiceError
from training.models import ModelVersion
from training.selectors import project_layout, trusted_label_count
from training.services.versions import model_router_ensure, version_queue


@dataclass(frozen=True)
class RetrainState:
    new_labels: int
    last_queued_at: datetime | None


def retrain_due(state: RetrainState, *, min_labels: int, every_minutes: int, now: datetime) -> bool:
    """Pure: is a new version due?"""
    if every_minutes <= 0 or state.new_labels < max(min_labels, 1):
        return False
    if state.last_queued_at is None:
        return True
    return now - state.last_queued_at >= timedelta(minutes=every_minutes)


def retrain_state(project: Project) -> RetrainState:
    model = model_router_ensure(project=project)
    last = model.versions.order_by("-number").first()
    count = trusted_label_count(project)
    if last is None:
        return RetrainState(count, None)
    return RetrainState(count - last.label_count, last.created_at)


def retrain_scheduled(now: datetime | None = None) -> list[ModelVersion]:
    """Queue a version for every project that is due; returns the versions queued."""
    now = now or timezone.now()
    queued = []
    for project in Project.objects.filter(retrain_every_minutes__gt=0):
        if Input.objects.filter(project=project, embedding__isnull=True).exists():
            continue  # wait until the background embedding has caught up
        if not project_layout(project).width:
            continue  # only box groups: nothing for the classifier (detectors train by hand)
        state = retrain_state(project)
        due = retrain_due(
            state,
            min_labels=project.retrain_min_labels,
            every_minutes=project.retrain_every_minutes,
            now=now,
        )
        if not due:
            continue
        try:
            queued.append(
                version_queue(model=model_router_ensure(project=project), trigger="schedule")
            )
        except ServiceError:
            continue  # a run is already queued or going
    return queued
