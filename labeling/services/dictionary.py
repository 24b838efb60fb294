"""The visual dictionary: each save makes a new version of a concept's entry."""

import hashlib

from django.conf import settings
from django.db import transaction
from django.db.models import Max

from labeling.ingest.images import inspect_image
from labeling.models import Concept, ConceptChange, DictionaryEntry, DictionaryExample, Input
from labeling.services.errors import ServiceError
from labeling.storage import image_paths, project_folder, write_file

Kind = DictionaryExample.Kind


def dictionary_current(concept: Concept) -> DictionaryEntry | None:
    return concept.dictionary.order_by("-version").first()


def stored_example_image(*, concept: Concept, data: bytes) -> tuple[str, str]:
    """Validate and store an uploaded example image; returns (file, thumbnail) paths."""
    info = inspect_image(
        data,
        max_bytes=settings.LABELING_MAX_IMAGE_BYTES,
        max_pixels=settings.LABELING_MAX_IMAGE_PIXELS,
        thumb_size=settings.LABELING_THUMBNAIL_SIZE,
    )
    sha256 = hashlib.sha256(data).hexdigest()
    paths = image_paths(
        folder=f"{project_folder(concept.project_id)}/dictionary",
        sha256=sha256,
        extension=info.extension,
        thumb_extension=info.thumbnail_extension,
    )
    write_file(paths[0], data)
    write_file(paths[1], info.thumbnail)
    return paths


@transaction.atomic
def dictionary_entry_save(
    *,
    concept: Concept,
    actor,
    definition: str | None = None,
    is_not: str | None = None,
    add_inputs: list[tuple[str, Input]] = (),
    add_images: list[tuple[str, tuple[str, str]]] = (),
    remove_example_ids: list[int] = (),
) -> DictionaryEntry:
    """Write a new version: the current one with the given changes applied.

    ``add_inputs`` holds (kind, input) pairs; ``add_images`` (kind, (file, thumbnail)) pairs
    of images already stored with ``stored_example_image``.
    """
    Concept.objects.select_for_update().get(id=concept.id)  # one new version at a time
    current = dictionary_current(concept)
    for _, input in add_inputs:
        if input.project_id != concept.project_id:
            raise ServiceError("Examples must come from this project's inputs.")
    for kind, _ in [*add_inputs, *add_images]:
        if kind not in Kind.values:
            raise ServiceError(f"Unknown example kind {kind!r}.")
    last = concept.dictionary.aggregate(last=Max("version"))["last"] or 0
    entry = DictionaryEntry.objects.create(
        concept=concept,
        version=last + 1,
        definition=(current.definition if current else "") if definition is None else definition,
        is_not=(current.is_not if current else "") if is_not is None else is_not,
        created_by=actor,
    )
    kept = []
    if current:
        kept = [
            DictionaryExample(
                entry=entry,
                kind=e.kind,
                input_id=e.input_id,
                image=e.image,
                thumbnail=e.thumbnail,
                caption=e.caption,
                position=e.position,
            )
            for e in current.examples.all()
            if e.id not in set(remove_example_ids)
        ]
    seen_inputs = {(e.kind, e.input_id) for e in kept if e.input_id}
    position = max((e.position for e in kept), default=-1) + 1
    for kind, input in add_inputs:
        if (kind, input.id) in seen_inputs:
            continue
        kept.append(DictionaryExample(entry=entry, kind=kind, input=input, position=position))
        seen_inputs.add((kind, input.id))
        position += 1
    for kind, (file, thumbnail) in add_images:
        kept.append(
            DictionaryExample(
                entry=entry, kind=kind, image=file, thumbnail=thumbnail, position=position
            )
        )
        position += 1
    DictionaryExample.objects.bulk_create(kept)
    ConceptChange.objects.create(
        project_id=concept.project_id,
        concept=concept,
        actor=actor,
        action=ConceptChange.Action.DICTIONARY,
        details={"version": entry.version, "examples": len(kept)},
    )
    return entry
