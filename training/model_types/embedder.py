"""The embedder: the backbone's vector of an image (image -> embedding). Pre-built, so there
is nothing to train; ``predict`` loads the backbone (torch) on first use, on a worker."""

from collections.abc import Sequence

import numpy as np
from PIL import Image

from training.model_types.base import TypeSpec
from training.models import ModelType


def predict(backbone: str | None, images: Sequence[Image.Image]) -> np.ndarray:
    """(n, d) vectors of ``images`` from the named backbone (None: the configured one)."""
    from django.conf import settings

    from training.ml.features import embedder

    return embedder(backbone or settings.TRAINING_BACKBONE)(images)


SPEC = TypeSpec(
    key=ModelType.EMBEDDER,
    title="Embedder",
    description=(
        "Returns the backbone's 1280-d vector of an input (or of each crop, when a cropper "
        "feeds it); powers “find similar”. Nothing to train."
    ),
    # with crops wired (detector -> cropper -> embedder), the vector of each crop
    consumes=("image", "crops"),
    optional=("crops",),
    produces=("embedding",),
    predict=predict,
)
