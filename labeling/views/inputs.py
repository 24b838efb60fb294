"""Input browsing and image files, served only to members of the input's project."""

from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.cache import cache_control

from labeling import selectors
from labeling.models import DictionaryExample, Input, Project, Split
from labeling.permissions import project_view
from labeling.storage import media_path

PAGE_SIZE = 60


@project_view()
def input_list(request: HttpRequest, project: Project) -> HttpResponse:
    split = request.GET.get("split", "")
    query = request.GET.get("q", "")
    page = Paginator(selectors.project_inputs(project, split=split, query=query), PAGE_SIZE)
    context = {
        "project": project,
        "page": page.get_page(request.GET.get("page")),
        "split": split,
        "q": query,
        "splits": Split.choices,
        "pick": request.GET.get("pick", ""),
        "concept_id": request.GET.get("concept", ""),
    }
    template = "labeling/inputs/_grid.html" if request.htmx else "labeling/inputs/list.html"
    return render(request, template, context)


def _file_response(relative: str) -> FileResponse:
    path = media_path(relative)
    if not path.exists():
        raise Http404("The image file is missing.")
    return FileResponse(path.open("rb"))


@cache_control(private=True, max_age=3600)
@project_view()
def input_image(request: HttpRequest, project: Project, input_id: int, variant: str):
    input = get_object_or_404(Input, id=input_id, project=project)
    return _file_response(input.thumbnail if variant == "thumb" else input.file)


@cache_control(private=True, max_age=3600)
@project_view()
def example_image(request: HttpRequest, project: Project, example_id: int, variant: str):
    example = get_object_or_404(
        DictionaryExample, id=example_id, entry__concept__project=project, input__isnull=True
    )
    return _file_response(example.thumbnail if variant == "thumb" else example.image)
