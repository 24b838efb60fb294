"""The taxonomy: create, rename, move, reorder, merge, archive. Every change is recorded."""

import re

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from labeling.models import (
    AnnotationLabel,
    Concept,
    ConceptChange,
    ConceptSynonym,
    Project,
    Region,
)
from labeling.services.errors import ServiceError

Action = ConceptChange.Action


def concept_key_from_name(name: str) -> str:
    key = re.sub(r"[^\w-]+", "_", name.strip().lower()).strip("_")
    return key[:100]


def _checked_key(raw: str) -> str:
    """The key made from ``raw``; a ServiceError when nothing of it is left."""
    key = concept_key_from_name(raw)
    if not key:
        raise ServiceError(f"“{raw.strip()}” has no letter or digit to make a key from.")
    return key


def normalize_synonym(name: str) -> str:
    return " ".join(name.strip().lower().split())


def _record(concept: Concept, actor, action: str, **details) -> None:
    ConceptChange.objects.create(
        project_id=concept.project_id, concept=concept, actor=actor, action=action, details=details
    )


def _siblings(project: Project, parent: Concept | None):
    return Concept.objects.filter(project=project, parent=parent)


def _check_key_free(project: Project, parent: Concept | None, key: str, exclude: int | None = None):
    clash = _siblings(project, parent).filter(key=key)
    if exclude:
        clash = clash.exclude(id=exclude)
    existing = clash.first()
    if existing:
        state = " (archived)" if existing.is_archived else ""
        raise ServiceError(f"A concept named “{existing.name}” exists here{state}.")


def _check_parent(project: Project, parent: Concept | None) -> None:
    if parent is not None and (parent.project_id != project.id or parent.is_archived):
        raise ServiceError("The parent concept is not an active concept of this project.")


@transaction.atomic
def concept_create(
    *,
    project: Project,
    name: str,
    actor,
    parent: Concept | None = None,
    exclusive: bool = False,
    key: str = "",
    scope: str = Concept.Scope.INPUT,
) -> Concept:
    name = name.strip()
    if not name:
        raise ServiceError("A concept needs a name.")
    _check_parent(project, parent)
    _check_scope(scope, parent)
    key = _checked_key(key or name)
    _check_key_free(project, parent, key)
    last = _siblings(project, parent).aggregate(last=Max("position"))["last"]
    concept = Concept.objects.create(
        project=project,
        parent=parent,
        name=name,
        key=key,
        exclusive=exclusive,
        scope=scope,
        position=0 if last is None else last + 1,
    )
    _record(concept, actor, Action.CREATE, name=name, parent=parent.name if parent else None)
    return concept


@transaction.atomic
def concept_rename(*, concept: Concept, name: str, actor, key: str | None = None) -> Concept:
    name = name.strip()
    if not name:
        raise ServiceError("A concept needs a name.")
    new_key = _checked_key(key) if key else concept.key
    _check_key_free(concept.project, concept.parent, new_key, exclude=concept.id)
    old_name, old_key = concept.name, concept.key
    concept.name, concept.key = name, new_key
    concept.save(update_fields=["name", "key"])
    _record(concept, actor, Action.RENAME, old=old_name, new=name, old_key=old_key, key=new_key)
    return concept


@transaction.atomic
def concept_set_exclusive(*, concept: Concept, exclusive: bool, actor) -> Concept:
    if concept.exclusive != exclusive:
        concept.exclusive = exclusive
        concept.save(update_fields=["exclusive"])
        _record(concept, actor, Action.EXCLUSIVE, exclusive=exclusive)
    return concept


def _check_scope(scope: str, parent: Concept | None) -> None:
    if scope not in Concept.Scope.values:
        known = ", ".join(Concept.Scope.values)
        raise ServiceError(f"Unknown scope {scope!r}: use one of {known}.")
    if parent is not None and scope != Concept.Scope.INPUT:
        raise ServiceError("Only a top-level concept sets what its group labels.")


@transaction.atomic
def concept_set_scope(*, concept: Concept, scope: str, actor) -> Concept:
    """Whether the concept's group labels whole inputs or boxes. Only on a top-level
    concept, and only while nothing of the group is labeled yet: labels of one kind do not
    turn into the other."""
    _check_scope(scope, concept.parent)
    if concept.parent_id is not None:
        raise ServiceError("Only a top-level concept sets what its group labels.")
    if concept.scope == scope:
        return concept
    used = _labels_in_group(concept)
    if used:
        raise ServiceError(
            f"“{concept.name}” already has {used} label{'s' if used != 1 else ''}: what a group "
            "labels can change only before anything in it is labeled."
        )
    concept.scope = scope
    concept.save(update_fields=["scope"])
    _record(concept, actor, Action.SCOPE, scope=scope)
    return concept


def _labels_in_group(concept: Concept) -> int:
    group = [concept.id, *(c.id for c in _descendants(concept))]
    return (
        AnnotationLabel.objects.filter(concept_id__in=group).count()
        + Region.objects.filter(concept_id__in=group).count()
    )


def _draws_boxes(concept: Concept | None) -> bool:
    while concept is not None:
        if concept.scope == Concept.Scope.REGIONS:
            return True
        concept = concept.parent
    return False


def _is_descendant(candidate: Concept | None, ancestor: Concept) -> bool:
    while candidate is not None:
        if candidate.id == ancestor.id:
            return True
        candidate = candidate.parent
    return False


@transaction.atomic
def concept_move(*, concept: Concept, parent: Concept | None, actor) -> Concept:
    """Put a concept under another parent (or at the root), at the end of its new siblings."""
    _check_parent(concept.project, parent)
    if _is_descendant(parent, concept):
        raise ServiceError("A concept cannot move under itself or its own children.")
    _check_key_free(concept.project, parent, concept.key, exclude=concept.id)
    if _draws_boxes(parent) != _draws_boxes(concept.parent) and _labels_in_group(concept):
        raise ServiceError(
            f"“{concept.name}” has labels and the new parent labels "
            f"{'boxes' if _draws_boxes(parent) else 'whole images'}: labels of one kind do not "
            "turn into the other."
        )
    old_parent = concept.parent
    last = _siblings(concept.project, parent).aggregate(last=Max("position"))["last"]
    concept.parent = parent
    concept.position = 0 if last is None else last + 1
    concept.save(update_fields=["parent", "position"])
    _record(
        concept,
        actor,
        Action.MOVE,
        old=old_parent.name if old_parent else None,
        new=parent.name if parent else None,
    )
    return concept


@transaction.atomic
def concept_reorder(*, concept: Concept, offset: int, actor) -> Concept:
    """Move a concept up (negative offset) or down among its siblings."""
    siblings = list(_siblings(concept.project, concept.parent).order_by("position", "id"))
    index = next(i for i, sibling in enumerate(siblings) if sibling.id == concept.id)
    target = max(0, min(len(siblings) - 1, index + offset))
    if target == index:
        return concept
    siblings.insert(target, siblings.pop(index))
    for position, sibling in enumerate(siblings):
        if sibling.position != position:
            sibling.position = position
            sibling.save(update_fields=["position"])
    _record(concept, actor, Action.REORDER, old=index, new=target)
    concept.refresh_from_db()
    return concept


@transaction.atomic
def concept_synonym_add(*, concept: Concept, name: str, actor) -> ConceptSynonym:
    normalized = normalize_synonym(name)
    if not normalized:
        raise ServiceError("A synonym needs some text.")
    taken = ConceptSynonym.objects.filter(project_id=concept.project_id, normalized=normalized)
    if taken.exists():
        raise ServiceError(
            f"“{name.strip()}” is already a synonym of “{taken.first().concept.name}”."
        )
    synonym = ConceptSynonym.objects.create(
        project_id=concept.project_id, concept=concept, name=name.strip(), normalized=normalized
    )
    _record(concept, actor, Action.SYNONYM_ADD, synonym=synonym.name)
    return synonym


@transaction.atomic
def concept_synonym_remove(*, synonym: ConceptSynonym, actor) -> None:
    _record(synonym.concept, actor, Action.SYNONYM_REMOVE, synonym=synonym.name)
    synonym.delete()


@transaction.atomic
def concept_archive(*, concept: Concept, actor) -> Concept:
    """Hide a concept (and its children) from labeling. Its annotations stay as they are."""
    now = timezone.now()
    for node in [concept, *_descendants(concept)]:
        if not node.is_archived:
            node.archived_at = now
            node.save(update_fields=["archived_at"])
            _record(node, actor, Action.ARCHIVE, via=concept.name if node != concept else None)
    return concept


@transaction.atomic
def concept_restore(*, concept: Concept, actor) -> Concept:
    if concept.merged_into_id:
        raise ServiceError(f"“{concept.name}” was merged into another concept and stays archived.")
    if concept.parent and concept.parent.is_archived:
        raise ServiceError("Restore the parent concept first.")
    concept.archived_at = None
    concept.save(update_fields=["archived_at"])
    _record(concept, actor, Action.RESTORE)
    return concept


def _descendants(concept: Concept) -> list[Concept]:
    found, frontier = [], [concept]
    while frontier:
        children = list(Concept.objects.filter(parent__in=frontier))
        found.extend(children)
        frontier = children
    return found


@transaction.atomic
def concept_merge(*, source: Concept, target: Concept, actor) -> Concept:
    """Fold ``source`` into ``target``: its labels, children and synonyms move to ``target``.

    An annotation that already has ``target`` keeps one label; none is lost. ``source``
    stays as an archived concept pointing at its survivor, and its name becomes a synonym.
    """
    if source.project_id != target.project_id:
        raise ServiceError("Concepts of different projects cannot be merged.")
    if source.id == target.id:
        raise ServiceError("Choose a different concept to merge into.")
    if target.is_archived or source.is_archived:
        raise ServiceError("Only active concepts can be merged.")
    if _is_descendant(target, source):
        raise ServiceError("A concept cannot be merged into one of its own children.")
    labels = AnnotationLabel.objects.filter(concept=source)
    has_target = AnnotationLabel.objects.filter(concept=target).values("annotation_id")
    duplicates = labels.filter(annotation_id__in=has_target)
    duplicate_count = duplicates.count()
    duplicates.delete()
    moved = labels.update(concept=target)
    for child in Concept.objects.filter(parent=source).order_by("position", "id"):
        _check_key_free(target.project, target, child.key)
        concept_move(concept=child, parent=target, actor=actor)
    ConceptSynonym.objects.filter(concept=source).update(concept=target)
    if not ConceptSynonym.objects.filter(
        project_id=source.project_id, normalized=normalize_synonym(source.name)
    ).exists():
        ConceptSynonym.objects.create(
            project_id=source.project_id,
            concept=target,
            name=source.name,
            normalized=normalize_synonym(source.name),
        )
    source.merged_into = target
    source.archived_at = timezone.now()
    source.save(update_fields=["merged_into", "archived_at"])
    _record(
        source,
        actor,
        Action.MERGE,
        into=target.name,
        labels_moved=moved,
        already_labeled=duplicate_count,
    )
    _record(target, actor, Action.MERGE, absorbed=source.name, labels_moved=moved)
    return target
