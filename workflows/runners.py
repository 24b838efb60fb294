"""Model-node runners: how the portal's models run inside the engine.

``runners_build`` resolves each model node of a workflow to its model and version (``live``
or a pinned number) and returns one runner per node, plus what the caller needs to write
the rows (model version ids by (model name, version number)) and the run's seed.

- embedder: the stored embeddings of the batch's inputs (``embeddings_load``), or, for a
  dry run's uploaded image, the vector computed here with ``training.ml.features`` (on a
  worker: that path loads the backbone).
- context-classifier: ``version_head(version).probabilities(features)`` with the version's
  tuned thresholds as ``Concepts.tuned`` and its exclusive groups, as the default workflow
  expects (docs/workflows.md); a deep-classifier gives the same from the batch's images
  (its fine-tuned network, on a worker).
"""

from dataclasses import dataclass, field

import numpy as np
from django.conf import settings

from labeling.models import Project
from labeling.services.errors import ServiceError
from workflows.ports import Concepts, Images, Regions
from workflows.spec import MODEL, Context, Workflow


@dataclass(frozen=True)
class Pixels:
    """What the input node carries for model runners: stored vectors, or decoded images."""

    vectors: np.ndarray | None = None  # (N, D) the inputs' stored embeddings
    images: list = field(default_factory=list)  # PIL images (a dry run's upload)


class RunnerError(ServiceError):
    def __init__(self, node_id: str, message: str):
        super().__init__(f"node {node_id!r}: {message}")
        self.node_id = node_id


@dataclass
class Resolved:
    runners: dict = field(default_factory=dict)  # node id -> runner
    version_ids: dict = field(default_factory=dict)  # (model name, number) -> version id
    seed: int = 0  # -version id of the (first) classifier, as routing draws spot checks
    versions: dict = field(default_factory=dict)  # node id -> "Model vN" (for people)
    # an embedder reads the inputs' stored embeddings (not crops): a run waits for them
    stored_embeddings: bool = False


def _embed(inputs: dict, context: Context) -> dict:
    images = inputs["image"]
    if inputs.get("crops") is not None:
        return {"embedding": _embed_crops(images, inputs["crops"])}
    pixels = images.pixels
    if isinstance(pixels, Pixels) and pixels.vectors is not None:
        return {"embedding": pixels.vectors}
    if isinstance(pixels, Pixels) and pixels.images:
        from training.ml.features import embedder

        return {"embedding": embedder(settings.TRAINING_BACKBONE)(pixels.images)}
    from training.services.embeddings import embeddings_load

    wanted = [int(i) for i in images.input_ids]
    ids, vectors = embeddings_load(wanted)
    if ids != wanted:
        raise ValueError("some inputs have no embedding yet")
    return {"embedding": vectors}


def _model_version(node_id: str, project: Project, ref: dict, resolved: Resolved):
    """The node's model and version (``live`` or a pinned ready one), recorded in
    ``resolved``; RunnerError when there is none."""
    from training.models import MLModel, ModelVersion

    model = MLModel.objects.filter(id=ref.get("id"), project=project).first()
    if model is None:
        raise RunnerError(node_id, f"model {ref.get('id')} is not a model of this project.")
    pinned = ref.get("version", "live")
    if pinned == "live":
        version = model.active_version
        if version is None:
            raise RunnerError(node_id, f"{model.name} has no live version yet: train it first.")
    else:
        version = model.versions.filter(number=pinned, status=ModelVersion.Status.READY).first()
        if version is None:
            raise RunnerError(node_id, f"{model.name} has no ready version {pinned}.")
    resolved.version_ids[(model.name, version.number)] = version.id
    resolved.versions[node_id] = f"{model.name} v{version.number}"
    return model, version


def _embed_crops(images: Images, crops) -> np.ndarray:
    """The backbone's vector of every crop (K rows, in the crops' order). Crop boxes are in
    the pixels of the images' recorded sizes; the decoded pictures may be smaller."""
    from training.ml.features import CROP_DECODE_EDGE, embedder, pictures_crop

    if not len(crops):
        return np.zeros((0, 1280), dtype=np.float32)
    if images.sizes is None:
        raise ValueError("the images' sizes are not known")
    pictures = batch_pictures(images, edge=CROP_DECODE_EDGE)
    cut = pictures_crop(pictures, images.sizes, crops.input_index, crops.boxes)
    return embedder(settings.TRAINING_BACKBONE)(cut)


def _classifier(node_id: str, project: Project, ref: dict, resolved: Resolved):
    """A context classifier (its head on the batch's embeddings) or a deep classifier (its
    network on the batch's images, decoded at twice its input size): the type's ``predict``
    gives the probabilities either way."""
    from training.ml.layout import Layout
    from training.model_types import model_type
    from training.services.versions import version_artifact

    model, version = _model_version(node_id, project, ref, resolved)
    spec = model_type(model.type)
    artifact = version_artifact(version)
    layout = Layout.from_dict(version.layout)
    tuned = tuple(version.thresholds.get(str(c), {}).get("threshold") for c in layout.concept_ids)
    source = {"version": version.number, "model": model.name}
    if not resolved.seed:
        resolved.seed = -version.id

    def run(inputs: dict, context: Context) -> dict:
        if "image" in spec.consumes:
            edge = 2 * artifact.params.image_size
            probs = spec.predict(artifact, batch_pictures(inputs["image"], edge))
        elif not len(inputs["embedding"]):  # no crops in the batch (no box passed)
            probs = np.zeros((0, layout.width))
        else:
            probs = spec.predict(artifact, inputs["embedding"])
        return {
            "concepts": Concepts.scored(
                layout.concept_ids, probs, groups=layout.groups, tuned=tuned, source=source
            )
        }

    return run


def stored_images(input_ids: list[int], vectors: np.ndarray | None = None) -> Images:
    """A batch of stored inputs as the input node gives it: ids, sizes as people see them
    (ingest records them after EXIF orientation) and their stored embeddings."""
    from labeling.models import Input

    sizes = {
        pk: (w, h)
        for pk, w, h in Input.objects.filter(id__in=input_ids).values_list("id", "width", "height")
    }
    return Images(
        np.asarray(input_ids),
        np.asarray([sizes[i] for i in input_ids], dtype=np.int64).reshape(-1, 2),
        pixels=Pixels(vectors=vectors),
    )


def batch_pictures(images: Images, edge: int) -> list:
    """The batch's images as people see them (RGB): a dry run's upload, or the inputs'
    files decoded at reduced scale (no smaller than ``edge``)."""
    pixels = images.pixels
    if isinstance(pixels, Pixels) and pixels.images:
        return [image.convert("RGB") for image in pixels.images]
    from labeling.models import Input
    from labeling.storage import media_path
    from training.ml.features import image_open

    ids = [int(i) for i in images.input_ids]
    files = dict(Input.objects.filter(id__in=ids).values_list("id", "file"))
    return [image_open(media_path(files[i]), edge).convert("RGB") for i in ids]


def regions_from_predictions(predictions, concept_ids, **extra) -> Regions:
    """A detector's per-image (boxes, scores, class indexes) as one Regions value."""
    index, boxes, concepts, scores = [], [], [], []
    for row, (b, s, k) in enumerate(predictions):
        index.extend([row] * len(s))
        boxes.extend(np.asarray(b, dtype=np.float64).reshape(-1, 4).tolist())
        concepts.extend(concept_ids[int(c)] for c in k)
        scores.extend(np.asarray(s, dtype=np.float64).tolist())
    return Regions(
        np.asarray(index, dtype=int),
        np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
        tuple(concepts),
        np.asarray(scores, dtype=np.float64),
        **extra,
    )


def _detector(node_id: str, project: Project, ref: dict, resolved: Resolved):
    from training.model_types import model_type

    model, version = _model_version(node_id, project, ref, resolved)
    spec = model_type(model.type)
    detector = spec.load(bytes(version.head))
    concept_ids = list(version.layout["concept_ids"])
    tuned = {str(c): version.thresholds.get(str(c), {}).get("threshold") for c in concept_ids}
    source = {"version": version.number, "model": model.name}
    edge = detector.params.image_size * 2

    def run(inputs: dict, context: Context) -> dict:
        predictions = spec.predict(detector, batch_pictures(inputs["image"], edge))
        return {
            "regions": regions_from_predictions(
                predictions, concept_ids, tuned=tuned, source=source
            )
        }

    return run


def _faces(node_id: str, project: Project, ref: dict, resolved: Resolved):
    """The pre-built face detector: its boxes are written as the box concept its model's
    ``concept`` parameter names; it has no tuned thresholds (threshold it with a table)."""
    from labeling.services.queue import region_concept_ids
    from training.model_types import model_type
    from training.models import MLModel

    model = MLModel.objects.filter(id=ref.get("id"), project=project).first()
    if model is None:
        raise RunnerError(node_id, f"model {ref.get('id')} is not a model of this project.")
    concept = int(model.params.get("concept") or 0)
    if concept not in region_concept_ids(project):
        raise RunnerError(
            node_id,
            f"{model.name}: set its “concept” parameter to a concept of a group that draws "
            "boxes (the concept its faces are written as).",
        )
    spec = model_type(model.type)
    params = dict(model.params)
    resolved.versions[node_id] = f"{model.name} (pre-built)"

    def run(inputs: dict, context: Context) -> dict:
        found = spec.predict(params, batch_pictures(inputs["image"], edge=640))
        predictions = [(boxes, scores, [0] * len(scores)) for boxes, scores in found]
        return {
            "regions": regions_from_predictions(
                predictions, [concept], source={"model": model.name, "version": None}
            )
        }

    return run


def _embeds_crops(workflow: Workflow, node) -> bool:
    """Whether an embedder node is fed crops (it embeds them from the pictures) rather than
    whole inputs (their stored embeddings)."""
    return any(
        (source := workflow.node(edge.node_id)) is not None and source.type == "image-cropper"
        for edge in node.inputs
    )


def runners_build(*, project: Project, workflow: Workflow) -> Resolved:
    """A runner for every model node; RunnerError names the node that cannot run."""
    resolved = Resolved()
    for node in workflow.nodes:
        if node.type != MODEL:
            continue
        ref = dict(node.model or {})
        kind = ref.get("type")
        if kind == "embedder":
            resolved.runners[node.id] = _embed
            resolved.versions[node.id] = settings.TRAINING_BACKBONE
            resolved.stored_embeddings |= not _embeds_crops(workflow, node)
        elif kind in ("context-classifier", "deep-classifier"):
            resolved.runners[node.id] = _classifier(node.id, project, ref, resolved)
        elif kind == "visual-detector":
            resolved.runners[node.id] = _detector(node.id, project, ref, resolved)
        elif kind == "face-detector":
            resolved.runners[node.id] = _faces(node.id, project, ref, resolved)
        else:
            raise RunnerError(node.id, f"model type {kind!r} cannot run in a workflow yet.")
    return resolved
