"""Face detection with MTCNN (Zhang et al., 2016): three small CNNs in a cascade.

1. **P-Net** (proposals) slides a 12x12 window over an image pyramid, fully convolutionally
   (stride 2). Every window whose face probability reaches ``thresholds[0]`` becomes a box;
   overlapping boxes are merged (non-maximum suppression, per scale, then across scales),
   moved by the offsets the network regressed, and made square.
2. **R-Net** (refine) rescores each square cut out at 24x24; boxes below ``thresholds[1]``
   go, the rest are merged, moved and squared again.
3. **O-Net** (output) rescores the 48x48 cuts; boxes below ``thresholds[2]`` go, the rest
   are moved, and a box mostly inside a better one is dropped ("min" overlap).

The weights are the three files that the PyPI wheel ``facenet-pytorch`` 2.6.0 (MIT) ships in
``facenet_pytorch/data``; they are found through the wheel's file list and checked by their
sha256, and none of that package's code is imported (it pins torch < 2.3, imports
``requests`` and changes the process's warning filters). Nothing is downloaded. See
docs/face-detector.md for the choice.

Boxes are in pixels of the image as given, continuous coordinates (pixel i covers [i, i+1)),
as (x1, y1, x2, y2) until the end, then normalised (x, y, w, h) with x, y the top left.
torch is imported inside functions: this module runs on workers only.
"""

import hashlib
import math
from collections.abc import Sequence
from functools import lru_cache
from itertools import groupby

import numpy as np
from PIL import Image, ImageOps

DISTRIBUTION = "facenet-pytorch"
WEIGHTS = {  # file in the wheel -> its sha256 (facenet-pytorch 2.6.0)
    "pnet": "a2a71925e0b9996a42f63e47efc1ca19043e69558b5c523b978d611dfae49c8f",
    "rnet": "bbb937de72efc9ef83b186c49f5f558467a1d7e3453a8ece0d71a886633f6a86",
    "onet": "165bfbe42940416ccfb977545cf0e976d5bf321f67083ae2aaaa5c764280118d",
}
INSTALL = f"pip install --no-deps {DISTRIBUTION}==2.6.0"

WINDOW = 12  # P-Net's input: the smallest face it sees, in pixels of a pyramid level
STRIDE = 2  # P-Net's step over its input (one 2x2 pool)
PYRAMID_FACTOR = 0.709  # each level's edge over the previous one's (area halves)
MIN_FACE = WINDOW  # a smaller face would need the image upscaled, at a cost that grows fast
BATCH_PIXELS = 1 << 24  # same-size images stacked per P-Net batch, at most this many pixels

Detections = tuple[np.ndarray, np.ndarray]  # boxes (k, 4) normalised xywh, scores (k,)


class FaceWeightsUnavailable(RuntimeError):
    pass


# ---------------------------------------------------------------------------- boxes (numpy)


def pyramid_scales(height: int, width: int, min_face: int) -> list[float]:
    """The scales at which a ``min_face`` face fills P-Net's 12-pixel window, then smaller
    and smaller (x0.709), while the image's short edge still holds one window."""
    scale = WINDOW / min_face
    scales = []
    while min(height, width) * scale >= WINDOW:
        scales.append(scale)
        scale *= PYRAMID_FACTOR
    return scales


def overlaps(box: np.ndarray, others: np.ndarray, mode: str = "iou") -> np.ndarray:
    """The overlap of one (x1, y1, x2, y2) box with each of ``others`` (n, 4): intersection
    over union, or over the smaller area ("min": 1 when one box lies inside the other)."""
    width = np.clip(np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0]), 0, None)
    height = np.clip(np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1]), 0, None)
    inter = width * height
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    if mode == "iou":
        denominator = area + areas - inter
    elif mode == "min":
        denominator = np.minimum(area, areas)
    else:
        raise ValueError(f"Unknown overlap mode {mode!r}: iou or min.")
    return inter / np.maximum(denominator, 1e-9)


def nms(
    boxes: np.ndarray, scores: np.ndarray, groups: np.ndarray, threshold: float, mode: str = "iou"
) -> np.ndarray:
    """Greedy non-maximum suppression within each group (image): the indices of the boxes
    kept, best first. A box goes when it overlaps a better kept one by more than
    ``threshold``."""
    keep = []
    for group in np.unique(groups):
        order = np.flatnonzero(groups == group)
        order = order[np.argsort(-scores[order], kind="stable")]
        while order.size:
            best, order = order[0], order[1:]
            keep.append(best)
            order = order[overlaps(boxes[best], boxes[order], mode) <= threshold]
    keep = np.asarray(keep, dtype=np.int64)
    return keep[np.argsort(-scores[keep], kind="stable")]


def regress(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Boxes moved by the networks' offsets, each a fraction of the box's width or height."""
    size = np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], axis=1)
    return boxes + offsets * np.tile(size, 2)


def squared(boxes: np.ndarray) -> np.ndarray:
    """Each box made square around its centre, its side the longer of its two."""
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    side = np.max(boxes[:, 2:] - boxes[:, :2], axis=1, keepdims=True)
    return np.concatenate([centre - side / 2, centre + side / 2], axis=1)


def normalised_xywh(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """(x1, y1, x2, y2) pixel boxes clipped to the image, as fractions (x, y, w, h)."""
    scale = np.array([width, height, width, height], dtype=np.float64)
    clipped = np.clip(boxes, 0, scale) / scale
    return np.concatenate([clipped[:, :2], clipped[:, 2:] - clipped[:, :2]], axis=1)


# ---------------------------------------------------------------------------- pixels

ORIENTATION = 0x0112  # the EXIF tag; values 5 to 8 turn the image a quarter


def displayed_size(image: Image.Image) -> tuple[int, int]:
    """(width, height) of the image as a browser shows it (EXIF orientation applied)."""
    width, height = image.size
    return (height, width) if image.getexif().get(ORIENTATION) in (5, 6, 7, 8) else (width, height)


def rgb_pixels(image: Image.Image) -> np.ndarray:
    """(h, w, 3) uint8 of the image as shown: EXIF orientation applied, transparency over
    white (as the thumbnails are), 16-bit and float grey stretched to its own range."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        values = np.asarray(image, dtype=np.float64)
        low, high = values.min(), values.max()
        grey = ((values - low) * (255.0 / max(high - low, 1e-9))).round().astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if "A" in image.getbands() or "transparency" in image.info:
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
    return np.asarray(image.convert("RGB"))


# ---------------------------------------------------------------------------- networks


def _weight_file(name: str):
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        dist = distribution(DISTRIBUTION)
    except PackageNotFoundError as exc:
        raise FaceWeightsUnavailable(
            f"The face detector's weights ship in {DISTRIBUTION!r}, which is not installed "
            f"({INSTALL}). Nothing is downloaded at run time."
        ) from exc
    path = dist.locate_file(f"facenet_pytorch/data/{name}.pt")
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError as exc:
        raise FaceWeightsUnavailable(f"The weights file {path} is missing ({INSTALL}).") from exc
    if digest != WEIGHTS[name]:
        raise FaceWeightsUnavailable(
            f"{path} is not the file of {DISTRIBUTION} 2.6.0 (sha256 {digest}); {INSTALL}."
        )
    return path


# The last feature map before each first dense layer: (channels, height, width).
LAST_MAP = {"dense4.weight": (64, 3, 3), "dense5.weight": (128, 3, 3)}


def _channels_first(weight, shape: tuple[int, int, int]):
    """facenet-pytorch's R-Net and O-Net flatten their last feature map as (width, height,
    channels), as the Caffe models they came from did; reorder the first dense layer's
    columns so that a plain (channels, height, width) flatten feeds it the same numbers."""
    channels, height, width = shape
    by_whc = weight.reshape(len(weight), width, height, channels)
    return by_whc.permute(0, 3, 2, 1).reshape(len(weight), -1)


def _stage(name: str):
    """One network in eval mode: its layers in order, the two heads last (face logits,
    box offsets). Layer names match the weight files' keys."""
    import torch
    from torch import nn

    conv = nn.Conv2d

    def pool(k, s):
        return nn.MaxPool2d(k, s, ceil_mode=True)

    if name == "pnet":
        layers = {
            "conv1": conv(3, 10, 3), "prelu1": nn.PReLU(10), "pool1": pool(2, 2),
            "conv2": conv(10, 16, 3), "prelu2": nn.PReLU(16),
            "conv3": conv(16, 32, 3), "prelu3": nn.PReLU(32),
            "conv4_1": conv(32, 2, 1), "conv4_2": conv(32, 4, 1),
        }  # fmt: skip
    elif name == "rnet":
        layers = {
            "conv1": conv(3, 28, 3), "prelu1": nn.PReLU(28), "pool1": pool(3, 2),
            "conv2": conv(28, 48, 3), "prelu2": nn.PReLU(48), "pool2": pool(3, 2),
            "conv3": conv(48, 64, 2), "prelu3": nn.PReLU(64), "flatten": nn.Flatten(),
            "dense4": nn.Linear(576, 128), "prelu4": nn.PReLU(128),
            "dense5_1": nn.Linear(128, 2), "dense5_2": nn.Linear(128, 4),
        }  # fmt: skip
    else:
        layers = {
            "conv1": conv(3, 32, 3), "prelu1": nn.PReLU(32), "pool1": pool(3, 2),
            "conv2": conv(32, 64, 3), "prelu2": nn.PReLU(64), "pool2": pool(3, 2),
            "conv3": conv(64, 64, 3), "prelu3": nn.PReLU(64), "pool3": pool(2, 2),
            "conv4": conv(64, 128, 2), "prelu4": nn.PReLU(128), "flatten": nn.Flatten(),
            "dense5": nn.Linear(1152, 256), "prelu5": nn.PReLU(256),
            "dense6_1": nn.Linear(256, 2), "dense6_2": nn.Linear(256, 4),
        }  # fmt: skip
    net = nn.ModuleDict(layers)
    state = torch.load(_weight_file(name), map_location="cpu", weights_only=True)
    state = {k: v for k, v in state.items() if not k.startswith("dense6_3.")}  # landmarks
    for key, shape in LAST_MAP.items():
        if key in state:
            state[key] = _channels_first(state[key], shape)
    net.load_state_dict(state)
    return net.eval().requires_grad_(False)


@lru_cache(maxsize=1)
def networks():
    """P-Net, R-Net and O-Net, loaded once per process."""
    return _stage("pnet"), _stage("rnet"), _stage("onet")


def _run(net, x):
    """(face probability (n, ...), box offsets (n, 4, ...)) of a network on a batch."""
    import torch

    layers = list(net.values())
    for layer in layers[:-2]:
        x = layer(x)
    logits, offsets = layers[-2](x), layers[-1](x)
    return torch.softmax(logits, dim=1)[:, 1], offsets


def _normalise(pixels):
    return (pixels - 127.5) / 128.0


# ---------------------------------------------------------------------------- the cascade


def _propose(pnet, batch, min_face: int, threshold: float):
    """Stage 1 on a (b, 3, h, w) batch of same-size images: squared boxes, their scores
    and the index of their image in the batch."""
    import torch.nn.functional as F

    height, width = batch.shape[2:]
    boxes, scores, groups = [], [], []
    for scale in pyramid_scales(height, width, min_face):
        size = (math.ceil(height * scale), math.ceil(width * scale))
        probability, offsets = _run(pnet, _normalise(F.interpolate(batch, size, mode="area")))
        image, row, col = (probability >= threshold).nonzero(as_tuple=True)
        if not len(image):
            continue
        # The window of output cell (row, col), back in the original image's pixels.
        scale_y, scale_x = size[0] / height, size[1] / width
        x1, y1 = (STRIDE * col).numpy() / scale_x, (STRIDE * row).numpy() / scale_y
        level = np.stack([x1, y1, x1 + WINDOW / scale_x, y1 + WINDOW / scale_y], axis=1)
        level = regress(level, offsets[image, :, row, col].numpy())
        level_scores = probability[image, row, col].numpy()
        keep = nms(level, level_scores, image.numpy(), 0.5)
        boxes.append(level[keep])
        scores.append(level_scores[keep])
        groups.append(image.numpy()[keep])
    if not boxes:
        return np.zeros((0, 4)), np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
    boxes, scores, groups = np.concatenate(boxes), np.concatenate(scores), np.concatenate(groups)
    keep = nms(boxes, scores, groups, 0.7)
    return squared(boxes[keep]), scores[keep], groups[keep]


def _rescore(net, batch, boxes: np.ndarray, groups: np.ndarray, side: int):
    """Stages 2 and 3: each box cut from its image, resized to ``side`` pixels (what lies
    outside the image reads as black), through ``net``: probabilities and offsets."""
    import torch
    from torchvision.ops import roi_align

    rois = torch.from_numpy(np.concatenate([groups[:, None], boxes], axis=1)).float()
    crops = roi_align(batch, rois, output_size=side, aligned=True)
    probability, offsets = _run(net, _normalise(crops))
    return probability.numpy(), offsets.numpy()


def _cascade(nets, batch, min_face: int, thresholds: Sequence[float]) -> list[tuple]:
    """The three stages on a batch of same-size images: per image, pixel boxes and scores,
    best first."""
    pnet, rnet, onet = nets
    boxes, scores, groups = _propose(pnet, batch, min_face, thresholds[0])

    if len(boxes):
        scores, offsets = _rescore(rnet, batch, boxes, groups, 24)
        passed = scores >= thresholds[1]
        boxes, scores, groups, offsets = (a[passed] for a in (boxes, scores, groups, offsets))
        keep = nms(boxes, scores, groups, 0.7)
        boxes = squared(regress(boxes[keep], offsets[keep]))
        scores, groups = scores[keep], groups[keep]

    if len(boxes):
        scores, offsets = _rescore(onet, batch, boxes, groups, 48)
        passed = scores >= thresholds[2]
        boxes = regress(boxes[passed], offsets[passed])
        scores, groups = scores[passed], groups[passed]
        keep = nms(boxes, scores, groups, 0.7, mode="min")
        boxes, scores, groups = boxes[keep], scores[keep], groups[keep]

    return [(boxes[groups == i], scores[groups == i]) for i in range(len(batch))]


def detect_faces(
    images: Sequence[Image.Image],
    min_face: int = 20,
    thresholds: Sequence[float] = (0.6, 0.7, 0.7),
) -> list[Detections]:
    """Per image, the faces found: boxes (k, 4) float32 in normalised (x, y, w, h) with x, y
    the top left, inside [0, 1], and their scores (k,) float32 in (0, 1], best first.

    ``min_face``: the smallest face looked for, in pixels of the image as given (at least
    12; work grows as it shrinks). ``thresholds``: the face probability each stage (P-, R-,
    O-Net) asks for. Boxes refer to the image as shown (EXIF orientation applied); any
    Pillow mode is read as RGB (``rgb_pixels``); an image with an edge shorter than
    ``min_face`` has no faces. Images of the same size are run as one batch.
    """
    import torch

    if min_face < MIN_FACE:
        raise ValueError(f"min_face must be at least {MIN_FACE} pixels (P-Net's window).")
    if len(thresholds) != 3:
        raise ValueError("thresholds: one face probability per stage (P-, R-, O-Net).")

    nets = networks()  # loaded outside inference mode, so its tensors are ordinary ones
    results: list[Detections | None] = [None] * len(images)
    sizes = [displayed_size(image) for image in images]
    by_size = sorted(range(len(images)), key=lambda i: sizes[i])
    for (width, height), same in groupby(by_size, key=lambda i: sizes[i]):
        same = list(same)
        per_batch = max(1, BATCH_PIXELS // max(1, width * height))
        for start in range(0, len(same), per_batch):
            chunk = same[start : start + per_batch]
            pixels = np.stack([rgb_pixels(images[i]) for i in chunk])
            batch = torch.from_numpy(pixels).permute(0, 3, 1, 2).float()
            with torch.inference_mode():
                found = _cascade(nets, batch, min_face, thresholds)
            for i, (boxes, scores) in zip(chunk, found, strict=True):
                results[i] = (
                    normalised_xywh(boxes, width, height).astype(np.float32),
                    scores.astype(np.float32),
                )
    return results
