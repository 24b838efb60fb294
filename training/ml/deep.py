"""The deep classifier: EfficientNet-Lite0 fine-tuned on the project's images (image ->
concepts), its last layer one output per column of the project's ``Layout``.

Starts from the packaged ImageNet weights (``backbone.pretrained_state``); the first
``freeze_stages`` of the seven stages (and the stem) stay frozen, the rest trains end to end; every
batch norm keeps ImageNet's statistics (``_freeze_norms``) and the new last layer starts at
zero. Images are resized (squashed) to
``image_size`` and scaled to [-1, 1] as the backbone expects; training draws each batch again
with a random affine (zoom, shift, small rotation, an optional mirror) and a brightness and
contrast jitter. Loss and class weights are the head's (``head.layout_loss``,
``head.class_weights``); AdamW with a linear warm-up and a cosine decay. After every epoch the
model is scored on the eval split (macro F1, as the model loop measures it): the best epoch's
weights are kept, and training stops once ``patience`` epochs in a row did not beat it.

torch and timm are imported inside the functions: only workers call them. A run uses
``cuda`` when the worker has it (``detector.default_device``), else the CPU.
"""

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from training.ml import backbone
from training.ml.artifacts import payload_dump, payload_load
from training.ml.detector import default_device
from training.ml.head import (
    class_weights,
    decision_scores,
    layout_loss,
    layout_probabilities,
    loss_columns,
)
from training.ml.layout import Layout
from training.ml.metrics import evaluate

FORMAT = 1
STAGES = 7  # EfficientNet-Lite0's stages (timm's ``blocks.0`` .. ``blocks.6``)
# Resized training and eval images are kept in memory (uint8) up to this many bytes; past
# it they are decoded again for every batch.
CACHE_BYTES = 1 << 30

Progress = Callable[[float, str], None]  # (fraction done, what is going on in words)


@dataclass(frozen=True)
class DeepParams:
    image_size: int = 64
    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 1e-2
    freeze_stages: int = 0  # 0: end to end; N: the stem and the first N stages stay frozen
    patience: int = 3  # epochs without a better eval macro F1 before stopping; 0: never
    augment: float = 1.0  # strength of the random affine and colour jitter; 0: none
    mirror: int = 0  # 1: also mirror training images left-right (not for digits or text)
    dropout: float = 0.2
    seed: int = 0

    def __post_init__(self):
        if not 0 <= self.freeze_stages <= STAGES:
            raise ValueError(f"freeze_stages must be 0 to {STAGES}")
        if self.image_size < 32:
            raise ValueError("image_size must be at least 32")


@dataclass
class Curves:
    """Per epoch: the mean training loss and the eval split's macro F1."""

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    eval_f1: list[float | None] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class DeepClassifier:
    """A fine-tuned network in eval mode: ``probabilities`` of PIL images, bytes to store."""

    params: DeepParams
    layout: Layout
    model: Any  # timm EfficientNet
    device: str
    curves: Curves = field(default_factory=Curves)

    def probabilities(self, images: Sequence[Image.Image], batch_size: int = 64) -> np.ndarray:
        """(n, width) probabilities over the layout's columns (softmax per exclusive group,
        sigmoid per multi-label concept), in batches."""
        return self.probabilities_of(_Pixels(images, self.params.image_size), batch_size)

    def probabilities_of(self, pixels: "_Pixels", batch_size: int = 64) -> np.ndarray:
        import torch

        self.model.eval()
        out = np.zeros((len(pixels), self.layout.width), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(pixels), batch_size):
                rows = np.arange(start, min(start + batch_size, len(pixels)))
                batch = torch.from_numpy(backbone.to_unit(pixels.take(rows))).to(self.device)
                out[rows] = self.model(batch).float().cpu().numpy()
        return layout_probabilities(out, self.layout)

    def to_bytes(self) -> bytes:
        payload = {
            "format": FORMAT,
            "params": asdict(self.params),
            "layout": self.layout.to_dict(),
            "curves": self.curves.to_dict(),
            "state": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
        }
        return payload_dump(payload)

    @classmethod
    def from_bytes(cls, data: bytes, device: str | None = None) -> "DeepClassifier":
        device = device or default_device()
        payload = payload_load(data, format=FORMAT, what="deep classifier")
        params = DeepParams(**payload["params"])
        layout = Layout.from_dict(payload["layout"])
        model = build_model(layout.width, params, pretrained=False)
        model.load_state_dict(payload["state"])
        model.to(device).eval()
        return cls(params, layout, model, device, Curves(**payload["curves"]))


def build_model(width: int, params: DeepParams, *, pretrained: bool = True):
    """EfficientNet-Lite0 with ``width`` outputs, the ImageNet weights in every layer but the
    new last one; the stem and first ``freeze_stages`` stages do not train."""
    import timm

    model = timm.create_model(
        backbone.NAME, pretrained=False, num_classes=width, drop_rate=params.dropout
    )
    if pretrained:
        state = {k: v for k, v in backbone.pretrained_state().items() if "classifier" not in k}
        missing, unexpected = model.load_state_dict(state, strict=False)
        if unexpected or any("classifier" not in name for name in missing):
            raise backbone.BackboneUnavailable("The pretrained weights do not fit the network.")
    for name, parameter in model.named_parameters():
        parameter.requires_grad = not _frozen(name, params.freeze_stages)
    # a new last layer starts at zero: every option equally likely, no large random logits
    # for the early steps to undo (timm's initialisation is for training from scratch)
    model.get_classifier().weight.data.zero_()
    model.get_classifier().bias.data.zero_()
    return model


def _frozen(name: str, freeze_stages: int) -> bool:
    if freeze_stages == 0:
        return False
    if name.startswith(("conv_stem.", "bn1.")):
        return True
    if name.startswith("blocks."):
        return int(name.split(".")[1]) < freeze_stages
    return False


def _freeze_norms(model) -> None:
    """Every batch norm keeps ImageNet's statistics while training (call after ``train()``):
    a few hundred small images give noisy batch statistics, and running averages that drift
    from them make the eval-mode network a different one from the network that trained."""
    import torch

    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.eval()


# ---------------------------------------------------------------------------- images


class _Pixels:
    """Images resized to the network's input, as uint8 (n, 3, size, size) rows: kept in
    memory when they fit ``CACHE_BYTES``, else decoded again per batch."""

    def __init__(self, images: Sequence[Image.Image], size: int):
        self.images, self.size = images, size
        self.cached = None
        if len(images) * 3 * size * size <= CACHE_BYTES:
            self.cached = (
                np.concatenate(
                    [
                        backbone.pixels(images[start : start + 256], size)
                        for start in range(0, len(images), 256)
                    ]
                )
                if len(images)
                else np.zeros((0, 3, size, size), dtype=np.uint8)
            )

    def __len__(self) -> int:
        return len(self.images)

    def take(self, rows: np.ndarray) -> np.ndarray:
        if self.cached is not None:
            return self.cached[rows]
        return backbone.pixels([self.images[int(i)] for i in rows], self.size)


def augment(batch, rng: np.random.Generator, strength: float, mirror: bool):
    """A random affine per image (zoom 0.8-1.15, shift up to 10 %, rotation up to 12 degrees,
    scaled by ``strength``; mirrored half the time with ``mirror``) and a brightness and
    contrast jitter, on a (n, 3, s, s) float batch in [-1, 1] (torch). Pixels moved in from
    outside are the batch's edge colour (border padding)."""
    import torch
    import torch.nn.functional as F

    n = batch.shape[0]
    if strength <= 0 and not mirror:
        return batch
    angle = np.radians(rng.uniform(-12, 12, n) * strength)
    zoom = 1.0 + rng.uniform(-0.2, 0.15, n) * strength
    shift = rng.uniform(-0.1, 0.1, (n, 2)) * strength
    flip = np.where(rng.random(n) < 0.5, -1.0, 1.0) if mirror else np.ones(n)
    cos, sin = np.cos(angle) / zoom, np.sin(angle) / zoom
    theta = np.stack(
        [
            np.stack([cos * flip, -sin, shift[:, 0]], axis=1),
            np.stack([sin * flip, cos, shift[:, 1]], axis=1),
        ],
        axis=1,
    )
    theta = torch.from_numpy(theta.astype(np.float32)).to(batch.device)
    grid = F.affine_grid(theta, list(batch.shape), align_corners=False)
    moved = F.grid_sample(batch, grid, padding_mode="border", align_corners=False)
    contrast = torch.from_numpy(1.0 + rng.uniform(-0.2, 0.2, (n, 1, 1, 1)) * strength)
    brightness = torch.from_numpy(rng.uniform(-0.1, 0.1, (n, 1, 1, 1)) * strength)
    moved = moved * contrast.float().to(batch.device) + brightness.float().to(batch.device)
    return moved.clamp_(-1.0, 1.0)


# ---------------------------------------------------------------------------- training


@dataclass(frozen=True)
class Labeled:
    """Images with their targets over a layout's columns (``Layout.targets``)."""

    images: Sequence[Image.Image]  # a sequence that may load each image lazily
    y: np.ndarray
    known: np.ndarray


def eta_text(seconds: float) -> str:
    """A remaining time as people say it: "about 40 s", "about 3 min", "about 1.5 h"."""
    if seconds < 60:
        return f"about {max(5, round(seconds / 5) * 5)} s"
    if seconds < 3600:
        return f"about {round(seconds / 60)} min"
    return f"about {seconds / 3600:.1f} h"


def train_deep(
    train: Labeled,
    layout: Layout,
    params: DeepParams = DeepParams(),
    *,
    evaluation: Labeled | None = None,
    progress: Progress | None = None,
    device: str | None = None,
) -> DeepClassifier:
    """Fine-tune on ``train``; with ``evaluation``, score it after every epoch, keep the best
    epoch and stop early (see the module). ``progress(fraction, detail)`` is called before
    each batch with the epoch and the time left; it may raise to stop the run."""
    import torch

    device = device or default_device()
    count = len(train.images)
    if count == 0:
        raise ValueError("No training images.")
    torch.manual_seed(params.seed)
    rng = np.random.default_rng(params.seed)
    started = time.monotonic()
    pixels = _Pixels(train.images, params.image_size)
    eval_pixels = _Pixels(evaluation.images, params.image_size) if evaluation else None
    model = build_model(layout.width, params).to(device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    last = set(map(id, model.get_classifier().parameters()))
    # the new last layer learns at ten times the rate of the pretrained layers under it
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for p in trainable if id(p) not in last], "lr": params.learning_rate},
            {"params": list(model.get_classifier().parameters()), "lr": params.learning_rate * 10},
        ],
        weight_decay=params.weight_decay,
    )
    per_epoch = math.ceil(count / params.batch_size)
    total = per_epoch * params.epochs
    warmup = max(1, min(per_epoch, total // 10))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: (
            (step + 1) / warmup
            if step < warmup
            else 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))
        ),
    )
    y_all = torch.from_numpy(train.y).to(device)
    known_all = torch.from_numpy(train.known).to(device)
    weights = torch.from_numpy(class_weights(train.y, train.known, layout)).to(device)
    groups, singles = loss_columns(layout)
    groups, singles = [g.to(device) for g in groups], singles.to(device)
    result = DeepClassifier(params, layout, model, device)
    curves, best_state, best_f1, waited = result.curves, None, -1.0, 0
    step = 0
    for epoch in range(1, params.epochs + 1):
        model.train()
        _freeze_norms(model)
        order = rng.permutation(count)
        epoch_loss = 0.0
        for start in range(0, count, params.batch_size):
            if progress:
                progress(step / total, _detail(epoch, params.epochs, step, total, started))
            rows = np.sort(order[start : start + params.batch_size])
            batch = torch.from_numpy(backbone.to_unit(pixels.take(rows))).to(device)
            batch = augment(batch, rng, params.augment, bool(params.mirror))
            index = torch.from_numpy(rows).to(device)
            loss = layout_loss(
                model(batch), y_all[index], known_all[index], groups, singles, weights
            )
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 10.0)
            optimizer.step()
            schedule.step()
            epoch_loss += float(loss.detach()) * len(rows)
            step += 1
        curves.epoch.append(epoch)
        curves.train_loss.append(round(epoch_loss / count, 5))
        f1 = _macro_f1(result, eval_pixels, evaluation, layout) if evaluation else None
        curves.eval_f1.append(None if f1 is None else round(f1, 5))
        score = -1.0 if f1 is None else f1
        if best_state is None or score > best_f1:
            best_f1, waited, curves.best_epoch = score, 0, epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            waited += 1
            if params.patience and waited >= params.patience and epoch < params.epochs:
                curves.stopped_early = True
                break
    model.load_state_dict(best_state)
    model.eval()
    return result


def _detail(epoch: int, epochs: int, step: int, total: int, started: float) -> str:
    text = f"epoch {epoch} of {epochs}"
    if step:
        left = (time.monotonic() - started) / step * (total - step)
        text += f", {eta_text(left)} left"
    return text


def _macro_f1(model: DeepClassifier, pixels: "_Pixels", data: Labeled, layout: Layout):
    """The eval split's macro F1 as the model loop computes it (``metrics.evaluate``)."""
    probs = model.probabilities_of(pixels)
    scores = decision_scores(probs, layout)
    return evaluate(probs, scores, data.y, data.known, layout)["macro_f1"]
