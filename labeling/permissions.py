"""Who may see and do what in a project. Every project view goes through ``project_view``."""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse

from labeling.ids import id_fits
from labeling.models import Membership, Project, Role

ANY_ROLE = tuple(Role.values)
ADMIN = (Role.ADMIN,)


def project_membership(user, project_id: int) -> tuple[Project, Membership]:
    """The project and the user's membership in it; Http404 for anyone outside it.

    A superuser acts as an admin of every project (an unsaved membership stands for that).
    """
    if not id_fits(int(project_id)):
        raise Http404("No such project.")
    membership = (
        Membership.objects.select_related("project")
        .filter(project_id=project_id, user_id=user.id)
        .first()
    )
    if membership is not None:
        return membership.project, membership
    project = Project.objects.filter(id=project_id).first() if user.is_superuser else None
    if project is None:
        raise Http404("No such project.")
    return project, Membership(project=project, user=user, role=Role.ADMIN)


def check_role(membership: Membership, roles: tuple[str, ...]) -> None:
    if membership.role not in roles:
        raise PermissionDenied("Your role in this project does not allow this.")


def project_view(roles: tuple[str, ...] = ANY_ROLE) -> Callable:
    """Decorate a view taking ``(request, project, ...)``: members in ``roles`` only.

    Non-members get 404 (the project's existence is not revealed), members with another
    role get 403. ``request.membership`` is set for templates.
    """

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @login_required
        @wraps(view)
        def wrapped(request: HttpRequest, project_id: int, *args, **kwargs) -> HttpResponse:
            project, membership = project_membership(request.user, project_id)
            check_role(membership, roles)
            request.membership = membership
            return view(request, project, *args, **kwargs)

        return wrapped

    return decorator


def can_create_projects(user) -> bool:
    return user.is_authenticated and (user.is_staff or user.has_perm("labeling.add_project"))
