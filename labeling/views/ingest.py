"""Upload page, the upload endpoint, and the batch page with its progress and report."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFilesSent
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from labeling.ingest.images import ALLOWED_LABEL, human_bytes
from labeling.models import Project, UploadBatch, UploadItem
from labeling.permissions import ADMIN, project_view
from labeling.services.errors import ServiceError
from labeling.services.ingest import upload_batch_create


@project_view(ADMIN)
def upload_page(request: HttpRequest, project: Project) -> HttpResponse:
    return render(
        request,
        "labeling/ingest/upload.html",
        {
            "project": project,
            "allowed": ALLOWED_LABEL,
            "max_image": human_bytes(settings.LABELING_MAX_IMAGE_BYTES),
            "max_archive": human_bytes(settings.LABELING_MAX_ARCHIVE_BYTES),
            "max_pixels": settings.LABELING_MAX_IMAGE_PIXELS,
            "batches": project.upload_batches.all()[:10],
        },
    )


@require_POST
@project_view(ADMIN)
def upload_create(request: HttpRequest, project: Project) -> HttpResponse:
    try:
        files = request.FILES.getlist("files")
    except TooManyFilesSent:
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FILES
        message = f"Too many files in one upload (over {limit}). Send them as a .zip archive."
        return JsonResponse({"error": message}, status=400)
    except RequestDataTooBig:
        return JsonResponse({"error": "The request is too large."}, status=413)
    try:
        batch = upload_batch_create(
            project=project,
            user=request.user,
            files=files,
            folder_labels=request.POST.get("folder_labels") in ("1", "on", "true"),
        )
    except ServiceError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    url = reverse("labeling:batch", kwargs={"project_id": project.id, "batch_id": batch.id})
    return JsonResponse({"batch": batch.id, "url": url}, status=201)


@project_view(ADMIN)
def batch_detail(request: HttpRequest, project: Project, batch_id: int) -> HttpResponse:
    batch = get_object_or_404(UploadBatch, id=batch_id, project=project)
    items = batch.items.exclude(status=UploadItem.Status.PENDING).select_related("input")
    problems = items.exclude(status__in=[UploadItem.Status.STORED, UploadItem.Status.EXPANDED])
    counts = {status: 0 for status in UploadItem.Status.values}
    for status in items.values_list("status", flat=True):
        counts[status] += 1
    context = {
        "project": project,
        "batch": batch,
        "counts": counts,
        "problems": problems,
        "stored": items.filter(status=UploadItem.Status.STORED)[:48],
        "unknown_folders": sorted(batch.unknown_folders.items(), key=lambda kv: (-kv[1], kv[0])),
    }
    template = "labeling/ingest/_batch.html" if request.htmx else "labeling/ingest/batch.html"
    return render(request, template, context)
