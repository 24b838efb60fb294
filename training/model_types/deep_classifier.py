"""The deep classifier: EfficientNet-Lite0 fine-tuned on the project's images (image ->
concepts), from the packaged ImageNet weights (``training.ml.deep``).

Where the context classifier learns a head on frozen embeddings, this one trains the network
itself (end to end, or from a chosen stage), so it sees what the embedding leaves out; it
costs minutes to hours on a CPU and runs on the ``training`` queue (a GPU worker uses
``cuda``). Evaluation, thresholds, promotion and the workflow node are the context
classifier's (``training.services.versions``, ``workflows.runners``): its ``predict`` gives
the same (n, width) probabilities, from images instead of embeddings.
"""

from collections.abc import Sequence

import numpy as np
from PIL import Image

from training.ml.layout import Layout
from training.model_types.base import Field, TypeSpec
from training.models import ModelType


def _params(params: dict):
    from training.ml.deep import DeepParams

    try:
        return DeepParams(**params)
    except ValueError as exc:
        raise ValueError(f"deep-classifier: {exc}") from None


def train(*, features, y, known, layout: Layout, params: dict, progress, evaluation=None):
    """``features``: the train split's images (a lazy sequence); ``evaluation``: the eval
    split's (images, y, known), scored after every epoch for early stopping."""
    from training.ml.deep import Labeled, train_deep

    held_out = Labeled(*evaluation) if evaluation is not None else None
    return train_deep(
        Labeled(features, y, known),
        layout,
        _params(params),
        evaluation=held_out,
        progress=progress,
    )


def load(data: bytes):
    from training.ml.deep import DeepClassifier

    return DeepClassifier.from_bytes(data)


def predict(model, images: Sequence[Image.Image]) -> np.ndarray:
    """(n, width) probabilities over the version's layout columns, from images."""
    return model.probabilities(images)


SPEC = TypeSpec(
    key=ModelType.DEEP_CLASSIFIER,
    title="Deep classifier",
    description=(
        "EfficientNet-Lite0 fine-tuned on the project's images (from ImageNet weights), with "
        "augmentation, a warm-up and cosine learning rate, class weights and early stopping on "
        "the eval split. Learns what frozen embeddings miss; minutes on a CPU for small images, "
        "much faster on a GPU worker."
    ),
    consumes=("image",),
    produces=("concepts",),
    train=train,
    load=load,
    predict=predict,
    train_stage="Fine-tuning",
    fields=(
        Field(
            "image_size",
            int,
            128,
            "Network input size in pixels (images are resized to a square). 64 suits tiny "
            "images such as the digits; 224 is the backbone's own size. Cost grows with its "
            "square.",
            64,
            512,
        ),
        Field("epochs", int, 10, "Most passes over the training images.", 1, 200),
        Field("batch_size", int, 32, "Images per optimisation step.", 2, 256),
        Field(
            "learning_rate",
            float,
            1e-3,
            "AdamW peak learning rate of the pretrained layers (the new last layer: 10x).",
            1e-6,
            0.1,
        ),
        Field("weight_decay", float, 1e-2, "AdamW weight decay (regularisation).", 0.0, 1.0),
        Field(
            "freeze_stages",
            int,
            0,
            "Pretrained stages (of 7, from the first) that stay frozen; 0 fine-tunes end to "
            "end, 7 trains only the last convolution and the output layer.",
            0,
            7,
        ),
        Field(
            "patience",
            int,
            3,
            "Stop after this many epochs without a better eval macro F1 (the best epoch is "
            "kept); 0 never stops early.",
            0,
            200,
        ),
        Field(
            "augment",
            float,
            1.0,
            "Strength of the random zoom, shift, rotation and colour jitter; 0 turns it off.",
            0.0,
            2.0,
        ),
        Field(
            "mirror",
            int,
            0,
            "1: also mirror training images left-right (photos; not digits or text).",
            0,
            1,
        ),
    ),
)
