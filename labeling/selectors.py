"""Reads: queries the views need, kept out of the views."""

from dataclasses import dataclass, field

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery

from labeling.models import (
    Annotation,
    AnnotationLabel,
    AnnotationSource,
    AnnotationStatus,
    Concept,
    ConceptChange,
    ConceptSynonym,
    DictionaryEntry,
    Input,
    InputStatus,
    Membership,
    Project,
    Region,
    Split,
)
from labeling.queue_rules import Choice, assign_shortcuts


def project_list_for_user(user) -> QuerySet[Project]:
    projects = Project.objects.all()
    if not user.is_superuser:
        projects = projects.filter(id__in=Membership.objects.filter(user=user).values("project_id"))
    return projects.annotate(
        input_count=Count("inputs", distinct=True),
        member_count=Count("memberships", distinct=True),
    ).order_by("name", "id")


@dataclass
class ConceptNode:
    concept: Concept
    label_count: int = 0
    children: list["ConceptNode"] = field(default_factory=list)


def concept_tree(
    project: Project, *, include_archived: bool = True, with_counts: bool = True
) -> list[ConceptNode]:
    """The taxonomy as nested nodes, siblings in their order, with accepted-label counts
    (an aggregate over all labels: leave it out on hot paths)."""
    concepts = Concept.objects.filter(project=project).prefetch_related("synonyms")
    if not include_archived:
        concepts = concepts.filter(archived_at__isnull=True)
    counts = accepted_label_counts(project) if with_counts else {}
    nodes = {c.id: ConceptNode(c, counts.get(c.id, 0)) for c in concepts.order_by("position", "id")}
    roots = []
    for node in nodes.values():
        parent = nodes.get(node.concept.parent_id)
        (parent.children if parent else roots).append(node)
    return roots


def accepted_label_counts(project: Project) -> dict[int, int]:
    rows = (
        AnnotationLabel.objects.filter(
            annotation__project=project,
            annotation__status=AnnotationStatus.ACCEPTED,
            annotation__gold_correct__isnull=True,  # answers to gold items are not new labels
        )
        .values("concept_id")
        .annotate(n=Count("id"))
    )
    return {row["concept_id"]: row["n"] for row in rows}


def concept_changes(project: Project, limit: int = 50) -> QuerySet[ConceptChange]:
    return ConceptChange.objects.filter(project=project).select_related("concept", "actor")[:limit]


@dataclass(frozen=True)
class LabelBar:
    concept: Concept
    count: int
    percent: float  # of the largest count, for the bar's length


@dataclass(frozen=True)
class Dashboard:
    split_status: list[tuple[str, dict[str, int], int]]  # split label, counts by status, total
    statuses: list[tuple[str, str]]
    total_inputs: int
    label_bars: list[LabelBar]
    imbalance: str


def imbalance_warning(counts: dict[str, int], ratio: float = 0.1) -> str:
    """A warning when the rarest concept has under ``ratio`` of the most common one's labels."""
    if len(counts) < 2:
        return ""
    largest_name, largest = max(counts.items(), key=lambda kv: kv[1])
    smallest_name, smallest = min(counts.items(), key=lambda kv: kv[1])
    if largest == 0 or smallest >= ratio * largest:
        return ""
    labels = "label" if smallest == 1 else "labels"
    return (
        f"Concepts are imbalanced: “{smallest_name}” has {smallest} {labels}, under a tenth of "
        f"“{largest_name}” ({largest}). Label more examples of the rare concepts."
    )


def project_dashboard(project: Project) -> Dashboard:
    rows = Input.objects.filter(project=project).values("split", "status").annotate(n=Count("id"))
    table = {(row["split"], row["status"]): row["n"] for row in rows}
    split_status = []
    for split, split_label in Split.choices:
        counts = {status: table.get((split, status), 0) for status in InputStatus.values}
        split_status.append((split_label, counts, sum(counts.values())))
    counts = accepted_label_counts(project)
    leaves = [
        c
        for c in Concept.objects.filter(project=project, archived_at__isnull=True)
        .annotate(n_children=Count("children", filter=Q(children__archived_at__isnull=True)))
        .select_related("parent")
        .order_by("parent__position", "parent_id", "position", "id")
        if c.n_children == 0
    ]
    largest = max((counts.get(c.id, 0) for c in leaves), default=0)
    bars = [
        LabelBar(c, counts.get(c.id, 0), 100.0 * counts.get(c.id, 0) / largest if largest else 0)
        for c in leaves
    ]
    return Dashboard(
        split_status=split_status,
        statuses=list(InputStatus.choices),
        total_inputs=sum(table.values()),
        label_bars=bars,
        imbalance=imbalance_warning({b.concept.name: b.count for b in bars}),
    )


def project_members(project: Project) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(project=project)
        .select_related("user")
        .order_by("role", "user__username")
    )


def project_inputs(project: Project, *, split: str = "", query: str = "") -> QuerySet[Input]:
    inputs = Input.objects.filter(project=project).order_by("id")
    if split:
        inputs = inputs.filter(split=split)
    if query:
        inputs = inputs.filter(original_name__icontains=query)
    return inputs


def label_choices(project: Project) -> list[Choice]:
    """The concepts an annotator can pick: active leaves, in taxonomy order, each with the
    exclusive group (its parent) it belongs to, if any."""
    choices: list[Choice] = []

    def walk(nodes: list[ConceptNode], parent: Concept | None, regions: bool) -> None:
        for node in nodes:
            boxes = regions or node.concept.scope == Concept.Scope.REGIONS
            if node.children:
                walk(node.children, node.concept, boxes)
            else:
                group = parent.id if parent is not None and parent.exclusive else None
                choices.append(
                    Choice(node.concept.id, node.concept.name, group=group, regions=boxes)
                )

    walk(concept_tree(project, include_archived=False, with_counts=False), None, False)
    return choices


@dataclass(frozen=True)
class ChoiceView:
    concept: Concept
    key: str
    entry: DictionaryEntry | None


@dataclass(frozen=True)
class ChoiceGroup:
    title: str
    exclusive: bool
    parent: Concept | None
    parent_entry: DictionaryEntry | None
    choices: list[ChoiceView]
    regions: bool = False  # its concepts are drawn as boxes, not picked for the whole image


def label_form(project: Project) -> list[ChoiceGroup]:
    """The choices grouped as the labeling page shows them, with shortcut keys and the current
    visual-dictionary entry of every concept involved."""
    choices = label_choices(project)
    keys = assign_shortcuts(choices)
    concepts = Concept.objects.filter(project=project).select_related("parent").in_bulk()
    entries = current_dictionary_entries(project)
    groups: dict[tuple[int | None, bool], ChoiceGroup] = {}
    for choice in choices:
        concept = concepts[choice.id]
        parent = concept.parent
        # Top-level leaves that draw boxes get a group of their own, apart from the others.
        group_key = (parent.id if parent else None, choice.regions)
        if group_key not in groups:
            groups[group_key] = ChoiceGroup(
                title=parent.name if parent else ("Boxes" if choice.regions else "Labels"),
                exclusive=bool(parent and parent.exclusive),
                parent=parent,
                parent_entry=entries.get(parent.id) if parent else None,
                choices=[],
                regions=choice.regions,
            )
        groups[group_key].choices.append(
            ChoiceView(concept, keys.get(choice.id, ""), entries.get(choice.id))
        )
    return list(groups.values())


# Box colours, in the order of the box concepts: distinct hues that read on photos and on
# the page's white, each with a dark enough tone for a 2 px outline.
BOX_COLOURS = [
    "#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4",
    "#0f9d9a", "#f032e6", "#9a6324", "#808000", "#000075",
]  # fmt: skip


@dataclass(frozen=True)
class BoxChoice:
    id: int
    name: str
    key: str
    color: str


def box_choices(groups: list[ChoiceGroup]) -> list[BoxChoice]:
    """The concepts drawn as boxes, in taxonomy order, each with its key and colour."""
    views = [view for group in groups if group.regions for view in group.choices]
    return [
        BoxChoice(v.concept.id, v.concept.name, v.key, BOX_COLOURS[i % len(BOX_COLOURS)])
        for i, v in enumerate(views)
    ]


def input_pre_annotations(input_id: int, box_concept_ids: set[int]) -> list[dict]:
    """The boxes of the input's latest model annotation waiting for review, as suggestions
    for the annotator: ``{"concept", "x", "y", "w", "h", "confidence"}``. Only boxes of the
    given (active box) concepts; classifications of a box (regions with a parent) are left
    out."""
    if not box_concept_ids:
        return []
    latest = (
        Annotation.objects.filter(
            input_id=input_id,
            source=AnnotationSource.MODEL,
            status=AnnotationStatus.PENDING_REVIEW,
            regions__isnull=False,
        )
        .order_by("-created_at", "-id")
        .values_list("id", flat=True)
        .first()
    )
    if latest is None:
        return []
    regions = Region.objects.filter(
        annotation_id=latest, parent__isnull=True, concept_id__in=box_concept_ids
    ).order_by("position", "id")
    return [
        {
            "concept": r.concept_id,
            "x": r.x,
            "y": r.y,
            "w": r.w,
            "h": r.h,
            "confidence": r.confidence,
        }
        for r in regions
    ]


def current_dictionary_entries(project: Project) -> dict[int, DictionaryEntry]:
    """The latest dictionary version of every concept of the project, examples prefetched."""
    latest = (
        DictionaryEntry.objects.filter(concept=OuterRef("concept"))
        .order_by("-version")
        .values("id")[:1]
    )
    entries = DictionaryEntry.objects.filter(
        concept__project=project, id=Subquery(latest)
    ).prefetch_related("examples")
    return {entry.concept_id: entry for entry in entries}


def concepts_resolve(project: Project, items: list[dict]) -> tuple[list[int], list[str]]:
    """Concept ids from Clarifai-style items, and the ids or values that matched nothing.

    ``{"id": "digit", "value": "3"}`` picks the option ``3`` of the exclusive ``digit``;
    ``{"id": "dog", "value": 1}`` (or true) labels ``dog``, value 0 (or false) leaves it out.
    Ids and options match a concept's key, its name or one of its synonyms, case-insensitively.
    """
    concepts = list(Concept.objects.filter(project=project, archived_at__isnull=True))
    synonyms = dict(
        ConceptSynonym.objects.filter(project=project).values_list("normalized", "concept_id")
    )

    def find(name: str, parent_id: int | None, any_parent: bool) -> Concept | None:
        wanted = " ".join(str(name).strip().lower().split())
        pool = [c for c in concepts if any_parent or c.parent_id == parent_id]
        for concept in pool:
            if wanted in (concept.key.lower(), concept.name.lower()):
                return concept
        by_synonym = synonyms.get(wanted)
        return next((c for c in pool if c.id == by_synonym), None)

    ids, unknown = [], []
    for item in items:
        key, value = item.get("id", ""), item.get("value", 1)
        concept = find(key, None, any_parent=True)
        if concept is None:
            unknown.append(str(key))
        elif concept.exclusive:
            option = find(str(value), concept.id, any_parent=False)
            if option is None:
                unknown.append(f"{key}={value}")
            else:
                ids.append(option.id)
        elif value in (1, True) or str(value).lower() in ("1", "true"):
            ids.append(concept.id)
    return ids, unknown
