"""The model types a project can create: one module per type, the registry here.

Each module declares a ``SPEC`` (``base.TypeSpec``): key, title, description, params with
bounds and help, the port types it consumes and produces, and its ``train`` / ``predict``.
``version_train`` trains through ``model_type(model.type).train``; evaluation, thresholds,
promotion, progress and rollback are shared. A new type (a clusterer, an anomaly
detector) is a new module added to ``TYPES`` (see docs/model.md).
"""

from training.model_types import (
    context_classifier,
    deep_classifier,
    embedder,
    face_detector,
    visual_detector,
)
from training.model_types.base import Field, TypeSpec

CONTEXT_CLASSIFIER = context_classifier.SPEC
DEEP_CLASSIFIER = deep_classifier.SPEC
EMBEDDER = embedder.SPEC
VISUAL_DETECTOR = visual_detector.SPEC
FACE_DETECTOR = face_detector.SPEC

TYPES: dict[str, TypeSpec] = {
    t.key: t
    for t in (CONTEXT_CLASSIFIER, DEEP_CLASSIFIER, EMBEDDER, VISUAL_DETECTOR, FACE_DETECTOR)
}


def model_type(key: str) -> TypeSpec:
    try:
        return TYPES[key]
    except KeyError:
        raise ValueError(f"Unknown model type {key!r}; known: {', '.join(TYPES)}.") from None


__all__ = [
    "CONTEXT_CLASSIFIER",
    "DEEP_CLASSIFIER",
    "EMBEDDER",
    "VISUAL_DETECTOR",
    "FACE_DETECTOR",
    "TYPES",
    "Field",
    "TypeSpec",
    "model_type",
]
