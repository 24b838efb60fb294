"""Projects and memberships."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from labeling import hooks
from labeling.models import Membership, Project, Role
from labeling.services.errors import ServiceError
from labeling.services.queue import queue_overlap_change

User = get_user_model()
USERNAME_MAX_LENGTH = User._meta.get_field(User.USERNAME_FIELD).max_length


@transaction.atomic
def project_create(
    *,
    name: str,
    created_by: AbstractBaseUser,
    description: str = "",
    eval_fraction: float = 0.2,
    overlap: int = 1,
) -> Project:
    """Create a project; its creator becomes its first admin. It gets its routing classifier
    at once, so every client (browser, API, scheduler) finds the same model."""
    name = name.strip()
    if not name:
        raise ServiceError("A project needs a name.")
    project = Project.objects.create(
        name=name,
        description=description,
        eval_fraction=eval_fraction,
        overlap=overlap,
        created_by=created_by,
    )
    Membership.objects.create(project=project, user=created_by, role=Role.ADMIN)
    hooks.announce(hooks.PROJECT_CREATED, project=project)
    return project


def project_update(*, project: Project, **fields) -> Project:
    """Change settings. The eval fraction is fixed once the first input has landed."""
    changes_split = fields.get("eval_fraction", project.eval_fraction) != project.eval_fraction
    if changes_split and project.inputs.exists():
        raise ServiceError(
            "The evaluation share is fixed once inputs exist, so the eval split never changes."
        )
    old_overlap = project.overlap
    for name, value in fields.items():
        setattr(project, name, value)
    project.full_clean()
    with transaction.atomic():
        project.save()
        if project.overlap != old_overlap:
            queue_overlap_change(project=project, old=old_overlap)
    return project


def _check_role(role: str, review_tier: int | None) -> int | None:
    if role not in Role.values:
        raise ServiceError(f"Unknown role {role!r}.")
    if role == Role.REVIEWER:
        if not review_tier or review_tier < 1:
            raise ServiceError("A reviewer needs a review tier of 1 or more.")
        return review_tier
    return None


@transaction.atomic
def membership_invite(
    *, project: Project, identifier: str, role: str, review_tier: int | None = None
) -> tuple[Membership, bool]:
    """Add a user (by username or e-mail) to a project with a role.

    A person without an account gets one without a usable password; the second value is
    True then, and the admin hands them the set-password link the page shows.
    """
    # As create_user stores a username (NFKC): 'ｂｏｂ' is bob.
    identifier = User.normalize_username(identifier.strip())
    if not identifier:
        raise ServiceError("Give a username or an e-mail address.")
    tier = _check_role(role, review_tier)
    user = User.objects.filter(username__iexact=identifier).first() or (
        User.objects.filter(email__iexact=identifier).first() if "@" in identifier else None
    )
    new_user = user is None
    if new_user:
        username = identifier.split("@")[0] if "@" in identifier else identifier
        if User.objects.filter(username__iexact=username).exists():
            username = identifier
        if len(username) > USERNAME_MAX_LENGTH:
            raise ServiceError(f"A username has at most {USERNAME_MAX_LENGTH} characters.")
        user = User.objects.create_user(
            username=username, email=identifier if "@" in identifier else ""
        )
        user.set_unusable_password()
        user.save(update_fields=["password"])
    if Membership.objects.filter(project=project, user=user).exists():
        raise ServiceError(f"{user.username} is already a member of this project.")
    membership = Membership.objects.create(project=project, user=user, role=role, review_tier=tier)
    return membership, new_user


def _admin_count(project: Project) -> int:
    return Membership.objects.filter(project=project, role=Role.ADMIN).count()


@transaction.atomic
def membership_update(
    *, membership: Membership, role: str, review_tier: int | None = None
) -> Membership:
    tier = _check_role(role, review_tier)
    if (
        membership.role == Role.ADMIN
        and role != Role.ADMIN
        and _admin_count(membership.project) == 1
    ):
        raise ServiceError("A project keeps at least one admin.")
    membership.role = role
    membership.review_tier = tier
    membership.save(update_fields=["role", "review_tier"])
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership) -> None:
    if membership.role == Role.ADMIN and _admin_count(membership.project) == 1:
        raise ServiceError("A project keeps at least one admin.")
    membership.delete()
