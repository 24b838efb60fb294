"""Create the demo admin (printing the login) and the demo project, once."""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from labeling.demo import demo_project_load
from labeling.services.ingest import inputs_announce

LOGIN_FILE = "demo-login.txt"


def demo_admin():
    """The demo superuser, with a random password kept (readable by the owner only) in the
    data dir."""
    User = get_user_model()
    path = settings.DATA_DIR / LOGIN_FILE
    user = User.objects.filter(username="admin").first()
    if user is None or not path.exists():
        password = secrets.token_urlsafe(9)
        if user is None:
            user = User.objects.create_superuser("admin", "admin@example.com", password)
        else:
            user.set_password(password)
            user.save(update_fields=["password"])
        path.write_text(f"admin\n{password}\n")
        path.chmod(0o600)
    username, password = path.read_text().split()[:2]
    return user, username, password


class Command(BaseCommand):
    help = "Load the demo project (scikit-learn digits) and create the demo admin."

    def handle(self, *args, **options):
        admin, username, password = demo_admin()
        project, created = demo_project_load(admin=admin)
        if created:  # embeddings start as soon as a worker runs; training follows by schedule
            inputs_announce(project_id=project.id)
        state = "loaded" if created else "already there"
        self.stdout.write(
            f"Demo project “{project.name}” {state}: {project.inputs.count()} images."
        )
        self.stdout.write(self.style.SUCCESS(f"Log in as {username} / {password}"))
