"""Every existing project gets its default workflow (its routing as a graph); new projects
get theirs from the PROJECT_CREATED hook."""

from django.db import migrations

from workflows.default import default_workflow


def forwards(apps, schema_editor):
    Project = apps.get_model("labeling", "Project")
    MLModel = apps.get_model("training", "MLModel")
    Workflow = apps.get_model("workflows", "Workflow")
    WorkflowVersion = apps.get_model("workflows", "WorkflowVersion")
    from training.model_types import CONTEXT_CLASSIFIER

    for project in Project.objects.exclude(workflows__is_default=True):
        router = MLModel.objects.filter(project=project, routes=True).first()
        if router is None:
            router = MLModel.objects.create(
                project=project,
                name="Classifier",
                type="context-classifier",
                params=CONTEXT_CLASSIFIER.defaults(),
                routes=True,
            )
        document = default_workflow(
            embedder={"type": "embedder", "version": "live"},
            classifier={"type": "context-classifier", "id": router.id, "version": "live"},
            doubt_band=project.doubt_band,
            spot_check_rate=project.spot_check_rate,
        )
        workflow = Workflow.objects.create(
            project=project, name="Routing", is_default=True, created_by=project.created_by
        )
        WorkflowVersion.objects.create(workflow=workflow, number=1, document=document)


class Migration(migrations.Migration):
    dependencies = [
        ("workflows", "0001_workflows"),
        ("training", "0002_prediction"),
        ("labeling", "__latest__"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
