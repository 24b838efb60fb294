from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.views.decorators.http import require_POST

from labeling import selectors
from labeling.forms import InviteForm, MembershipForm, ProjectCreateForm, ProjectSettingsForm
from labeling.models import Membership, Project
from labeling.permissions import ADMIN, can_create_projects, project_view
from labeling.review_rules import tier_unreached
from labeling.services.errors import ServiceError
from labeling.services.projects import (
    membership_invite,
    membership_remove,
    membership_update,
    project_create,
    project_update,
)


@login_required
def project_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "labeling/project_list.html",
        {
            "projects": selectors.project_list_for_user(request.user),
            "can_create": can_create_projects(request.user),
        },
    )


@login_required
def project_new(request: HttpRequest) -> HttpResponse:
    if not can_create_projects(request.user):
        raise PermissionDenied("Ask an administrator to create projects.")
    form = ProjectCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            project = project_create(created_by=request.user, **form.cleaned_data)
        except ServiceError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Project “{project.name}” created. Add its concepts next.")
            return redirect("labeling:taxonomy", project_id=project.id)
    return render(request, "labeling/project_new.html", {"form": form})


@project_view()
def project_dashboard(request: HttpRequest, project: Project) -> HttpResponse:
    return render(
        request,
        "labeling/dashboard.html",
        {
            "project": project,
            "dashboard": selectors.project_dashboard(project),
            "recent_batches": project.upload_batches.all()[:5],
        },
    )


@project_view(ADMIN)
def project_settings(request: HttpRequest, project: Project) -> HttpResponse:
    form = ProjectSettingsForm(request.POST or None, instance=Project.objects.get(id=project.id))
    if project.inputs.exists():
        form.fields["eval_fraction"].disabled = True
    if request.method == "POST" and form.is_valid():
        try:
            project_update(project=project, **form.cleaned_data)
        except ServiceError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Settings saved.")
            return redirect("labeling:settings", project_id=project.id)
    return render(request, "labeling/settings.html", {"project": project, "form": form})


def _invite_link(request: HttpRequest, user) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return request.build_absolute_uri(reverse("invite_accept", args=[uid, token]))


@project_view(ADMIN)
def project_members(request: HttpRequest, project: Project) -> HttpResponse:
    form = InviteForm(request.POST or None)
    invite_link = invited = ""
    unreached_tier = None
    if request.method == "POST" and form.is_valid():
        try:
            membership, new_user = membership_invite(project=project, **form.cleaned_data)
        except ServiceError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"{membership.user.username} joined as {membership.role}.")
            if tier_unreached(membership.review_tier, project.review_tiers):
                unreached_tier, invited = membership.review_tier, membership.user.username
            if new_user:
                invite_link = _invite_link(request, membership.user)
            form = InviteForm()
    return render(
        request,
        "labeling/members.html",
        {
            "project": project,
            "form": form,
            "invite_link": invite_link,
            "unreached_tier": unreached_tier,
            "invited": invited,
            "members": selectors.project_members(project),
            "roles": MembershipForm.base_fields["role"].choices,
        },
    )


@require_POST
@project_view(ADMIN)
def membership_change(request: HttpRequest, project: Project, membership_id: int) -> HttpResponse:
    membership = get_object_or_404(Membership, id=membership_id, project=project)
    form = MembershipForm(request.POST)
    try:
        if request.POST.get("remove"):
            membership_remove(membership=membership)
            messages.success(request, f"{membership.user.username} removed from the project.")
        elif form.is_valid():
            membership_update(membership=membership, **form.cleaned_data)
            messages.success(request, f"{membership.user.username} is now {membership.role}.")
        else:
            messages.error(request, "Choose a role (and a tier for reviewers).")
    except ServiceError as exc:
        messages.error(request, str(exc))
    return redirect("labeling:members", project_id=project.id)
