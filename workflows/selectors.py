"""Reads of the workflows app."""

from django.db.models import QuerySet

from labeling.models import Membership, Project
from workflows.models import Workflow, WorkflowRun, WorkflowVersion


def project_workflows(project: Project) -> QuerySet[Workflow]:
    return Workflow.objects.filter(project=project).prefetch_related("versions")


def workflows_visible(user) -> QuerySet[Workflow]:
    """Workflows of the projects the user is a member of (all for a superuser)."""
    workflows = Workflow.objects.select_related("project")
    if user.is_superuser:
        return workflows
    return workflows.filter(
        project_id__in=Membership.objects.filter(user=user).values("project_id")
    )


def workflow_current(workflow: Workflow) -> WorkflowVersion:
    return workflow.versions.order_by("-number").first()


def workflow_version_pick(workflow: Workflow, number: int | None) -> WorkflowVersion | None:
    """A version by number, or the current one."""
    if number is None:
        return workflow_current(workflow)
    return workflow.versions.filter(number=number).first()


def workflow_runs(workflow: Workflow, kind: str = WorkflowRun.Kind.RUN) -> QuerySet[WorkflowRun]:
    return WorkflowRun.objects.filter(
        workflow_version__workflow=workflow, kind=kind
    ).select_related("workflow_version")
