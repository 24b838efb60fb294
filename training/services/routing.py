"""Rolling a version back: its labels no person confirmed are taken back, and the version
promoted before it goes live again. (Routing itself, the live version labeling inputs, is
the project's default workflow: ``workflows.services.routing``.)"""

from django.db import transaction
from django.utils import timezone

from labeling.services.annotations import annotations_take_back
from labeling.services.errors import ServiceError
from labeling.services.queue import queue_slots_fill_project
from training.models import MLModel, ModelVersion
from training.selectors import RollbackCounts, rollback_counts, unconfirmed_labels

# ---------------------------------------------------------------------------- rollback


def version_rollback(*, version: ModelVersion, actor) -> RollbackCounts:
    """Take back the labels of a version that no person confirmed: its automatic labels and
    its open suggestions. Labels a reviewer approved stay accepted (they are a person's
    labels now). If the version is live, the version promoted before it (if any) goes live
    again. Returns what was taken back and what was kept."""
    with transaction.atomic():
        model = MLModel.objects.select_for_update().get(id=version.model_id)
        version = ModelVersion.objects.select_for_update().get(id=version.id)
        if version.promoted_at is None:
            raise ServiceError("This version never went live: it has no labels to take back.")
        counts = rollback_counts(version)
        annotations_take_back(
            project=model.project,
            annotation_ids=list(unconfirmed_labels(version).values_list("id", flat=True)),
            actor=actor,
            reason=f"{model.name} v{version.number} rolled back by {actor or 'the system'}",
        )
        queue_slots_fill_project(project=model.project)
        if model.active_version_id == version.id:
            model.active_version = (
                model.versions.filter(
                    status=ModelVersion.Status.READY,
                    promoted_at__isnull=False,
                    rolled_back_at__isnull=True,
                )
                .exclude(id=version.id)
                .order_by("-promoted_at")
                .first()
            )
            model.save(update_fields=["active_version"])
        version.rolled_back_at = timezone.now()
        version.routing = {
            **version.routing,
            "rolled_back": counts.taken_back,
            "rolled_back_automatic": counts.automatic,
            "rolled_back_suggestions": counts.suggestions,
            "rolled_back_kept": counts.kept,
            "rolled_back_by": str(actor) if actor else "",
        }
        version.save(update_fields=["rolled_back_at", "routing"])
        project_id = model.project_id
        transaction.on_commit(lambda: _refresh_priorities(project_id))
    return counts


def _refresh_priorities(project_id: int) -> None:
    from training.tasks import queue_priorities_task

    queue_priorities_task.delay(project_id)
