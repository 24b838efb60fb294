"""Who reaches which project page: outsiders see nothing (404), annotators no admin page (403).

Every URL of ``labeling/urls.py`` that belongs to a project is listed in PAGES or ACTIONS.
"""

import logging

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from factories import UserFactory

from labeling.models import Concept, DictionaryExample, Membership
from labeling.services.dictionary import dictionary_entry_save, stored_example_image
from labeling.services.ingest import input_ingest, upload_batch_create
from labeling.services.taxonomy import concept_create
from labeling.urls import urlpatterns

pytestmark = pytest.mark.django_db

ADMIN_ONLY, ANY_MEMBER = "admin", "member"

# Pages read with GET: (url name, who may see it).
PAGES = [
    ("dashboard", ANY_MEMBER),
    ("settings", ADMIN_ONLY),
    ("members", ADMIN_ONLY),
    ("taxonomy", ANY_MEMBER),
    ("concept", ANY_MEMBER),
    ("upload", ADMIN_ONLY),
    ("batch", ADMIN_ONLY),
    ("inputs", ANY_MEMBER),
    ("input_image", ANY_MEMBER),
    ("input_thumb", ANY_MEMBER),
    ("example_image", ANY_MEMBER),
]
# Changes made with POST, all for admins only.
ACTIONS = [
    "settings",
    "members",
    "membership_change",
    "taxonomy_action",
    "upload_create",
    "concept",
]


class World:
    """A project with one object of each kind, and the URLs that reach them."""

    def __init__(self, project, admin, annotator, image_bytes):
        self.project = project
        self.concept = concept_create(project=project, name="Robin", actor=admin)
        self.input = input_ingest(project=project, name="robin.png", data=image_bytes()).input
        files = stored_example_image(concept=self.concept, data=image_bytes(color=(1, 2, 3)))
        entry = dictionary_entry_save(
            concept=self.concept, actor=admin, add_images=[("ideal", files)]
        )
        self.example = entry.examples.get()
        self.batch = upload_batch_create(
            project=project, user=admin, files=[SimpleUploadedFile("a.png", image_bytes())]
        )
        self.membership = Membership.objects.get(project=project, user=annotator)

    def url(self, name: str, **overrides) -> str:
        ids = {
            "concept_id": self.concept.id,
            "batch_id": self.batch.id,
            "input_id": self.input.id,
            "example_id": self.example.id,
            "membership_id": self.membership.id,
            **overrides,
        }
        needs = {
            "concept": ["concept_id"],
            "batch": ["batch_id"],
            "input_image": ["input_id"],
            "input_thumb": ["input_id"],
            "example_image": ["example_id"],
            "membership_change": ["membership_id"],
        }.get(name, [])
        kwargs = {"project_id": ids.get("project_id", self.project.id)}
        kwargs.update({key: ids[key] for key in needs})
        if name in {"input_image", "example_image"}:
            kwargs["variant"] = "file"
        if name == "input_thumb":
            name, kwargs["variant"] = "input_image", "thumb"
        return reverse(f"labeling:{name}", kwargs=kwargs)


@pytest.fixture
def world(project, admin, annotator, image_bytes) -> World:
    return World(project, admin, annotator, image_bytes)


@pytest.fixture
def other_world(other_project, image_bytes) -> World:
    other_admin = other_project.memberships.get().user
    other_annotator = UserFactory()
    Membership.objects.create(project=other_project, user=other_annotator, role="annotator")
    return World(other_project, other_admin, other_annotator, image_bytes)


def login(client, user):
    client.force_login(user)
    return client


# The annotator's pages have their own access tests in test_annotate_views.py.
ANNOTATOR_PAGES = {
    "label",
    "label_undo",
    "label_stats",
    "label_submit",
    "label_skip",
    "my_annotations",
    "annotation_fix",
    "draft_submit",
}


# Pages whose access rules are tested in their own modules.
OWN_TESTS = {
    "review",  # test_review_views.py
    "review_bulk",
    "review_settings",
    "review_decide",
    "quality",  # test_quality.py
    "input_detail",  # test_audit.py
    "annotation_audit",
    "audit_csv",
    "audit",
    "exchange",  # tests/labeling/test_exchange_views.py
    "exchange_jobs",
    "exchange_download",
}


def test_every_project_url_is_covered():
    project_urls = {p.name for p in urlpatterns if "<id:project_id>" in str(p.pattern)}
    covered = {name for name, _ in PAGES} | set(ACTIONS) | ANNOTATOR_PAGES | OWN_TESTS
    assert project_urls - covered == set()


@pytest.mark.parametrize("name", [name for name, _ in PAGES])
def test_outsider_gets_404_on_every_page(client, world, outsider, name):
    response = login(client, outsider).get(world.url(name))

    assert response.status_code == 404


@pytest.mark.parametrize("name", ACTIONS)
def test_outsider_gets_404_on_every_change(client, world, outsider, name):
    response = login(client, outsider).post(world.url(name), {"action": "create", "name": "X"})

    assert response.status_code == 404


@pytest.mark.parametrize("name", [name for name, _ in PAGES])
def test_admin_of_another_project_gets_404(client, world, other_project, name):
    other_admin = other_project.memberships.get().user

    response = login(client, other_admin).get(world.url(name))

    assert response.status_code == 404


@pytest.mark.parametrize("name", [name for name, who in PAGES if who == ADMIN_ONLY])
def test_annotator_gets_403_on_admin_pages(client, world, annotator, name):
    response = login(client, annotator).get(world.url(name))

    assert response.status_code == 403


@pytest.mark.parametrize("name", ACTIONS)
def test_annotator_gets_403_on_every_change(client, world, annotator, name):
    response = login(client, annotator).post(
        world.url(name), {"action": "create", "name": "Sparrow", "remove": "1", "role": "admin"}
    )

    assert response.status_code == 403


def test_a_403_is_logged_as_one_line_without_a_traceback(client, world, annotator, caplog):
    # given an annotator on an admin-only page
    login(client, annotator)

    # when the request is refused
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.get(world.url("settings"))

    # then django.request logs one concise line: what and where, no traceback
    assert response.status_code == 403
    records = [r for r in caplog.records if r.name == "django.request"]
    assert len(records) == 1
    assert records[0].getMessage() == f"Forbidden (Permission denied): {world.url('settings')}"
    assert records[0].exc_info is None
    assert "Traceback" not in caplog.text


def test_annotator_cannot_add_a_concept_or_promote_themselves(client, world, annotator):
    login(client, annotator)

    client.post(world.url("taxonomy_action"), {"action": "create", "name": "Sparrow"})
    client.post(world.url("membership_change"), {"role": "admin"})

    assert not Concept.objects.filter(name="Sparrow").exists()
    assert Membership.objects.get(project=world.project, user=annotator).role == "annotator"


def test_reviewer_gets_403_on_admin_pages_too(client, world, reviewer):
    response = login(client, reviewer).get(world.url("settings"))

    assert response.status_code == 403


@pytest.mark.parametrize("name", [name for name, who in PAGES if who == ANY_MEMBER])
def test_annotator_sees_member_pages(client, world, annotator, name):
    response = login(client, annotator).get(world.url(name))

    assert response.status_code == 200


@pytest.mark.parametrize("name", [name for name, _ in PAGES])
def test_admin_sees_every_page(client, world, admin, name):
    response = login(client, admin).get(world.url(name))

    assert response.status_code == 200


def test_superuser_acts_as_admin_of_every_project(client, world):
    root = UserFactory(is_superuser=True, is_staff=True)

    response = login(client, root).get(world.url("settings"))

    assert response.status_code == 200


@pytest.mark.parametrize("name", [name for name, _ in PAGES])
def test_anonymous_visitor_is_sent_to_login(client, world, name):
    url = world.url(name)

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert "next=" in response["Location"]


@pytest.mark.parametrize("name", ACTIONS)
def test_anonymous_change_is_sent_to_login(client, world, name):
    response = client.post(world.url(name), {"action": "create", "name": "X"})

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_image_view_returns_the_stored_file_to_members(client, world, annotator, media_root):
    response = login(client, annotator).get(world.url("input_image"))

    assert b"".join(response.streaming_content) == (media_root / world.input.file).read_bytes()


@pytest.mark.parametrize(
    ("name", "foreign_id"),
    [
        ("concept", "concept_id"),
        ("batch", "batch_id"),
        ("input_image", "input_id"),
        ("input_thumb", "input_id"),
        ("example_image", "example_id"),
    ],
)
def test_object_of_another_project_inside_my_project_url_is_404(
    client, world, other_world, admin, name, foreign_id
):
    foreign = {
        "concept_id": other_world.concept.id,
        "batch_id": other_world.batch.id,
        "input_id": other_world.input.id,
        "example_id": other_world.example.id,
    }[foreign_id]

    response = login(client, admin).get(world.url(name, **{foreign_id: foreign}))

    assert response.status_code == 404


def test_membership_of_another_project_cannot_be_changed_from_mine(
    client, world, other_world, admin
):
    url = world.url("membership_change", membership_id=other_world.membership.id)

    response = login(client, admin).post(url, {"remove": "1"})

    assert response.status_code == 404
    assert Membership.objects.filter(id=other_world.membership.id).exists()


def test_concept_of_another_project_cannot_be_changed_from_mine(client, world, other_world, admin):
    url = world.url("taxonomy_action")

    response = login(client, admin).post(
        url, {"action": "archive", "concept": other_world.concept.id}
    )

    assert response.status_code == 404
    other_world.concept.refresh_from_db()
    assert not other_world.concept.is_archived


def test_example_made_from_an_input_is_not_served_as_an_uploaded_image(client, world, admin):
    entry = dictionary_entry_save(
        concept=world.concept, actor=admin, add_inputs=[("ideal", world.input)]
    )
    from_input = entry.examples.get(input=world.input)

    response = login(client, admin).get(world.url("example_image", example_id=from_input.id))

    assert response.status_code == 404
    assert DictionaryExample.objects.filter(id=from_input.id).exists()


@pytest.mark.parametrize(
    "data",
    [
        {"action": "rename", "name": "Sparrow"},
        {"action": "archive", "concept": "not-a-number"},
        {"action": "synonym_remove", "synonym_id": "x"},
    ],
    ids=["no concept", "malformed concept id", "malformed synonym id"],
)
def test_malformed_taxonomy_change_is_a_client_error_not_a_crash(client, world, admin, data):
    client.raise_request_exception = False

    response = login(client, admin).post(world.url("taxonomy_action"), data)

    assert 400 <= response.status_code < 500


@pytest.mark.parametrize("kind", ["inputs", "examples"])
def test_an_image_id_too_big_for_the_database_is_404(client, world, admin, kind):
    client.force_login(admin)

    response = client.get(f"/projects/{world.project.id}/{kind}/{2**64}/thumb/")

    assert response.status_code == 404
