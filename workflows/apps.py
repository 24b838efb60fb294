from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    name = "workflows"
    verbose_name = "Workflows"

    def ready(self) -> None:
        from labeling import hooks
        from workflows.services.workflows import workflow_default_ensure

        # every project has its default workflow (its routing) from the start; training's
        # subscriber (which creates the routing classifier) runs first, as it is installed first
        hooks.subscribe(
            hooks.PROJECT_CREATED, lambda *, project, **_: workflow_default_ensure(project=project)
        )
        # a promoted routing version routes the project through its default workflow
        hooks.subscribe(hooks.MODEL_VERSION_CHANGED, _route_when_promoted)
        # new inputs, once embedded, go through the live version's routing too
        hooks.subscribe(hooks.INPUTS_EMBEDDED, _route_new_inputs)


def _route_when_promoted(*, version, event: str, **_) -> None:
    from django.db import transaction

    if event != "model_version.promoted":
        return
    from training.model_types import model_type
    from workflows.tasks import route_detector_task, route_version_task

    version_id = version.id
    if version.model.routes:
        transaction.on_commit(lambda: route_version_task.delay(version_id))
    elif "regions" in model_type(version.model.type).produces:
        # a detector routes through its own workflow ("Boxes by <model>")
        transaction.on_commit(lambda: route_detector_task.delay(version_id))


def _route_new_inputs(*, project_id: int, since, **_) -> None:
    from django.db import transaction

    from training.models import MLModel

    model = MLModel.objects.filter(project_id=project_id, routes=True).first()
    if model is None or model.active_version_id is None:
        return
    from workflows.tasks import route_new_inputs_task

    version_id, stamp = model.active_version_id, since.isoformat()
    transaction.on_commit(lambda: route_new_inputs_task.delay(version_id, stamp))
