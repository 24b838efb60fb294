"""REST API v1: projects, members, review settings, concepts (tree, synonyms, merge) and
the visual dictionary.

Every endpoint is scoped like the browser: a project outside the caller's memberships is a
404, a member without the role a 403.
"""

from django.db.models import F
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from labeling.ids import MAX_ID
from labeling.models import Concept, DictionaryEntry, Membership, Project, ReviewTier, Role
from labeling.permissions import ADMIN, can_create_projects, check_role, project_membership
from labeling.selectors import project_list_for_user
from labeling.services.dictionary import dictionary_current, dictionary_entry_save
from labeling.services.projects import (
    membership_invite,
    membership_remove,
    membership_update,
    project_create,
    project_update,
)
from labeling.services.review import review_settings_read, review_settings_update
from labeling.services.taxonomy import (
    concept_archive,
    concept_create,
    concept_merge,
    concept_rename,
    concept_synonym_add,
)

# ---------------------------------------------------------------------------- projects

PROJECT_FIELDS = [
    "name",
    "description",
    "guidelines",
    "eval_fraction",
    "overlap",
    "target_precision",
    "lease_minutes",
    "queue_strategy",
    "doubt_band",
    "spot_check_rate",
    "retrain_min_labels",
    "retrain_every_minutes",
]


class ProjectSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = ["id", *PROJECT_FIELDS, "review_tiers", "created_at", "role"]
        read_only_fields = ["id", "review_tiers", "created_at", "role"]

    def get_role(self, project) -> str | None:
        return self.context.get("roles", {}).get(project.id)


class ProjectCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, default="", allow_blank=True)
    eval_fraction = serializers.FloatField(required=False, default=0.2, min_value=0, max_value=0.9)
    overlap = serializers.IntegerField(required=False, default=1, min_value=1, max_value=10)


def _roles(user) -> dict[int, str]:
    return dict(Membership.objects.filter(user=user).values_list("project_id", "role"))


@extend_schema(request=ProjectCreateSerializer, responses=ProjectSerializer(many=True))
@api_view(["GET", "POST"])
def projects_view(request: Request) -> Response:
    """The caller's projects; POST creates one (staff or users allowed to create projects)."""
    if request.method == "GET":
        projects = project_list_for_user(request.user)
        context = {"roles": _roles(request.user)}
        return Response(ProjectSerializer(projects, many=True, context=context).data)
    if not can_create_projects(request.user):
        return Response({"error": "You may not create projects."}, status=403)
    payload = ProjectCreateSerializer(data=request.data)
    payload.is_valid(raise_exception=True)
    project = project_create(created_by=request.user, **payload.validated_data)
    context = {"roles": {project.id: Role.ADMIN}}
    return Response(ProjectSerializer(project, context=context).data, status=201)


@extend_schema(request=ProjectSerializer, responses=ProjectSerializer)
@api_view(["GET", "PATCH"])
def project_view(request: Request, project_id: int) -> Response:
    """A project and its settings; admins change them with PATCH."""
    project, membership = project_membership(request.user, project_id)
    context = {"roles": {project.id: membership.role}}
    if request.method == "PATCH":
        check_role(membership, ADMIN)
        payload = ProjectSerializer(project, data=request.data, partial=True, context=context)
        payload.is_valid(raise_exception=True)
        fields = {k: v for k, v in payload.validated_data.items() if k in PROJECT_FIELDS}
        project_update(project=project, **fields)
    return Response(ProjectSerializer(project, context=context).data)


# ---------------------------------------------------------------------------- members


class MemberSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "username", "role", "review_tier", "created_at"]
        read_only_fields = ["id", "username", "created_at"]


class InviteSerializer(serializers.Serializer):
    user = serializers.CharField(max_length=254, help_text="Username or e-mail address.")
    role = serializers.ChoiceField(choices=Role.choices, default=Role.ANNOTATOR)
    review_tier = serializers.IntegerField(min_value=1, max_value=3, required=False)


@extend_schema(request=InviteSerializer, responses=MemberSerializer(many=True))
@api_view(["GET", "POST"])
def members_view(request: Request, project_id: int) -> Response:
    """Members and their roles (admins); POST adds one by username or e-mail."""
    project, membership = project_membership(request.user, project_id)
    check_role(membership, ADMIN)
    if request.method == "GET":
        members = project.memberships.select_related("user").order_by("id")
        return Response(MemberSerializer(members, many=True).data)
    payload = InviteSerializer(data=request.data)
    payload.is_valid(raise_exception=True)
    data = payload.validated_data
    member, _ = membership_invite(
        project=project,
        identifier=data["user"],
        role=data["role"],
        review_tier=data.get("review_tier"),
    )
    return Response(MemberSerializer(member).data, status=201)


@extend_schema(request=MemberSerializer, responses=MemberSerializer)
@api_view(["PATCH", "DELETE"])
def member_view(request: Request, project_id: int, member_id: int) -> Response:
    project, membership = project_membership(request.user, project_id)
    check_role(membership, ADMIN)
    member = get_object_or_404(Membership, project=project, id=member_id)
    if request.method == "DELETE":
        membership_remove(membership=member)
        return Response(status=204)
    payload = MemberSerializer(member, data=request.data, partial=True)
    payload.is_valid(raise_exception=True)
    member = membership_update(
        membership=member,
        role=payload.validated_data.get("role", member.role),
        review_tier=payload.validated_data.get("review_tier", member.review_tier),
    )
    return Response(MemberSerializer(member).data)


# ---------------------------------------------------------------------------- review settings


class ReviewTierSerializer(serializers.Serializer):
    # Modes, rates and counts are checked by review_settings_update, as for the browser form.
    mode = serializers.CharField(
        max_length=40, help_text="What the tier reviews: " + ", ".join(ReviewTier.Mode.values)
    )
    sample_rate = serializers.FloatField(
        default=1.0, help_text="The share it reviews (0 to 1), for sample modes."
    )


class ReviewSettingsSerializer(serializers.Serializer):
    """The review settings page, field for field; PATCH changes only what it names."""

    tiers = ReviewTierSerializer(
        many=True, max_length=10, help_text="One rule per tier, tier 1 first (0 to 3 tiers)."
    )
    reject_reasons = serializers.ListField(
        child=serializers.CharField(max_length=200, allow_blank=True),
        max_length=100,
        help_text="The reasons reviewers pick from when they reject.",
    )
    consensus_auto_accept = serializers.BooleanField(
        help_text="Accept matching labels of overlapping annotators without review."
    )
    consensus_majority = serializers.IntegerField(help_text="How many must agree (0 = all).")
    gold_rate = serializers.FloatField(help_text="Share of gold items in annotators' queues.")
    region_iou = serializers.FloatField(
        required=False,
        help_text="How far two boxes must overlap (IoU, 0.1 to 0.95) to be the same object, "
        "for consensus and agreement (left out of a PUT: kept).",
    )


@extend_schema(request=ReviewSettingsSerializer, responses=ReviewSettingsSerializer)
@api_view(["GET", "PUT", "PATCH"])
def review_settings_view(request: Request, project_id: int) -> Response:
    """The project's review tiers, reject reasons, consensus and gold rate (admins). PUT sets
    them all; PATCH only the fields it names. Checked by the same service as the browser's
    review settings page: a broken rule is a 400 and nothing is saved."""
    project, membership = project_membership(request.user, project_id)
    check_role(membership, ADMIN)
    if request.method != "GET":
        payload = ReviewSettingsSerializer(data=request.data, partial=request.method == "PATCH")
        payload.is_valid(raise_exception=True)
        settings = {**review_settings_read(project=project), **payload.validated_data}
        review_settings_update(
            project=project,
            tiers=[(t.get("mode", ""), t.get("sample_rate", 1.0)) for t in settings["tiers"]],
            reasons=settings["reject_reasons"],
            consensus_auto_accept=settings["consensus_auto_accept"],
            consensus_majority=settings["consensus_majority"],
            gold_rate=settings["gold_rate"],
            region_iou=settings["region_iou"],
        )
        project.refresh_from_db()
    return Response(ReviewSettingsSerializer(review_settings_read(project=project)).data)


# ---------------------------------------------------------------------------- concepts


class ConceptSerializer(serializers.ModelSerializer):
    parent = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    synonyms = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)
    archived = serializers.BooleanField(source="is_archived", read_only=True)
    merged_into = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)

    class Meta:
        model = Concept
        fields = [
            "id",
            "key",
            "name",
            "parent",
            "exclusive",
            "scope",
            "position",
            "synonyms",
            "archived",
            "merged_into",
        ]


class ConceptCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    key = serializers.CharField(
        max_length=100,
        required=False,
        default="",
        allow_blank=True,
        help_text="Blank: made from the name.",
    )
    parent = serializers.IntegerField(required=False, allow_null=True, max_value=MAX_ID)
    exclusive = serializers.BooleanField(required=False, default=False)
    scope = serializers.ChoiceField(
        choices=Concept.Scope.choices,
        required=False,
        default=Concept.Scope.INPUT,
        help_text="On a top-level concept: its group labels whole inputs or regions (boxes).",
    )
    synonyms = serializers.ListField(child=serializers.CharField(max_length=200), required=False)


def _concepts(project: Project):
    """Top-level concepts first (NULL parents sort last on PostgreSQL, first on SQLite)."""
    return (
        Concept.objects.filter(project=project)
        .prefetch_related("synonyms")
        .order_by(F("parent_id").asc(nulls_first=True), "position", "id")
    )


@extend_schema(request=ConceptCreateSerializer, responses=ConceptSerializer(many=True))
@api_view(["GET", "POST"])
def concepts_view(request: Request, project_id: int) -> Response:
    """The taxonomy as a flat list (each concept names its parent); admins add concepts."""
    project, membership = project_membership(request.user, project_id)
    if request.method == "GET":
        return Response(ConceptSerializer(_concepts(project), many=True).data)
    check_role(membership, ADMIN)
    payload = ConceptCreateSerializer(data=request.data)
    payload.is_valid(raise_exception=True)
    data = payload.validated_data
    parent = None
    if data.get("parent") is not None:
        parent = get_object_or_404(Concept, project=project, id=data["parent"])
    concept = concept_create(
        project=project,
        name=data["name"],
        key=data["key"],
        parent=parent,
        exclusive=data["exclusive"],
        scope=data["scope"],
        actor=request.user,
    )
    for synonym in data.get("synonyms", []):
        concept_synonym_add(concept=concept, name=synonym, actor=request.user)
    return Response(ConceptSerializer(concept).data, status=201)


def _concept(request: Request, concept_id: int, roles=None) -> Concept:
    concept = get_object_or_404(Concept.objects.select_related("project"), id=concept_id)
    _, membership = project_membership(request.user, concept.project_id)
    if roles:
        check_role(membership, roles)
    return concept


class ConceptChangeSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    key = serializers.CharField(max_length=100, required=False)
    archived = serializers.BooleanField(required=False)


@extend_schema(request=ConceptChangeSerializer, responses=ConceptSerializer)
@api_view(["GET", "PATCH"])
def concept_view(request: Request, concept_id: int) -> Response:
    """One concept; admins rename it or archive it."""
    concept = _concept(request, concept_id, ADMIN if request.method == "PATCH" else None)
    if request.method == "PATCH":
        payload = ConceptChangeSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        if "name" in data or "key" in data:
            concept = concept_rename(
                concept=concept,
                name=data.get("name", concept.name),
                key=data.get("key"),
                actor=request.user,
            )
        if data.get("archived") and not concept.is_archived:
            concept = concept_archive(concept=concept, actor=request.user)
    return Response(ConceptSerializer(Concept.objects.get(id=concept.id)).data)


class SynonymSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)


@extend_schema(request=SynonymSerializer, responses=ConceptSerializer)
@api_view(["POST"])
def concept_synonyms_view(request: Request, concept_id: int) -> Response:
    concept = _concept(request, concept_id, ADMIN)
    payload = SynonymSerializer(data=request.data)
    payload.is_valid(raise_exception=True)
    concept_synonym_add(concept=concept, name=payload.validated_data["name"], actor=request.user)
    return Response(ConceptSerializer(Concept.objects.get(id=concept.id)).data, status=201)


class MergeSerializer(serializers.Serializer):
    into = serializers.IntegerField(
        max_value=MAX_ID, help_text="The concept that survives and gets the labels."
    )


@extend_schema(request=MergeSerializer, responses=ConceptSerializer)
@api_view(["POST"])
def concept_merge_view(request: Request, concept_id: int) -> Response:
    """Merge this concept into another of the same project: its labels move there."""
    source = _concept(request, concept_id, ADMIN)
    payload = MergeSerializer(data=request.data)
    payload.is_valid(raise_exception=True)
    target = get_object_or_404(Concept, project=source.project, id=payload.validated_data["into"])
    survivor = concept_merge(source=source, target=target, actor=request.user)
    return Response(ConceptSerializer(Concept.objects.get(id=survivor.id)).data)


# ---------------------------------------------------------------------------- dictionary


class DictionarySerializer(serializers.Serializer):
    definition = serializers.CharField(required=False, allow_blank=True)
    is_not = serializers.CharField(required=False, allow_blank=True)


def _entry_json(request: Request, concept: Concept, entry: DictionaryEntry | None) -> dict:
    if entry is None:
        return {"concept": concept.id, "version": 0, "definition": "", "is_not": "", "examples": []}
    return {
        "concept": concept.id,
        "version": entry.version,
        "definition": entry.definition,
        "is_not": entry.is_not,
        "examples": [
            {"id": e.id, "kind": e.kind, "input": e.input_id} for e in entry.examples.all()
        ],
    }


@extend_schema(request=DictionarySerializer, responses=OpenApiTypes.OBJECT)
@api_view(["GET", "PUT"])
def dictionary_view(request: Request, concept_id: int) -> Response:
    """The concept's current visual-dictionary entry; PUT writes a new version (admins)."""
    concept = _concept(request, concept_id, ADMIN if request.method == "PUT" else None)
    if request.method == "PUT":
        payload = DictionarySerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        entry = dictionary_entry_save(concept=concept, actor=request.user, **payload.validated_data)
        return Response(_entry_json(request, concept, entry), status=status.HTTP_200_OK)
    return Response(_entry_json(request, concept, dictionary_current(concept)))
