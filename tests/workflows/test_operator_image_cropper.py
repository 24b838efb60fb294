"""image-cropper: normalised regions to pixel crops, with margin, clipping and reasons."""

import numpy as np

from workflows.operators.image_cropper import crops_cut
from workflows.ports import Regions

SIZES = np.array([[200, 100], [50, 50]])  # width, height of the batch's two images


def test_given_a_box_then_it_becomes_pixels_of_its_image():
    regions = Regions(np.array([0, 1]), np.array([[0.1, 0.2, 0.5, 0.5], [0.5, 0.5, 0.2, 0.2]]))

    crops = crops_cut(regions, SIZES, margin=0.0, min_size=1)

    assert crops.boxes.tolist() == [[20, 20, 120, 70], [25, 25, 35, 35]]
    assert crops.input_index.tolist() == [0, 1]
    assert crops.dropped == ()


def test_given_a_margin_then_the_box_grows_and_is_clipped_to_the_image():
    regions = Regions(np.array([0]), np.array([[0.0, 0.5, 0.5, 0.5]]))

    crops = crops_cut(regions, SIZES, margin=0.2, min_size=1)

    # 0.1 of the image's width added left (clipped at 0) and right; the bottom is clipped
    assert crops.boxes.tolist() == [[0, 40, 120, 100]]


def test_given_degenerate_boxes_then_they_are_dropped_with_a_reason():
    boxes = np.array(
        [
            [0.1, 0.1, 0.0, 0.5],  # no width
            [1.2, 0.1, 0.2, 0.2],  # right of the image
            [0.1, 0.1, 0.001, 0.5],  # a fifth of a pixel wide: 1 px after rounding out
            [np.nan, 0.1, 0.2, 0.2],
            [0.2, 0.2, 0.5, 0.5],  # fine
        ]
    )
    regions = Regions(np.zeros(5, dtype=int), boxes)

    crops = crops_cut(regions, SIZES, margin=0.0, min_size=2)

    assert crops.region_index.tolist() == [4]
    assert crops.dropped == (
        (0, "no width or height"),
        (1, "outside the image"),
        (2, "smaller than 2 px"),
        (3, "not a finite box"),
    )
