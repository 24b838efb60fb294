"""Save the boxes demo's stacked workflow (detector -> cropper -> classifier on crops)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from labeling.models import Project
from training.demo import BOXES_DEMO_NAME
from workflows.demo import stacked_demo_ensure


class Command(BaseCommand):
    help = "Save the stacked workflow of the boxes demo (run demo_boxes_load first)."

    def handle(self, *args, **options):
        project = Project.objects.filter(name=BOXES_DEMO_NAME).first()
        if project is None:
            self.stderr.write("Load the boxes demo first (manage.py demo_boxes_load).")
            return
        admin = get_user_model().objects.filter(is_superuser=True).order_by("id").first()
        workflow, created = stacked_demo_ensure(project=project, actor=admin)
        state = "saved" if created else "already there"
        self.stdout.write(f"Workflow “{workflow.name}” {state} in “{project.name}”.")
