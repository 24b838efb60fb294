"""Model-node runners: how the portal's models run inside the engine.

``runners_build`` resolves each model node of a workflow to its model and version (``live``
or a pinned number) and returns one runner per node, plus what the caller needs to write
the rows (model version ids by (model name, version number)) and the run's seed.

- embedder: the stored embeddings of the batch's inputs (``embeddings_load``), or, for a
  dry run's uploaded image, the vector computed here with ``training.ml.features`` (on a
  worker: that path loads the backbone).
- context-classifier: ``version_head(version).probabilities(features)`` with the version's
  tuned thresholds as ``Concepts.tuned`` and its exclusive groups, as the default workflow
  expects (docs/workflows.md).
"""

from dataclasses import dataclass, field

import numpy as np
from django.conf import settings

from labeling.models import Project
from labeling.services.errors import ServiceError
from workflows.ports import Concepts
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


def _embed(inputs: dict, context: Context) -> dict:
    images = inputs["image"]
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


def _classifier(node_id: str, project: Project, ref: dict, resolved: Resolved):
    from training.models import MLModel, ModelVersion
    from training.services.versions import version_head

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
    head = version_head(version)
    layout = head.layout
    tuned = tuple(version.thresholds.get(str(c), {}).get("threshold") for c in layout.concept_ids)
    source = {"version": version.number, "model": model.name}
    resolved.version_ids[(model.name, version.number)] = version.id
    resolved.versions[node_id] = f"{model.name} v{version.number}"
    if not resolved.seed:
        resolved.seed = -version.id

    def run(inputs: dict, context: Context) -> dict:
        probs = head.probabilities(inputs["embedding"])
        return {
            "concepts": Concepts.scored(
                layout.concept_ids, probs, groups=layout.groups, tuned=tuned, source=source
            )
        }

    return run


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
        elif kind == "context-classifier":
            resolved.runners[node.id] = _classifier(node.id, project, ref, resolved)
        else:
            raise RunnerError(node.id, f"model type {kind!r} cannot run in a workflow yet.")
    return resolved
