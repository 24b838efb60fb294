"""The feature extractors a project's embeddings can come from, by name."""

from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image

Embedder = Callable[[Sequence[Image.Image]], np.ndarray]


def embedder(name: str) -> Embedder:
    if name == "efficientnet_lite0":
        from training.ml import backbone

        return backbone.embed
    if name == "pixels16":
        from training.ml import pixels

        return pixels.embed
    raise ValueError(f"Unknown backbone {name!r}: efficientnet_lite0 or pixels16.")


def to_stored(vectors: np.ndarray) -> list[bytes]:
    return [row.astype(np.float16).tobytes() for row in vectors]


def from_stored(blobs: Sequence[bytes]) -> np.ndarray:
    """(n, dim) float32 from stored float16 rows (all the same length)."""
    if not blobs:
        return np.zeros((0, 0), dtype=np.float32)
    joined = b"".join(bytes(b) for b in blobs)
    return np.frombuffer(joined, dtype=np.float16).reshape(len(blobs), -1).astype(np.float32)
