"""The taxonomy editor: one page, every change an htmx POST that re-renders the tree."""

from collections.abc import Callable

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_POST

from labeling import selectors
from labeling.models import Concept, ConceptSynonym, Project
from labeling.permissions import ADMIN, project_view
from labeling.services import taxonomy
from labeling.services.errors import ServiceError


def _context(project: Project, **extra) -> dict:
    active = Concept.objects.filter(project=project, archived_at__isnull=True).select_related(
        "parent"
    )
    return {
        "project": project,
        "tree": selectors.concept_tree(project),
        "changes": selectors.concept_changes(project),
        "active_concepts": active,
        **extra,
    }


@project_view()
def taxonomy_page(request: HttpRequest, project: Project) -> HttpResponse:
    return render(request, "labeling/taxonomy/page.html", _context(project))


def _concept(project: Project, value: str | None) -> Concept | None:
    """The project's concept with id ``value``; None when no value is given."""
    if not value:
        return None
    if not value.isdigit():
        raise Http404("No such concept.")
    return get_object_or_404(Concept, id=value, project=project)


def _required_concept(project: Project, value: str | None) -> Concept:
    concept = _concept(project, value)
    if concept is None:
        raise ServiceError("Choose a concept.")
    return concept


def _create(project, post, actor):
    concept = taxonomy.concept_create(
        project=project,
        name=post.get("name", ""),
        parent=_concept(project, post.get("parent")),
        exclusive=bool(post.get("exclusive")),
        scope=post.get("scope") or Concept.Scope.INPUT,
        actor=actor,
    )
    return f"Added “{concept.name}”."


def _rename(project, post, actor):
    concept = _required_concept(project, post.get("concept"))
    taxonomy.concept_rename(
        concept=concept, name=post.get("name", ""), key=post.get("key") or None, actor=actor
    )
    return f"Renamed to “{concept.name}”."


def _exclusive(project, post, actor):
    concept = _required_concept(project, post.get("concept"))
    taxonomy.concept_set_exclusive(concept=concept, exclusive=post.get("value") == "1", actor=actor)
    return f"“{concept.name}” is now {'single choice' if concept.exclusive else 'multi-label'}."


def _scope(project, post, actor):
    concept = _required_concept(project, post.get("concept"))
    taxonomy.concept_set_scope(concept=concept, scope=post.get("value", ""), actor=actor)
    return f"“{concept.name}” now labels {concept.get_scope_display().lower()}."


def _move(project, post, actor):
    concept = _required_concept(project, post.get("concept"))
    taxonomy.concept_move(
        concept=concept, parent=_concept(project, post.get("parent")), actor=actor
    )
    return f"Moved “{concept.name}”."


def _reorder(offset: int) -> Callable:
    def handler(project, post, actor):
        concept = _required_concept(project, post.get("concept"))
        taxonomy.concept_reorder(concept=concept, offset=offset, actor=actor)
        return ""

    return handler


def _synonym_add(project, post, actor):
    concept = _required_concept(project, post.get("concept"))
    synonym = taxonomy.concept_synonym_add(
        concept=concept, name=post.get("synonym", ""), actor=actor
    )
    return f"“{synonym.name}” now means “{concept.name}”."


def _synonym_remove(project, post, actor):
    synonym_id = post.get("synonym_id", "")
    if not synonym_id.isdigit():
        raise Http404("No such synonym.")
    synonym = get_object_or_404(ConceptSynonym, id=synonym_id, project_id=project.id)
    taxonomy.concept_synonym_remove(synonym=synonym, actor=actor)
    return f"Removed synonym “{synonym.name}”."


def _merge(project, post, actor):
    source = _required_concept(project, post.get("concept"))
    target = _concept(project, post.get("target"))
    if target is None:
        raise ServiceError("Choose the concept to merge into.")
    taxonomy.concept_merge(source=source, target=target, actor=actor)
    return f"Merged “{source.name}” into “{target.name}”; its labels now count for it."


def _archive(project, post, actor):
    concept = taxonomy.concept_archive(
        concept=_required_concept(project, post.get("concept")), actor=actor
    )
    return f"Archived “{concept.name}”. Its labels are kept."


def _restore(project, post, actor):
    concept = taxonomy.concept_restore(
        concept=_required_concept(project, post.get("concept")), actor=actor
    )
    return f"Restored “{concept.name}”."


ACTIONS: dict[str, Callable] = {
    "create": _create,
    "rename": _rename,
    "exclusive": _exclusive,
    "scope": _scope,
    "move": _move,
    "up": _reorder(-1),
    "down": _reorder(+1),
    "synonym_add": _synonym_add,
    "synonym_remove": _synonym_remove,
    "merge": _merge,
    "archive": _archive,
    "restore": _restore,
}


@require_POST
@project_view(ADMIN)
def taxonomy_action(request: HttpRequest, project: Project) -> HttpResponse:
    handler = ACTIONS.get(request.POST.get("action", ""))
    if handler is None:
        return HttpResponseBadRequest("Unknown taxonomy action.")
    notice, error = "", ""
    try:
        notice = handler(project, request.POST, request.user)
    except ServiceError as exc:
        error = str(exc)
    template = "labeling/taxonomy/_editor.html" if request.htmx else "labeling/taxonomy/page.html"
    status = 400 if error and not request.htmx else 200
    return render(request, template, _context(project, notice=notice, error=error), status=status)
