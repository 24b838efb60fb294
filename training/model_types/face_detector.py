"""The face detector: MTCNN's faces in an image (image -> regions). Pre-built, so there is
nothing to train; ``predict`` loads the three small networks (torch) on first use, on a
worker, from the weight files the ``facenet-pytorch`` wheel ships (training/ml/faces.py,
docs/face-detector.md)."""

from collections.abc import Sequence

from PIL import Image

from training.model_types.base import Field, TypeSpec
from training.models import ModelType


def predict(params: dict | None, images: Sequence[Image.Image]) -> list[tuple]:
    """Per image, (boxes (k, 4) normalised x, y, w, h with x, y the top left; scores (k,)),
    best first. ``params``: the model's parameters (None: the defaults), checked here."""
    from training.ml.faces import detect_faces

    cleaned = SPEC.clean(params)
    cleaned.pop("concept")
    return detect_faces(
        images,
        min_face=cleaned["min_face"],
        thresholds=(
            cleaned["pnet_threshold"],
            cleaned["rnet_threshold"],
            cleaned["onet_threshold"],
        ),
    )


def _threshold(name: str, default: float, stage: str) -> Field:
    return Field(name, float, default, stage, 0.1, 0.999)


SPEC = TypeSpec(
    key=ModelType.FACE_DETECTOR,
    title="Face detector",
    description=(
        "Finds faces and returns a box and a score for each (MTCNN: three small networks in a "
        "cascade, 2 MB of weights that ship with the facenet-pytorch wheel). Nothing to train."
    ),
    consumes=("image",),
    produces=("regions",),
    predict=predict,
    fields=(
        Field(
            "concept",
            int,
            0,
            "The id of the box concept its faces are written as in workflows (a concept of a "
            "group that draws boxes); 0: not chosen yet.",
            0,
            2**63 - 1,
        ),
        Field(
            "min_face",
            int,
            20,
            "The smallest face looked for, in pixels of the image (its shorter side). "
            "Smaller finds more distant faces but costs more time.",
            12,
            4096,
        ),
        _threshold(
            "pnet_threshold",
            0.6,
            "Face probability a 12-pixel window must reach to be proposed (stage 1, P-Net). "
            "Lower finds harder faces but sends many more windows to the later stages.",
        ),
        _threshold(
            "rnet_threshold",
            0.7,
            "Face probability a proposal must reach when rescored at 24x24 (stage 2, R-Net).",
        ),
        _threshold(
            "onet_threshold",
            0.7,
            "Face probability a box must reach when rescored at 48x48 (stage 3, O-Net); the "
            "score returned. Higher gives fewer false faces.",
        ),
    ),
)
