"""The admin's Quality page: how much, how fast and how well each annotator labels, and how
far annotators agree."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path

from labeling.models import Project
from labeling.permissions import ADMIN, project_view
from labeling.quality import project_quality


@project_view(ADMIN)
def quality_page(request: HttpRequest, project: Project) -> HttpResponse:
    return render(
        request,
        "labeling/quality.html",
        {"project": project, "report": project_quality(project)},
    )


urlpatterns = [
    path("projects/<id:project_id>/quality/", quality_page, name="quality"),
]
