"""The synthetic detection set: digits pasted on scikit-image's sample photos.

No database: ``training.ml.synthetic`` on a handful of small images.
"""

import numpy as np
import pytest
import skimage.data

from training.ml import synthetic
from training.ml.synthetic import PHOTOS, make_digits_set


def test_given_the_sample_photos_then_each_is_a_file_inside_the_scikit_image_wheel():
    folder = synthetic.photos_dir()

    for name in PHOTOS:
        assert (folder / name).is_file(), name
    # the ones skimage.data can load are the same pictures (read from the wheel, no pooch)
    np.testing.assert_array_equal(synthetic._photos()[0], skimage.data.astronaut())


def test_given_a_seed_when_making_the_set_twice_then_images_boxes_and_classes_are_equal():
    first = make_digits_set(6, classes=3, seed=7)
    second = make_digits_set(6, classes=3, seed=7)
    other = make_digits_set(6, classes=3, seed=8)

    for a, b in zip(first.images, second.images, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    for a, b in zip(first.boxes + first.classes, second.boxes + second.classes, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(np.asarray(first.images[0]), np.asarray(other.images[0]))


def test_given_a_set_then_every_image_has_1_to_4_digits_of_the_asked_classes_in_bounds():
    made = make_digits_set(20, classes=3, seed=1, size=(160, 120))

    assert made.names == ("zero", "one", "two")
    assert all(image.size == (160, 120) and image.mode == "RGB" for image in made.images)
    assert {len(c) for c in made.classes} <= {1, 2, 3, 4}
    assert len({len(c) for c in made.classes}) > 1  # the count varies
    every_class = np.concatenate(made.classes)
    assert set(every_class.tolist()) == {0, 1, 2}
    for boxes, classes in made.targets():
        assert boxes.shape == (len(classes), 4) and boxes.dtype == np.float32
        assert (boxes[:, :2] >= 0).all() and (boxes[:, 2:] > 0).all()
        assert (boxes[:, 0] + boxes[:, 2] <= 1 + 1e-6).all()
        assert (boxes[:, 1] + boxes[:, 3] <= 1 + 1e-6).all()


def test_given_a_plain_background_then_the_boxes_are_exactly_the_painted_digits(monkeypatch):
    # On a flat grey photo every pixel that changed is ink: the boxes must cover all of it,
    # and each box's four edges must touch ink (tight), with no two boxes overlapping.
    grey = np.full((300, 400, 3), 90, dtype=np.uint8)
    monkeypatch.setattr(synthetic, "_photos", lambda: (grey,))

    made = make_digits_set(10, classes=10, seed=3, size=(200, 150))

    for image, boxes in zip(made.images, made.boxes, strict=True):
        ink = (np.asarray(image) != 90).any(axis=2)
        covered = np.zeros_like(ink)
        for x, y, w, h in np.round(boxes * [200, 150, 200, 150]).astype(int):
            assert not covered[y : y + h, x : x + w].any(), "boxes overlap"
            covered[y : y + h, x : x + w] = True
            inside = ink[y : y + h, x : x + w]
            assert inside[0].any() and inside[-1].any()
            assert inside[:, 0].any() and inside[:, -1].any()
        assert ink.any()
        assert not (ink & ~covered).any(), "ink outside every box"


def test_given_a_digit_size_then_boxes_are_no_bigger_than_it():
    made = make_digits_set(10, classes=10, seed=4, size=(320, 240), digit_size=(24, 32))

    pixels = np.concatenate(made.boxes) * [320, 240, 320, 240]
    assert pixels[:, 2].max() <= 32 + 1e-3 and pixels[:, 3].max() <= 32 + 1e-3
    assert pixels[:, 3].max() >= 16  # digits are drawn tall: the ink spans most of a side


def test_given_more_than_ten_classes_then_the_set_refuses():
    with pytest.raises(ValueError, match="1 to 10"):
        make_digits_set(1, classes=11)
