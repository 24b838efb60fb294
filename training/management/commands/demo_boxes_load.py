"""Load the boxes demo (digits on photos) once and queue its models' first training: the
classifier on crops first (seconds), then the detector (minutes)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from labeling.services.ingest import inputs_announce
from training.demo import boxes_demo_crop_classifier, boxes_demo_detector, boxes_demo_load
from training.services.versions import version_queue


class Command(BaseCommand):
    help = "Load the boxes demo project (digits pasted on photos) and train its detector."

    def handle(self, *args, **options):
        admin = get_user_model().objects.filter(is_superuser=True).order_by("id").first()
        if admin is None:
            self.stderr.write("Create the demo admin first (manage.py demo_load).")
            return
        project, created = boxes_demo_load(admin=admin)
        if created:
            inputs_announce(project_id=project.id)
            for model in (boxes_demo_crop_classifier(project), boxes_demo_detector(project)):
                version_queue(model=model, actor=admin, trigger="manual")
        state = "loaded" if created else "already there"
        self.stdout.write(
            f"Demo project “{project.name}” {state}: {project.inputs.count()} images."
        )
