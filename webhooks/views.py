"""The Webhooks page (admins): the project's webhooks with their delivery log, add, remove.
Reached from the Export page, under its tab."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from labeling.models import Project
from labeling.permissions import ADMIN, project_view
from labeling.services.errors import ServiceError
from webhooks.models import Webhook
from webhooks.services import webhook_create, webhook_delete


@project_view(ADMIN)
def webhooks_page(request: HttpRequest, project: Project) -> HttpResponse:
    secret = None
    if request.method == "POST":
        try:
            hook = webhook_create(
                project=project,
                actor=request.user,
                url=request.POST.get("url", "").strip(),
                events=request.POST.getlist("events"),
            )
            secret = hook.secret
            messages.success(request, "Webhook added. Copy its secret now: it is shown once.")
        except ServiceError as exc:
            messages.error(request, str(exc))
    hooks = project.webhooks.prefetch_related("deliveries")
    return render(
        request,
        "webhooks/webhooks.html",
        {
            "project": project,
            "hooks": [(h, list(h.deliveries.all()[:10])) for h in hooks],
            "events": Webhook.Event.choices,
            "secret": secret,
        },
    )


@project_view(ADMIN)
@require_POST
def webhook_remove(request: HttpRequest, project: Project, webhook_id: int) -> HttpResponse:
    hook = get_object_or_404(Webhook, project=project, id=webhook_id)
    webhook_delete(webhook=hook, actor=request.user)
    messages.success(request, f"Webhook {hook.url} removed.")
    return redirect("webhooks:list", project.id)
