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
