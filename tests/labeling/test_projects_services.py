"""Projects and memberships: who is in a project, with which role."""

import pytest
from django.contrib.auth import get_user_model
from factories import InputFactory, UserFactory

from labeling.models import Membership, Role
from labeling.services.errors import ServiceError
from labeling.services.projects import (
    membership_invite,
    membership_remove,
    membership_update,
    project_create,
    project_update,
)

pytestmark = pytest.mark.django_db

User = get_user_model()


def test_project_creator_becomes_its_admin(admin):
    project = project_create(name="  Birds ", created_by=admin, eval_fraction=0.1, overlap=2)

    assert (project.name, project.eval_fraction, project.overlap) == ("Birds", 0.1, 2)
    membership = Membership.objects.get(project=project)
    assert (membership.user, membership.role) == (admin, Role.ADMIN)


def test_project_needs_a_name(admin):
    with pytest.raises(ServiceError, match="needs a name"):
        project_create(name="  ", created_by=admin)


def test_invite_existing_user_by_username_ignoring_case(project):
    bob = UserFactory(username="Bob")

    membership, new_user = membership_invite(project=project, identifier=" bob ", role="annotator")

    assert (membership.user, membership.role, new_user) == (bob, Role.ANNOTATOR, False)


def test_invite_existing_user_by_email(project):
    carol = UserFactory(username="carol", email="Carol@Example.com")

    membership, new_user = membership_invite(
        project=project, identifier="carol@example.com", role="reviewer", review_tier=2
    )

    assert (membership.user, membership.role, membership.review_tier) == (carol, "reviewer", 2)
    assert new_user is False


def test_invite_unknown_email_creates_an_account_without_a_usable_password(project):
    membership, new_user = membership_invite(
        project=project, identifier="dave@example.com", role="annotator"
    )

    assert new_user is True
    dave = membership.user
    assert (dave.username, dave.email) == ("dave", "dave@example.com")
    assert not dave.has_usable_password()


def test_invite_unknown_email_whose_local_part_is_taken_uses_the_whole_address(project):
    UserFactory(username="dave", email="dave@elsewhere.org")

    membership, new_user = membership_invite(
        project=project, identifier="dave@example.com", role="annotator"
    )

    assert new_user is True
    assert membership.user.username == "dave@example.com"


def test_reviewer_without_a_tier_is_refused(project):
    UserFactory(username="erin")

    with pytest.raises(ServiceError, match="review tier"):
        membership_invite(project=project, identifier="erin", role="reviewer")

    assert not Membership.objects.filter(user__username="erin").exists()


def test_non_reviewers_do_not_keep_a_tier(project):
    UserFactory(username="frank")

    membership, _ = membership_invite(
        project=project, identifier="frank", role="annotator", review_tier=2
    )

    assert membership.review_tier is None


def test_inviting_a_member_twice_is_refused(project, annotator):
    with pytest.raises(ServiceError, match="already a member"):
        membership_invite(project=project, identifier=annotator.username, role="admin")


def test_unknown_role_is_refused(project):
    with pytest.raises(ServiceError, match="Unknown role"):
        membership_invite(project=project, identifier="gina@example.com", role="owner")


def test_last_admin_cannot_be_demoted(admin_membership):
    with pytest.raises(ServiceError, match="at least one admin"):
        membership_update(membership=admin_membership, role=Role.ANNOTATOR)

    admin_membership.refresh_from_db()
    assert admin_membership.role == Role.ADMIN


def test_last_admin_cannot_be_removed(admin_membership):
    with pytest.raises(ServiceError, match="at least one admin"):
        membership_remove(membership=admin_membership)

    assert Membership.objects.filter(id=admin_membership.id).exists()


def test_an_admin_can_step_down_when_another_admin_remains(project, admin_membership, annotator):
    other = Membership.objects.get(project=project, user=annotator)
    membership_update(membership=other, role=Role.ADMIN)

    membership_update(membership=admin_membership, role=Role.REVIEWER, review_tier=1)

    admin_membership.refresh_from_db()
    assert (admin_membership.role, admin_membership.review_tier) == (Role.REVIEWER, 1)


def test_member_can_be_removed(project, annotator):
    membership = Membership.objects.get(project=project, user=annotator)

    membership_remove(membership=membership)

    assert not Membership.objects.filter(project=project, user=annotator).exists()


def test_eval_fraction_can_change_before_any_input(project):
    project_update(project=project, eval_fraction=0.3)

    project.refresh_from_db()
    assert project.eval_fraction == 0.3


def test_eval_fraction_is_fixed_once_inputs_exist(project):
    InputFactory(project=project)

    with pytest.raises(ServiceError, match="fixed once inputs exist"):
        project_update(project=project, eval_fraction=0.5)

    project.refresh_from_db()
    assert project.eval_fraction == 0.2


def test_other_settings_can_change_once_inputs_exist(project):
    InputFactory(project=project)

    project_update(project=project, name="Garden birds", eval_fraction=0.2, overlap=3)

    project.refresh_from_db()
    assert (project.name, project.overlap) == ("Garden birds", 3)
