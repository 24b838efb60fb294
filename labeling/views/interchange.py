"""Admin pages: export and import in the interchange formats (background jobs with
progress)."""

from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path

from labeling.models import InterchangeJob, Project
from labeling.permissions import ADMIN, project_view
from labeling.services.errors import ServiceError
from labeling.storage import media_path

Format = InterchangeJob.Format


@project_view(ADMIN)
def exchange_page(request: HttpRequest, project: Project) -> HttpResponse:
    """Export and import: start a job, watch its progress, download the file."""
    from labeling.services.interchange import (
        interchange_export_create,
        interchange_import_create,
    )

    if request.method == "POST":
        action, format = request.POST.get("action"), request.POST.get("format", "")
        try:
            if format not in Format.values:
                raise ServiceError("Pick one of the formats.")
            if action == "export":
                interchange_export_create(
                    project=project,
                    user=request.user,
                    format=format,
                    options={
                        "include_suggestions": request.POST.get("include_suggestions"),
                        "automatic_labels": request.POST.get("automatic_labels"),
                    },
                )
            elif action == "import":
                upload = request.FILES.get("file")
                if upload is None:
                    raise ServiceError("Choose the file to import.")
                interchange_import_create(
                    project=project,
                    user=request.user,
                    format=format,
                    uploaded_file=upload,
                    options={},
                )
            else:
                raise ServiceError(f"Unknown action {action!r}.")
        except ServiceError as exc:
            messages.error(request, str(exc))
        return redirect("labeling:exchange", project.id)
    return render(
        request,
        "labeling/exchange/page.html",
        {"project": project, "formats": Format.choices, **_jobs(project)},
    )


def _jobs(project: Project) -> dict:
    jobs = list(InterchangeJob.objects.filter(project=project).select_related("created_by")[:20])
    return {"jobs": jobs, "busy": any(not job.is_finished for job in jobs)}


@project_view(ADMIN)
def exchange_jobs(request: HttpRequest, project: Project) -> HttpResponse:
    """The job list alone, polled while a job runs."""
    return render(request, "labeling/exchange/_jobs.html", {"project": project, **_jobs(project)})


@project_view(ADMIN)
def exchange_download(request: HttpRequest, project: Project, job_id: int):
    job = get_object_or_404(
        InterchangeJob, project=project, id=job_id, kind=InterchangeJob.Kind.EXPORT
    )
    if job.status != InterchangeJob.Status.DONE or not job.file:
        raise Http404("This export is not ready.")
    file = media_path(job.file)
    return FileResponse(file.open("rb"), as_attachment=True, filename=file.name)


urlpatterns = [
    path("projects/<id:project_id>/exchange/", exchange_page, name="exchange"),
    path("projects/<id:project_id>/exchange/jobs/", exchange_jobs, name="exchange_jobs"),
    path(
        "projects/<id:project_id>/exchange/<id:job_id>/download/",
        exchange_download,
        name="exchange_download",
    ),
]
