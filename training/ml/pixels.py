"""A cheap feature extractor: the image as 16x16 grey pixels in [-1, 1].

No weights and no torch: used by tests and usable for tiny images (icons, digits) where
ImageNet features add little. The default is ``backbone`` (EfficientNet-Lite0).
"""

from collections.abc import Sequence

import numpy as np
from PIL import Image

NAME = "pixels16"
DIM = 256


def embed(images: Sequence[Image.Image]) -> np.ndarray:
    out = np.empty((len(images), DIM), dtype=np.float32)
    for i, image in enumerate(images):
        grey = image.convert("L").resize((16, 16), Image.Resampling.BILINEAR)
        out[i] = np.asarray(grey, dtype=np.float32).ravel() / 127.5 - 1.0
    return out
