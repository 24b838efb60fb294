"""Shared fixtures: an isolated media root, a project with one member of each role, images.

``tests/`` is on ``sys.path`` (pytest puts a conftest's folder there), so test modules
import helpers with ``from factories import ...``.
"""

import io

import pytest
from factories import MembershipFactory, UserFactory
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


def make_image_bytes(
    fmt: str = "PNG",
    size: tuple[int, int] = (16, 16),
    color: tuple[int, int, int] = (200, 40, 40),
    *,
    noise: bool = False,
) -> bytes:
    """A real image file in memory. ``noise`` makes one that does not compress to nothing."""
    if noise:
        image = Image.merge("RGB", [Image.effect_noise(size, 80)] * 3)
    else:
        image = Image.new("RGB", size, color)
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


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
