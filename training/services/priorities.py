"""The annotators' order: write an active-learning priority on every open queue slot.

The strategy is the project's ``queue_strategy`` (see ``training.ml.active``). Inputs without
an embedding yet keep priority 0 and come after the ranked ones.
"""

from django.db import transaction
from django.db.models import Case, FloatField, Value, When

from labeling.models import Project, QueueSlot
from training.ml.active import UNCERTAINTY, priorities
from training.selectors import active_version
from training.services.embeddings import embeddings_load
from training.services.versions import version_head

CHUNK = 1000


def queue_priorities_refresh(*, project: Project) -> int:
    """Recompute and store the priorities; returns how many inputs were ranked."""
    open_ids = sorted(
        set(
            QueueSlot.objects.filter(project=project, annotation__isnull=True).values_list(
                "input_id", flat=True
            )
        )
    )
    ids, features = embeddings_load(open_ids)
    version = active_version(project)
    probs = layout = None
    if project.queue_strategy == UNCERTAINTY and version is not None and len(ids):
        head = version_head(version)
        probs, layout = head.probabilities(features), head.layout
    values = priorities(project.queue_strategy, features, probs, layout)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        cases = [
            When(input_id=i, then=Value(round(float(p), 6)))
            for i, p in zip(chunk, values[start : start + CHUNK], strict=True)
        ]
        with transaction.atomic():
            QueueSlot.objects.filter(input_id__in=chunk, annotation__isnull=True).update(
                priority=Case(*cases, default=Value(0.0), output_field=FloatField())
            )
    return len(ids)
