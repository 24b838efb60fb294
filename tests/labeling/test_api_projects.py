"""Projects, members, concepts and the visual dictionary over the REST API: each resource's
happy path, the wrong role (403), another project's ids (404, nothing of it in the answer),
broken rules (400 with a message) and a revoked key (401)."""

import pytest
from factories import UserFactory
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from labeling.models import Concept, ConceptSynonym, Membership, Role
from labeling.services.taxonomy import concept_create

pytestmark = pytest.mark.django_db


def api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


@pytest.fixture
def digit(project, admin):
    """An exclusive ``digit`` group with options 0, 1 and 2."""
    parent = concept_create(project=project, name="digit", exclusive=True, actor=admin)
    for d in range(3):
        concept_create(project=project, name=str(d), parent=parent, actor=admin)
    return parent


@pytest.fixture
def foreign_concept(other_project):
    return concept_create(
        project=other_project, name="salmon", actor=other_project.memberships.get().user
    )


# ---------------------------------------------------------------------------- projects


def test_the_list_holds_only_the_callers_projects_with_their_role(
    project, other_project, admin, annotator, outsider
):
    as_admin = api(admin).get("/api/v1/projects/").json()
    as_annotator = api(annotator).get("/api/v1/projects/").json()
    as_outsider = api(outsider).get("/api/v1/projects/").json()

    assert [(p["name"], p["role"]) for p in as_admin] == [("Birds", "admin")]
    assert [(p["name"], p["role"]) for p in as_annotator] == [("Birds", "annotator")]
    assert as_outsider == []


def test_creating_a_project_needs_staff_and_makes_the_creator_its_admin(annotator):
    staff = UserFactory(username="sam_staff", is_staff=True)

    refused = api(annotator).post("/api/v1/projects/", {"name": "Mine"}, format="json")
    created = api(staff).post(
        "/api/v1/projects/", {"name": "Cats", "overlap": 2, "eval_fraction": 0.1}, format="json"
    )

    assert refused.status_code == 403 and refused.json()["error"] == "You may not create projects."
    assert created.status_code == 201
    body = created.json()
    assert (body["name"], body["overlap"], body["eval_fraction"], body["role"]) == (
        "Cats",
        2,
        0.1,
        "admin",
    )
    assert Membership.objects.get(project_id=body["id"], user=staff).role == Role.ADMIN


def test_a_project_without_a_name_is_400_naming_the_field(admin):
    admin.is_staff = True
    admin.save()

    response = api(admin).post("/api/v1/projects/", {"overlap": 2}, format="json")

    assert response.status_code == 400
    assert "name" in response.json() and response.json()["error"]


def test_only_admins_change_the_settings(project, admin, annotator):
    refused = api(annotator).patch(f"/api/v1/projects/{project.id}/", {"overlap": 3}, format="json")
    changed = api(admin).patch(
        f"/api/v1/projects/{project.id}/", {"overlap": 3, "guidelines": "Look closely."}, "json"
    )

    assert refused.status_code == 403 and "role" in refused.json()["error"]
    assert changed.status_code == 200
    assert (changed.json()["overlap"], changed.json()["guidelines"]) == (3, "Look closely.")
    project.refresh_from_db()
    assert (project.overlap, project.guidelines) == (3, "Look closely.")


def test_a_setting_out_of_bounds_is_400_naming_the_field(project, admin):
    response = api(admin).patch(
        f"/api/v1/projects/{project.id}/", {"target_precision": 3}, format="json"
    )

    assert response.status_code == 400 and "target_precision" in response.json()
    project.refresh_from_db()
    assert project.target_precision == 0.99


def test_another_project_is_404_and_shows_nothing_of_it(other_project, admin):
    client = api(admin)

    read = client.get(f"/api/v1/projects/{other_project.id}/")
    changed = client.patch(f"/api/v1/projects/{other_project.id}/", {"name": "Mine"}, format="json")

    assert (read.status_code, changed.status_code) == (404, 404)
    assert "Fish" not in read.content.decode() + changed.content.decode()
    other_project.refresh_from_db()
    assert other_project.name == "Fish"


# ---------------------------------------------------------------------------- members


def members_url(project) -> str:
    return f"/api/v1/projects/{project.id}/members/"


def test_members_are_for_admins_only(project, annotator, reviewer, outsider):
    assert api(annotator).get(members_url(project)).status_code == 403
    assert api(reviewer).post(members_url(project), {"user": "x"}, format="json").status_code == 403
    assert api(outsider).get(members_url(project)).status_code == 404


def test_an_admin_adds_changes_and_removes_a_member_by_username(project, admin):
    UserFactory(username="bob")
    client = api(admin)

    added = client.post(members_url(project), {"user": "bob", "role": "annotator"}, format="json")
    member_url = f"{members_url(project)}{added.json()['id']}/"
    changed = client.patch(member_url, {"role": "reviewer", "review_tier": 2}, format="json")
    listed = client.get(members_url(project)).json()
    removed = client.delete(member_url)

    assert added.status_code == 201 and added.json()["username"] == "bob"
    assert changed.status_code == 200
    assert (changed.json()["role"], changed.json()["review_tier"]) == ("reviewer", 2)
    assert [(m["username"], m["role"]) for m in listed] == [
        ("alice_admin", "admin"),
        ("bob", "reviewer"),
    ]
    assert removed.status_code == 204
    assert not Membership.objects.filter(project=project, user__username="bob").exists()


def test_a_reviewer_without_a_tier_is_400_with_a_message(project, admin, annotator):
    member = Membership.objects.get(project=project, user=annotator)

    response = api(admin).patch(
        f"{members_url(project)}{member.id}/", {"role": "reviewer"}, format="json"
    )

    assert response.status_code == 400 and "review tier" in response.json()["error"]
    member.refresh_from_db()
    assert member.role == Role.ANNOTATOR


def test_adding_someone_twice_is_400(project, admin, annotator):
    response = api(admin).post(members_url(project), {"user": annotator.username}, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == "anna_annotator is already a member of this project."


def test_the_last_admin_can_be_neither_removed_nor_demoted(project, admin, admin_membership):
    url = f"{members_url(project)}{admin_membership.id}/"
    client = api(admin)

    removed = client.delete(url)
    demoted = client.patch(url, {"role": "annotator"}, format="json")

    assert (removed.status_code, demoted.status_code) == (400, 400)
    assert removed.json()["error"] == "A project keeps at least one admin."
    assert demoted.json()["error"] == "A project keeps at least one admin."
    admin_membership.refresh_from_db()
    assert admin_membership.role == Role.ADMIN


def test_another_projects_member_is_404_through_ones_own_project(project, other_project, admin):
    foreign = other_project.memberships.get()
    client = api(admin)

    changed = client.patch(
        f"{members_url(project)}{foreign.id}/", {"role": "annotator"}, format="json"
    )
    removed = client.delete(f"{members_url(project)}{foreign.id}/")
    listed = client.get(members_url(other_project))

    assert (changed.status_code, removed.status_code, listed.status_code) == (404, 404, 404)
    assert "other_admin" not in listed.content.decode()
    foreign.refresh_from_db()
    assert foreign.role == Role.ADMIN


# ---------------------------------------------------------------------------- concepts


def concepts_url(project) -> str:
    return f"/api/v1/projects/{project.id}/concepts/"


def test_an_admin_creates_a_group_with_options_and_synonyms(project, admin, annotator):
    client = api(admin)

    group = client.post(
        concepts_url(project), {"name": "Species", "exclusive": True}, format="json"
    )
    option = client.post(
        concepts_url(project),
        {"name": "Robin", "parent": group.json()["id"], "synonyms": ["redbreast", "Erithacus"]},
        format="json",
    )
    listed = api(annotator).get(concepts_url(project)).json()

    assert group.status_code == 201 and group.json()["exclusive"] is True
    assert option.status_code == 201
    assert (option.json()["key"], option.json()["parent"]) == ("robin", group.json()["id"])
    assert sorted(option.json()["synonyms"]) == ["Erithacus", "redbreast"]
    assert [(c["name"], c["parent"]) for c in listed] == [
        ("Species", None),
        ("Robin", group.json()["id"]),
    ]


def test_annotators_read_the_taxonomy_but_do_not_change_it(project, annotator, digit):
    client = api(annotator)

    created = client.post(concepts_url(project), {"name": "cat"}, format="json")
    renamed = client.patch(f"/api/v1/concepts/{digit.id}/", {"name": "number"}, format="json")
    synonym = client.post(f"/api/v1/concepts/{digit.id}/synonyms/", {"name": "n"}, format="json")
    read = client.get(f"/api/v1/concepts/{digit.id}/")

    assert (created.status_code, renamed.status_code, synonym.status_code) == (403, 403, 403)
    assert read.status_code == 200 and read.json()["name"] == "digit"
    assert not Concept.objects.filter(name__in=["cat", "number"]).exists()


def test_a_parent_from_another_project_is_404(project, admin, foreign_concept):
    response = api(admin).post(
        concepts_url(project), {"name": "trout", "parent": foreign_concept.id}, format="json"
    )

    assert response.status_code == 404 and "salmon" not in response.content.decode()
    assert not Concept.objects.filter(name="trout").exists()


def test_a_key_taken_by_a_sibling_is_400_with_a_message(project, admin, digit):
    response = api(admin).post(concepts_url(project), {"name": "Digit"}, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == "A concept named “digit” exists here."


def test_rename_then_archive(project, admin, digit):
    client = api(admin)
    url = f"/api/v1/concepts/{digit.id}/"

    renamed = client.patch(url, {"name": "Number", "key": "number"}, format="json")
    archived = client.patch(url, {"archived": True}, format="json")

    assert renamed.status_code == 200
    assert (renamed.json()["name"], renamed.json()["key"]) == ("Number", "number")
    assert archived.status_code == 200 and archived.json()["archived"] is True
    assert Concept.objects.filter(parent=digit, archived_at__isnull=True).count() == 0


def test_a_synonym_is_added_once(project, admin, digit):
    client = api(admin)
    url = f"/api/v1/concepts/{digit.id}/synonyms/"

    first = client.post(url, {"name": "Number"}, format="json")
    again = client.post(url, {"name": "number "}, format="json")

    assert first.status_code == 201 and first.json()["synonyms"] == ["Number"]
    assert again.status_code == 400
    assert again.json()["error"] == "“number” is already a synonym of “digit”."
    assert ConceptSynonym.objects.filter(concept=digit).count() == 1


def test_merge_moves_a_concept_into_another_of_the_project(project, admin):
    bird = concept_create(project=project, name="bird", actor=admin)
    birdie = concept_create(project=project, name="birdie", actor=admin)

    response = api(admin).post(
        f"/api/v1/concepts/{birdie.id}/merge/", {"into": bird.id}, format="json"
    )

    assert response.status_code == 200 and response.json()["id"] == bird.id
    assert "birdie" in response.json()["synonyms"]
    birdie.refresh_from_db()
    assert birdie.merged_into_id == bird.id and birdie.is_archived


def test_merge_into_another_projects_concept_is_404(project, admin, digit, foreign_concept):
    response = api(admin).post(
        f"/api/v1/concepts/{digit.id}/merge/", {"into": foreign_concept.id}, format="json"
    )

    assert response.status_code == 404 and "salmon" not in response.content.decode()
    digit.refresh_from_db()
    assert digit.merged_into_id is None and not digit.is_archived


def test_another_projects_concept_is_404_on_every_route(admin, foreign_concept):
    client = api(admin)
    base = f"/api/v1/concepts/{foreign_concept.id}/"

    answers = [
        client.get(base),
        client.patch(base, {"name": "mine"}, format="json"),
        client.post(f"{base}synonyms/", {"name": "mine"}, format="json"),
        client.post(f"{base}merge/", {"into": foreign_concept.id}, format="json"),
        client.get(f"{base}dictionary/"),
        client.put(f"{base}dictionary/", {"definition": "mine"}, format="json"),
    ]

    assert [a.status_code for a in answers] == [404] * 6
    assert all("salmon" not in a.content.decode() for a in answers)
    foreign_concept.refresh_from_db()
    assert foreign_concept.name == "salmon"


# ---------------------------------------------------------------------------- dictionary


def test_the_dictionary_keeps_versions(project, admin, annotator, digit):
    url = f"/api/v1/concepts/{digit.id}/dictionary/"
    client = api(admin)

    empty = client.get(url).json()
    first = client.put(url, {"definition": "A handwritten digit."}, format="json")
    second = client.put(url, {"is_not": "Letters."}, format="json")
    read = api(annotator).get(url).json()

    assert (empty["version"], empty["definition"]) == (0, "")
    assert first.status_code == 200 and first.json()["version"] == 1
    assert second.json()["version"] == 2
    assert (read["version"], read["definition"], read["is_not"]) == (
        2,
        "A handwritten digit.",
        "Letters.",
    )


def test_annotators_cannot_write_the_dictionary(project, annotator, digit):
    url = f"/api/v1/concepts/{digit.id}/dictionary/"

    response = api(annotator).put(url, {"definition": "mine"}, format="json")

    assert response.status_code == 403
    assert api(annotator).get(url).json()["version"] == 0


# ---------------------------------------------------------------------------- keys


def test_a_revoked_key_is_refused_at_once(project, admin):
    client = api(admin)
    assert client.get("/api/v1/projects/").status_code == 200

    Token.objects.filter(user=admin).delete()

    refused = client.get("/api/v1/projects/")
    assert refused.status_code == 401
    assert refused.json()["error"] == "Invalid token."
    assert refused["WWW-Authenticate"].startswith("Token")


# --------------------------------------------------------------------- odd ids and names


def test_the_eval_share_can_change_while_the_project_is_empty(project, admin):
    response = api(admin).patch(
        f"/api/v1/projects/{project.id}/", {"eval_fraction": 0.5}, format="json"
    )

    assert response.status_code == 200 and response.json()["eval_fraction"] == 0.5


def test_a_project_id_too_big_for_the_database_is_404(admin):
    client = api(admin)
    client.raise_request_exception = False

    response = client.get(f"/api/v1/projects/{10**30}/")

    assert response.status_code == 404


def test_a_key_without_letters_is_refused_on_rename(project, admin, digit):
    response = api(admin).patch(f"/api/v1/concepts/{digit.id}/", {"key": "!!"}, format="json")

    assert response.status_code == 400
    digit.refresh_from_db()
    assert digit.key == "digit"


def test_inviting_a_name_too_long_for_a_username_is_400(project, admin):
    client = api(admin)
    client.raise_request_exception = False

    response = client.post(members_url(project), {"user": "a" * 200}, format="json")

    assert response.status_code == 400


def test_inviting_a_full_width_spelling_of_a_member_is_not_a_server_error(project, admin):
    UserFactory(username="bob")
    client = api(admin)
    client.raise_request_exception = False

    response = client.post(members_url(project), {"user": "ｂｏｂ"}, format="json")

    assert response.status_code in (201, 400)
