"""Give inputs that were ingested before the queue existed their queue slots."""
import random

from django.db import migrations


def open_slots(apps, schema_editor):
    Project = apps.get_model("labeling", "Project")
    Input = apps.get_model("labeling", "Input")
    QueueSlot = apps.get_model("labeling", "QueueSlot")
    for project in Project.objects.all():
        have = set(QueueSlot.objects.filter(project=project).values_list("input_id", flat=True))
        ids = Input.objects.filter(project=project, status="unlabeled").values_list("id", flat=True)
        QueueSlot.objects.bulk_create(
            [
                QueueSlot(project=project, input_id=i, number=n, random_key=random.random())
                for i in ids
                if i not in have
                for n in range(project.overlap)
            ],
            batch_size=5000,
        )


class Migration(migrations.Migration):
    dependencies = [("labeling", "0002_queue")]
    operations = [migrations.RunPython(open_slots, migrations.RunPython.noop)]
