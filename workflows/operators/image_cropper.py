"""``image-cropper``: regions (normalised x, y, w, h of the image) -> pixel crop boxes.

Each box grows by ``margin`` times its width (and height) on every side, is scaled to the
image's pixels (x0, y0 floored, x1, y1 ceiled, x1 and y1 exclusive) and clipped to the
image. A region is dropped, with its reason, when it is not finite, has no width or height,
lies outside the image, or leaves a crop under ``min_size`` pixels on a side.
"""

import numpy as np

from workflows.params import Param
from workflows.ports import Crops, Images, PortType, Regions
from workflows.spec import NodeKind, Port


def crops_cut(regions: Regions, sizes: np.ndarray, *, margin: float, min_size: int) -> Crops:
    boxes = np.asarray(regions.boxes, dtype=np.float64).reshape(-1, 4)
    index = np.asarray(regions.input_index, dtype=int)
    sizes = np.asarray(sizes, dtype=np.float64)[index] if len(index) else np.zeros((0, 2))
    width, height = sizes[:, 0], sizes[:, 1]
    x, y, w, h = boxes.T
    finite = np.isfinite(boxes).all(axis=1)
    empty = ~finite | ~(w > 0) | ~(h > 0)
    with np.errstate(invalid="ignore"):
        x0 = np.floor((x - margin * w) * width)
        y0 = np.floor((y - margin * h) * height)
        x1 = np.ceil((x + w + margin * w) * width)
        y1 = np.ceil((y + h + margin * h) * height)
        outside = ~empty & ((x1 <= 0) | (y1 <= 0) | (x0 >= width) | (y0 >= height))
        x0, x1 = np.clip(x0, 0, width), np.clip(x1, 0, width)
        y0, y1 = np.clip(y0, 0, height), np.clip(y1, 0, height)
        small = ~empty & ~outside & (((x1 - x0) < min_size) | ((y1 - y0) < min_size))
    keep = ~empty & ~outside & ~small
    reasons = np.full(len(boxes), "", dtype=object)
    reasons[small] = f"smaller than {min_size} px"
    reasons[outside] = "outside the image"
    reasons[empty & finite] = "no width or height"
    reasons[~finite] = "not a finite box"
    dropped = tuple((int(i), str(reasons[i])) for i in np.flatnonzero(~keep))
    kept = np.flatnonzero(keep)
    pixel = np.stack([x0, y0, x1, y1], axis=1)[kept].astype(np.int64)
    return Crops(index[kept], kept, pixel.reshape(-1, 4), dropped)


def _run(inputs, params, node_id, context) -> dict:
    images: Images = inputs["image"]
    if images.sizes is None:
        raise ValueError("the images' sizes are not known")
    crops = crops_cut(
        inputs["regions"], images.sizes, margin=params["margin"], min_size=params["min_size"]
    )
    return {"crops": crops}


KIND = NodeKind(
    name="image-cropper",
    title="Image cropper",
    inputs=(
        Port("image", PortType.IMAGE, "The images the regions lie on."),
        Port("regions", PortType.REGIONS, "Boxes to cut out."),
    ),
    outputs=(Port("crops", PortType.CROPS, "Pixel boxes of the crops."),),
    params=(
        Param("margin", float, 0.0, "Added on each side, as a fraction of the box.", 0.0, 1.0),
        Param(
            "min_size", int, 1, "Crops smaller than this (pixels) on a side are dropped.", 1, 4096
        ),
    ),
    run=_run,
)
