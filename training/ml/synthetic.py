"""A synthetic detection data set built from packaged data only (nothing is downloaded).

Handwritten digits from scikit-learn's ``load_digits`` (8x8, bundled in the wheel) are
scaled up and painted at random places, without overlap, onto random crops of the sample
photos that ship inside scikit-image's wheel (read straight from their files, so pooch is
never asked for anything). Each image holds 1 to 4 digits; a box is the tight box of the
digit's ink, normalised (x, y, w, h) with (x, y) the top-left corner, as the detector takes.

The same seed gives the same images, boxes and classes.
"""

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

# Sample photos whose files are inside the scikit-image wheel (tests check they are there).
PHOTOS = (
    "astronaut.png",
    "coffee.png",
    "chelsea.png",
    "rocket.jpg",
    "camera.png",
    "grass.png",
    "gravel.png",
    "brick.png",
    "motorcycle_left.png",
)
DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
INK = 0.15  # share of full ink (out of 16) from which a pixel of the digit counts as ink


@dataclass
class SyntheticSet:
    images: list[Image.Image]
    boxes: list[np.ndarray]  # per image (k, 4) float32, normalised (x, y, w, h)
    classes: list[np.ndarray]  # per image (k,) int64, the digit
    names: tuple[str, ...]  # class index → name ("zero", "one", ...)

    def targets(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per image (boxes, classes): what ``train_detector`` and the evaluation take."""
        return list(zip(self.boxes, self.classes, strict=True))


def photos_dir() -> Path:
    import skimage.data

    return Path(skimage.data.__file__).parent


@lru_cache(maxsize=1)
def _photos() -> tuple[np.ndarray, ...]:
    folder = photos_dir()
    return tuple(np.asarray(Image.open(folder / name).convert("RGB")) for name in PHOTOS)


@lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    return digits.images.astype(np.float32) / 16.0, digits.target.astype(np.int64)


def class_names(classes: int) -> tuple[str, ...]:
    if not 1 <= classes <= 10:
        raise ValueError(f"classes must be 1 to 10, not {classes}")
    return DIGIT_NAMES[:classes]


def make_digits_set(
    count: int,
    *,
    classes: int = 10,
    seed: int = 0,
    size: tuple[int, int] = (320, 240),
    digit_size: tuple[int, int] = (24, 64),
    per_image: tuple[int, int] = (1, 4),
) -> SyntheticSet:
    """``count`` images of ``size`` (width, height), each with ``per_image`` digits (a digit
    that finds no free place after a few tries is left out, never the first) of the digits
    ``0 .. classes-1``, each drawn ``digit_size`` pixels tall and wide (before its ink is
    trimmed to the box)."""
    names = class_names(classes)
    glyphs, targets = _digits()
    allowed = np.flatnonzero(targets < classes)
    photos = _photos()
    rng = np.random.default_rng(seed)
    out = SyntheticSet([], [], [], names)
    for _ in range(count):
        canvas = _background(photos[rng.integers(len(photos))], size, rng)
        taken: list[tuple[int, int, int, int]] = []  # pixel (x0, y0, x1, y1) of each digit
        boxes, labels = [], []
        for _ in range(rng.integers(per_image[0], per_image[1] + 1)):
            glyph = int(rng.choice(allowed))
            side = int(rng.integers(digit_size[0], digit_size[1] + 1))
            placed = _place(side, size, taken, rng)
            if placed is None:
                continue
            x, y = placed
            box = _paint(canvas, glyphs[glyph], x, y, side, rng)
            if box is None:
                continue
            taken.append((x, y, x + side, y + side))
            boxes.append(box)
            labels.append(targets[glyph])
        width, height = size
        scale = np.array([width, height, width, height], dtype=np.float32)
        pixel = np.array(boxes, dtype=np.float32).reshape(-1, 4)
        out.images.append(Image.fromarray(canvas))
        out.boxes.append(pixel / scale)
        out.classes.append(np.array(labels, dtype=np.int64))
    return out


def _background(photo: np.ndarray, size: tuple[int, int], rng) -> np.ndarray:
    """A random crop of the photo with the output's aspect, resized to ``size``."""
    width, height = size
    ph, pw = photo.shape[:2]
    fit = min(pw / width, ph / height)  # the largest crop of the right aspect
    crop = fit * rng.uniform(0.5, 1.0)
    cw, ch = max(1, int(width * crop)), max(1, int(height * crop))
    x0, y0 = int(rng.integers(0, pw - cw + 1)), int(rng.integers(0, ph - ch + 1))
    piece = Image.fromarray(photo[y0 : y0 + ch, x0 : x0 + cw])
    if rng.random() < 0.5:
        piece = piece.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return np.array(piece.resize(size, Image.Resampling.BILINEAR))


def _place(side, size, taken, rng, tries: int = 30) -> tuple[int, int] | None:
    """Top-left corner of a free ``side`` square (2 px apart from the others), or None."""
    width, height = size
    if side > width or side > height:
        return None
    for _ in range(tries):
        x, y = int(rng.integers(0, width - side + 1)), int(rng.integers(0, height - side + 1))
        if all(
            x + side + 2 <= x0 or x1 + 2 <= x or y + side + 2 <= y0 or y1 + 2 <= y
            for x0, y0, x1, y1 in taken
        ):
            return x, y
    return None


def _paint(canvas: np.ndarray, glyph: np.ndarray, x: int, y: int, side: int, rng):
    """Paint the glyph as ink of one colour that stands out from the patch under it;
    return the ink's tight pixel box (x, y, w, h), or None when it has no ink."""
    alpha = np.asarray(
        Image.fromarray(glyph).resize((side, side), Image.Resampling.BILINEAR), dtype=np.float32
    ).clip(0.0, 1.0)
    ink = alpha >= INK
    if not ink.any():
        return None
    patch = canvas[y : y + side, x : x + side].astype(np.float32)
    light = patch.mean() > 128
    colour = rng.uniform(0, 60, 3) if light else rng.uniform(195, 255, 3)
    a = np.where(ink, alpha, 0.0)[..., None]
    canvas[y : y + side, x : x + side] = (patch * (1 - a) + colour * a).round().astype(np.uint8)
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    return (
        x + cols[0],
        y + rows[0],
        cols[-1] - cols[0] + 1,
        rows[-1] - rows[0] + 1,
    )
