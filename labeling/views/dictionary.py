"""A concept's page: its visual dictionary (editable by admins) and the version history."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from labeling.forms import DictionaryForm
from labeling.ingest.images import ImageRejected
from labeling.models import Concept, DictionaryExample, Input, Project
from labeling.permissions import ADMIN, check_role, project_view
from labeling.services.dictionary import (
    dictionary_current,
    dictionary_entry_save,
    stored_example_image,
)
from labeling.services.errors import ServiceError

Kind = DictionaryExample.Kind


@project_view()
def concept_detail(request: HttpRequest, project: Project, concept_id: int) -> HttpResponse:
    concept = get_object_or_404(Concept, id=concept_id, project=project)
    current = dictionary_current(concept)
    form = DictionaryForm(
        request.POST or None,
        initial={"definition": current.definition, "is_not": current.is_not} if current else {},
    )
    if request.method == "POST":
        check_role(request.membership, ADMIN)
        if form.is_valid():
            try:
                _save(request, concept, form.cleaned_data)
            except (ServiceError, ImageRejected) as exc:
                form.add_error(None, str(exc))
            else:
                return redirect("labeling:concept", project_id=project.id, concept_id=concept.id)
    history = concept.dictionary.select_related("created_by").prefetch_related("examples")
    return render(
        request,
        "labeling/concept.html",
        {
            "project": project,
            "concept": concept,
            "current": current,
            "form": form,
            "history": history,
            "synonyms": concept.synonyms.all(),
            "kinds": Kind.choices,
            "can_edit": request.membership.is_admin,
            # What a refused form held, shown again beside its error instead of cleared.
            "typed": {k: " ".join(request.POST.getlist(f"add_input_{k}")) for k in Kind.values},
            "removing": set(request.POST.getlist("remove_example")),
        },
    )


def _save(request: HttpRequest, concept: Concept, data: dict) -> None:
    post = request.POST
    add_inputs = []
    for kind in Kind.values:
        for raw in post.getlist(f"add_input_{kind}"):
            for token in raw.replace(",", " ").split():
                if not token.isdigit():
                    raise ServiceError(f"“{token}” is not an input id.")
                input = Input.objects.filter(id=int(token), project=concept.project).first()
                if input is None:
                    raise ServiceError(f"Input {token} is not in this project.")
                add_inputs.append((kind, input))
    add_images = []
    for kind in Kind.values:
        for upload in request.FILES.getlist(f"upload_{kind}"):
            try:
                add_images.append((kind, stored_example_image(concept=concept, data=upload.read())))
            except ImageRejected as exc:
                raise ImageRejected(f"{upload.name}: {exc}") from exc
    remove = [int(x) for x in post.getlist("remove_example") if x.isdigit()]
    entry = dictionary_entry_save(
        concept=concept,
        actor=request.user,
        definition=data["definition"],
        is_not=data["is_not"],
        add_inputs=add_inputs,
        add_images=add_images,
        remove_example_ids=remove,
    )
    messages.success(request, f"Saved version {entry.version} of the dictionary.")
