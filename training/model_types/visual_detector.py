"""The visual detector: boxes with concepts (image -> regions), trained on people's boxes.

FCOS on a feature pyramid over EfficientNet-Lite0's pretrained stages (``training.ml.
detector``): the stages stay frozen unless ``unfreeze_stages`` lets the last ones train.
``train`` and ``predict`` import torch (workers only); evaluation, box thresholds,
promotion and routing are the model loop's (``training.services.detection``).
"""

from collections.abc import Sequence

from PIL import Image

from training.model_types.base import Field, TypeSpec
from training.models import ModelType


def _params(params: dict):
    from training.ml.detector import DetectorParams

    try:
        return DetectorParams(**params)
    except ValueError as exc:  # e.g. an image size that is not a multiple of 32
        raise ValueError(f"visual-detector: {exc}") from None


def train(*, images, targets, num_classes: int, params: dict, progress):
    from training.ml.detector import train_detector

    return train_detector(
        images, targets, _params(params), progress=progress, num_classes=num_classes
    )


def load(data: bytes):
    from training.ml.detector import Detector

    return Detector.from_bytes(data)


def predict(detector, images: Sequence[Image.Image]) -> list:
    """Per image (boxes normalised (x, y, w, h), scores, class indexes), best first."""
    return detector.predict(list(images))


SPEC = TypeSpec(
    key=ModelType.VISUAL_DETECTOR,
    title="Visual detector",
    description=(
        "Finds objects and draws a box around each (FCOS on EfficientNet-Lite0's pretrained "
        "stages). Learns from the boxes people draw; trains in minutes on a CPU with the "
        "backbone frozen, faster on a GPU worker."
    ),
    consumes=("image",),
    produces=("regions",),
    train=train,
    load=load,
    predict=predict,
    train_stage="Training the detector",
    fields=(
        Field("image_size", int, 320, "Network input size in pixels (multiple of 32).", 128, 1024),
        Field("epochs", int, 12, "Passes over the training images.", 1, 200),
        Field("batch_size", int, 8, "Images per optimisation step.", 1, 64),
        Field("learning_rate", float, 2e-3, "AdamW learning rate.", 1e-5, 1.0),
        Field(
            "unfreeze_stages",
            int,
            0,
            "Pretrained stages (of 7, from the last) that train too; 0 keeps them frozen.",
            0,
            7,
        ),
        Field("score_floor", float, 0.05, "Detections scoring less are dropped.", 0.0, 1.0),
    ),
)
