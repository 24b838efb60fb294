"""Shared fixtures: an isolated media root, a project with one member of each role, images.

``tests/`` is on ``sys.path`` (pytest puts a conftest's folder there), so test modules
import helpers with ``from factories import ...``.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from factories import MembershipFactory, UserFactory, make_image_bytes
from PIL import Image

from labeling.models import Membership, Project, Role
from labeling.services.projects import project_create


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory):
    """Keep the SQLite test database out of ``var/``: one file per test run, in tmp."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        folder = tmp_path_factory.mktemp("db")
        database.setdefault("TEST", {})["NAME"] = str(folder / "test.sqlite3")


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Every test writes images, thumbnails and staged uploads under its own tmp folder."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    # WhiteNoise warns on every request when STATIC_ROOT (under var/) was never collected.
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STATIC_ROOT.mkdir()
    return root


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # The real hasher takes a third of a second per user on purpose; tests need no such cost.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _restore_pillow_pixel_limit(monkeypatch):
    # inspect_image sets Pillow's global limit; a test with a tiny limit must not leak it.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)


@pytest.fixture
def image_bytes():
    """``image_bytes(fmt="PNG", size=(16, 16), color=(r, g, b))`` -> bytes of a real image."""
    return make_image_bytes


@pytest.fixture
def admin(db):
    return UserFactory(username="alice_admin")


@pytest.fixture
def project(admin) -> Project:
    return project_create(name="Birds", created_by=admin, eval_fraction=0.2)


@pytest.fixture
def annotator(project):
    user = UserFactory(username="anna_annotator")
    MembershipFactory(project=project, user=user, role=Role.ANNOTATOR)
    return user


@pytest.fixture
def reviewer(project):
    user = UserFactory(username="rita_reviewer")
    MembershipFactory(project=project, user=user, role=Role.REVIEWER, review_tier=1)
    return user


@pytest.fixture
def outsider(db):
    return UserFactory(username="oscar_outsider")


@pytest.fixture
def other_project(db) -> Project:
    """A project none of the users above belongs to."""
    return project_create(name="Fish", created_by=UserFactory(username="other_admin"))


@pytest.fixture
def admin_membership(project, admin) -> Membership:
    return Membership.objects.get(project=project, user=admin)


# ---------------------------------------------------------------------------- real workers

REPO = Path(__file__).resolve().parents[1]


def database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def worker(settings, tmp_path):
    """Start workers on demand; every one is stopped at the end of the test."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CELERY_TASK_ALWAYS_EAGER = False
    processes = []

    def start(queues: str = "default", **extra_env: str) -> subprocess.Popen:
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "PORTAL_MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "PORTAL_DATA_DIR": str(settings.DATA_DIR),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "CELERY_TASK_ALWAYS_EAGER": "0",
            **extra_env,
        }
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "portal",
                "worker",
                "-Q",
                queues,
                "--pool",
                "solo",
                "-l",
                "warning",
                "-n",
                f"test{len(processes)}@%h",
            ],
            cwd=REPO,
            env=env,
        )
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
