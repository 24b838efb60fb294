"""Reads: queries the views need, kept out of the views."""

from dataclasses import dataclass, field

from django.db.models import Count, Q, QuerySet

from labeling.models import (
    AnnotationLabel,
    AnnotationStatus,
    Concept,
    ConceptChange,
    Input,
    InputStatus,
    Membership,
    Project,
    Split,
)


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


def concept_tree(project: Project, *, include_archived: bool = True) -> list[ConceptNode]:
    """The taxonomy as nested nodes, siblings in their order, with accepted-label counts."""
    concepts = Concept.objects.filter(project=project).prefetch_related("synonyms")
    if not include_archived:
        concepts = concepts.filter(archived_at__isnull=True)
    counts = accepted_label_counts(project)
    nodes = {c.id: ConceptNode(c, counts.get(c.id, 0)) for c in concepts.order_by("position", "id")}
    roots = []
    for node in nodes.values():
        parent = nodes.get(node.concept.parent_id)
        (parent.children if parent else roots).append(node)
    return roots


def accepted_label_counts(project: Project) -> dict[int, int]:
    rows = (
        AnnotationLabel.objects.filter(
            annotation__project=project, annotation__status=AnnotationStatus.ACCEPTED
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
