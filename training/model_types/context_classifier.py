"""The context classifier: a head trained on frozen embeddings (embedding -> concepts).

With ``crops`` set it is a classifier on crops: it learns the box concepts from the crops of
the boxes people labeled (``training.services.crops``), for the stacked workflow detector ->
image cropper -> embedder -> this classifier, which labels each detected box.

``train`` fits the head with torch (imported inside ``train_head``, on a worker); ``predict``
applies it with numpy, so routing, metrics and on-demand scoring need no torch.
"""

import numpy as np

from training.ml.head import Head, HeadParams, train_head
from training.ml.layout import Layout
from training.model_types.base import Field, TypeSpec
from training.models import ModelType


def train(
    *,
    features: np.ndarray,
    y: np.ndarray,
    known: np.ndarray,
    layout: Layout,
    params: dict,
    progress,
    evaluation=None,
) -> Head:
    """Today's head training; ``params`` are the type's cleaned fields (``crops`` says what
    the features are of: whole inputs or the crops of their boxes, ``training.services.
    versions`` gathers them). A fixed number of steps: the eval split is not looked at."""
    return train_head(features, y, known, layout, head_params(params), progress=progress)


def head_params(params: dict) -> HeadParams:
    """The head's training parameters: the cleaned fields but ``crops``, which says what
    the features are of, not how to fit them."""
    return HeadParams(**{k: v for k, v in params.items() if k != "crops"})


def predict(head: Head, features: np.ndarray) -> np.ndarray:
    """(n, width) probabilities over the head's layout columns, from (n, d) embeddings."""
    return head.probabilities(features)


SPEC = TypeSpec(
    key=ModelType.CONTEXT_CLASSIFIER,
    title="Context classifier",
    description=(
        "A head trained on frozen EfficientNet-Lite0 embeddings: softmax per exclusive group, "
        "sigmoid per multi-label concept. Trains in seconds on a CPU."
    ),
    consumes=("embedding",),
    produces=("concepts",),
    train=train,
    predict=predict,
    train_stage="Training the head",
    cheap_refit=True,
    fields=(
        Field("hidden", int, 0, "Units of a hidden layer; 0 trains a linear head.", 0, 4096),
        Field("steps", int, 300, "Optimisation steps.", 10, 20000),
        Field("learning_rate", float, 0.01, "AdamW learning rate.", 1e-5, 1.0),
        Field("weight_decay", float, 1e-3, "AdamW weight decay (regularisation).", 0.0, 1.0),
        Field("batch_size", int, 4096, "Inputs per optimisation step.", 16, 65536),
        Field(
            "crops",
            int,
            0,
            "1: a classifier on crops. It learns the box concepts from the crops of labeled "
            "boxes, and labels each box a detector finds in a workflow (detector -> image "
            "cropper -> embedder -> this classifier). 0: whole inputs.",
            0,
            1,
        ),
    ),
)
