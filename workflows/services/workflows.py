"""Workflows of a project: create, update (every saved edit is a new version), delete, and
validation: the pure graph checks plus what only the database knows (which models, model
versions and concepts exist, belong to the project and are usable)."""

from django.db import IntegrityError, transaction
from django.db.models import Max

from labeling.ids import id_fits
from labeling.models import Concept, Project
from labeling.services.errors import ServiceError
from workflows.default import default_workflow, detector_workflow
from workflows.model_ports import portal_registry
from workflows.models import Workflow, WorkflowVersion
from workflows.operators.visual_searcher import KIND as SEARCHER
from workflows.operators.visual_searcher import index_project_id
from workflows.spec import MODEL, Problem, SpecError, parse
from workflows.validate import validate

DEFAULT_NAME = "Routing"
# params that name concepts: node type -> (param, where the ids are: "keys" or "values")
CONCEPT_PARAMS = {
    "concept-thresholder": ("table", "keys"),
    "concept-synonym-mapper": ("table", "values"),
}


class WorkflowRejected(ServiceError):
    """The document has problems; each names its node (shown there in the browser)."""

    def __init__(self, problems: list[Problem]):
        first = problems[0]
        where = f"node {first.node_id!r}: " if first.node_id else ""
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"The workflow has problems: {where}{first.message}{more}")
        self.problems = problems


def workflow_qs_select_for_update():
    return Workflow.objects.select_for_update()


# ---------------------------------------------------------------------------- validation


def workflow_validate(*, project: Project, document, actor=None) -> list[Problem]:
    """Every problem of ``document`` in ``project``: the graph's, then the database's.
    ``actor``: who saves or runs it (a search of another project needs one who can see it)."""
    try:
        workflow = parse(document)
    except SpecError as error:
        return error.problems
    problems = validate(workflow, portal_registry())
    return problems + _database_problems(project, workflow, actor)


def searched_project_ids(document) -> set[int]:
    """The other projects whose inputs the document's visual searchers search."""
    found = set()
    for node in document.get("nodes", []) if isinstance(document, dict) else []:
        params = node.get("params") if isinstance(node, dict) else None
        if node.get("type") == SEARCHER.name and isinstance(params, dict):
            other = index_project_id(str(params.get("index", "")))
            if other is not None:
                found.add(other)
    return found


def _index_problems(project: Project, node, actor) -> list[Problem]:
    other = index_project_id(str(node.params.get("index", "")))
    if other is None or other == project.id:
        return []  # this project's inputs, or a malformed name (validate reports it)
    from labeling.selectors import project_list_for_user

    if actor is not None and project_list_for_user(actor).filter(id=other).exists():
        return []
    return [Problem(node.id, "params.index", f"project {other} is not a project you can see.")]


def _database_problems(project: Project, workflow, actor) -> list[Problem]:
    from training.models import MLModel, ModelVersion

    problems: list[Problem] = []
    referenced_concepts: list[tuple[str, str, object]] = []
    for node in workflow.nodes:
        if node.type == MODEL and node.model:
            problems += _model_problems(project, node, MLModel, ModelVersion)
        if node.type == SEARCHER.name:
            problems += _index_problems(project, node, actor)
        param, where = CONCEPT_PARAMS.get(node.type, (None, None))
        table = node.params.get(param) if param else None
        if isinstance(table, dict):
            ids = table.keys() if where == "keys" else table.values()
            referenced_concepts += [(node.id, f"params.{param}", i) for i in ids]
    if referenced_concepts:
        problems += _concept_problems(project, referenced_concepts)
    if not problems:
        problems += _crops_problems(project, workflow, MLModel)
    return problems


def _crops_problems(project, workflow, MLModel) -> list[Problem]:
    """A context classifier trained on crops (``crops`` = 1) reads the vectors of crops (an
    embedder fed by an image cropper), and one trained on whole inputs reads whole inputs'."""
    nodes = {node.id: node for node in workflow.nodes}

    def of_crops(node_id: str) -> bool:
        node = nodes.get(node_id)
        return node is not None and any(
            getattr(nodes.get(i.node_id), "type", None) == "image-cropper" for i in node.inputs
        )

    problems = []
    for node in workflow.nodes:
        if node.type != MODEL or (node.model or {}).get("type") != "context-classifier":
            continue
        model = MLModel.objects.filter(id=node.model.get("id"), project=project).first()
        if model is None:
            continue
        crops, fed = bool(model.params.get("crops")), any(of_crops(i.node_id) for i in node.inputs)
        if crops and not fed:
            message = (
                f"{model.name} is a classifier on crops: feed it an embedder of an image "
                "cropper's crops."
            )
        elif fed and not crops:
            message = (
                f"{model.name} classifies whole inputs: for crops, use a context classifier "
                "trained on crops (its “crops” parameter 1)."
            )
        else:
            continue
        problems.append(Problem(node.id, "inputs", message))
    return problems


def _model_problems(project, node, MLModel, ModelVersion) -> list[Problem]:
    ref = node.model
    model_id = ref.get("id")
    model_type = ref.get("type")
    if model_id is None:
        if model_type == "embedder":
            return []  # the project's backbone: no model row needed
        return [Problem(node.id, "model.id", "say which model of the project this node runs.")]
    if isinstance(model_id, bool) or not isinstance(model_id, int):
        return [Problem(node.id, "model.id", "model.id must be a model's id (a number).")]
    if not id_fits(model_id):
        return [Problem(node.id, "model.id", f"model {model_id} does not exist.")]
    model = MLModel.objects.filter(id=model_id).only("id", "project_id", "type", "name").first()
    if model is None or model.project_id != project.id:
        where = "does not exist" if model is None else "belongs to another project"
        return [Problem(node.id, "model.id", f"model {model_id} {where}.")]
    if model.type != model_type:
        return [
            Problem(
                node.id, "model.type", f"model {model.name!r} is a {model.type}, not {model_type}."
            )
        ]
    version = ref.get("version", "live")
    if version == "live" or not isinstance(version, int) or isinstance(version, bool):
        return []  # "live" is resolved when the workflow runs; a bad value is validate's
    found = None
    if 0 < version < 2**31:
        found = ModelVersion.objects.filter(model=model, number=version).first()
    if found is None:
        return [Problem(node.id, "model.version", f"{model.name} has no version {version}.")]
    if found.status != ModelVersion.Status.READY or found.rolled_back_at is not None:
        state = "rolled back" if found.rolled_back_at else found.get_status_display().lower()
        return [
            Problem(node.id, "model.version", f"{model.name} v{version} is {state}, not ready.")
        ]
    return []


def _concept_problems(project, referenced) -> list[Problem]:
    wanted = {}
    problems = []
    for node_id, field, raw in referenced:
        try:
            concept_id = int(str(raw))
        except ValueError:
            problems.append(Problem(node_id, field, f"{raw!r} is not a concept id."))
            continue
        wanted.setdefault(concept_id, []).append((node_id, field))
    fits = [c for c in wanted if id_fits(c)]
    concepts = Concept.objects.filter(id__in=fits).only("id", "project_id", "archived_at", "name")
    found = {c.id: c for c in concepts}
    for concept_id, places in wanted.items():
        concept = found.get(concept_id)
        if concept is None or concept.project_id != project.id:
            message = f"concept {concept_id} is not a concept of this project."
        elif concept.archived_at is not None:
            message = f"concept {concept_id} ({concept.name}) is archived."
        else:
            continue
        problems += [Problem(node_id, field, message) for node_id, field in places]
    return problems


def _check(project: Project, document, actor) -> None:
    problems = workflow_validate(project=project, document=document, actor=actor)
    if problems:
        raise WorkflowRejected(problems)


# ---------------------------------------------------------------------------- writes


def _name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ServiceError("Give the workflow a name.")
    if len(name) > 100:
        raise ServiceError("A workflow's name has at most 100 characters.")
    return name


def workflow_create(
    *,
    project: Project,
    name: str,
    document: dict,
    actor,
    description: str = "",
    is_default: bool = False,
) -> Workflow:
    """A new workflow with its first version; refused when the document has problems."""
    name = _name(name)
    _check(project, document, actor)
    if Workflow.objects.filter(project=project, name=name).exists():
        raise ServiceError(f"The project already has a workflow called “{name}”.")
    try:
        with transaction.atomic():
            workflow = Workflow.objects.create(
                project=project,
                name=name,
                description=description or "",
                is_default=is_default,
                created_by=actor,
            )
            WorkflowVersion.objects.create(
                workflow=workflow, number=1, document=document, created_by=actor
            )
    except IntegrityError as exc:
        raise ServiceError(f"The project already has a workflow called “{name}”.") from exc
    return workflow


def workflow_default_current(*, project: Project) -> WorkflowVersion:
    """The version of the project's default workflow that routing runs now: its routing as
    the loop settings (doubt band, spot-check share) say today. When they changed since the
    last version, the graph saved with them becomes a new version, so an annotation's
    provenance names the graph that really wrote it."""
    workflow = workflow_default_ensure(project=project)
    document = _default_document(project)
    with transaction.atomic():
        workflow = workflow_qs_select_for_update().get(id=workflow.id)
        current = workflow.versions.order_by("-number").first()
        if current is not None and current.document == document:
            return current
        number = (current.number if current else 0) + 1
        return WorkflowVersion.objects.create(workflow=workflow, number=number, document=document)


def _default_document(project: Project) -> dict:
    """The project's routing as a graph, with its loop settings of today."""
    from training.services.versions import model_router_ensure

    router = model_router_ensure(project=project)
    return default_workflow(
        embedder={"type": "embedder", "version": "live"},
        classifier={"type": str(router.type), "id": router.id, "version": "live"},
        doubt_band=project.doubt_band,
        spot_check_rate=project.spot_check_rate,
    )


def workflow_update(
    *,
    workflow: Workflow,
    actor,
    document: dict | None = None,
    name: str | None = None,
    description: str | None = None,
) -> WorkflowVersion:
    """Rename or describe it, and save ``document`` as a new version (old versions stay as
    they were). Returns the current version (the new one when the document changed).
    The default workflow's graph follows the loop settings: it is not edited by hand."""
    if document is not None and workflow.is_default:
        raise ServiceError(
            "The default workflow is the project's routing and follows the loop settings on "
            "the Models tab (doubt band, spot-check share). To route differently, create a "
            "workflow of your own from it."
        )
    if document is not None:
        _check(workflow.project, document, actor)
    with transaction.atomic():
        workflow = workflow_qs_select_for_update().get(id=workflow.id)
        changed = []
        if name is not None and _name(name) != workflow.name:
            if Workflow.objects.filter(project_id=workflow.project_id, name=_name(name)).exists():
                raise ServiceError(f"The project already has a workflow called “{name.strip()}”.")
            workflow.name, changed = _name(name), [*changed, "name"]
        if description is not None and description != workflow.description:
            workflow.description, changed = description, [*changed, "description"]
        current = workflow.versions.order_by("-number").first()
        if document is not None and (current is None or current.document != document):
            number = (workflow.versions.aggregate(n=Max("number"))["n"] or 0) + 1
            current = WorkflowVersion.objects.create(
                workflow=workflow, number=number, document=document, created_by=actor
            )
        workflow.save(update_fields=[*changed, "updated_at"])
    return current


def workflow_delete(*, workflow: Workflow, actor) -> None:
    """Delete a workflow with its versions and runs. Annotations it wrote stay (their
    provenance keeps the version and node). The project's default cannot go."""
    if workflow.is_default:
        raise ServiceError("The default workflow is the project's routing: it cannot be deleted.")
    workflow.delete()


def workflow_default_ensure(*, project: Project) -> Workflow:
    """The project's default workflow (its routing as a graph), created on first use."""
    existing = Workflow.objects.filter(project=project, is_default=True).first()
    if existing is not None:
        return existing
    document = _default_document(project)
    try:
        with transaction.atomic():
            workflow = Workflow.objects.create(
                project=project,
                name=DEFAULT_NAME,
                description="The project's routing: confident labels accepted (with spot "
                "checks), doubtful ones to review, the rest back to the annotators.",
                is_default=True,
                created_by=project.created_by,
            )
            WorkflowVersion.objects.create(workflow=workflow, number=1, document=document)
    except IntegrityError:
        return Workflow.objects.get(project=project, is_default=True)
    return workflow


def workflow_detector_current(*, model) -> WorkflowVersion:
    """The version of the workflow that routes with ``model`` (a detector), created on first
    use and given a new version when the loop settings changed (as the default one)."""
    project = model.project
    document = detector_workflow(
        detector={"type": str(model.type), "id": model.id, "version": "live"},
        doubt_band=project.doubt_band,
        spot_check_rate=project.spot_check_rate,
    )
    name = _name(f"Boxes by {model.name}")
    workflow = Workflow.objects.filter(project=project, name=name).first()
    if workflow is None:
        workflow = workflow_create(
            project=project,
            name=name,
            document=document,
            actor=None,
            description=f"Routing by the live {model.name}: sure boxes accepted (with spot "
            "checks), doubtful ones to review, images with no believable box to annotators.",
        )
    return workflow_update(workflow=workflow, actor=None, document=document)
