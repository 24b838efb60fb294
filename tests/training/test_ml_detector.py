"""The object detector: FCOS over EfficientNet-Lite0 (real torch, timm and torchvision,
weights from the installed package), trained for a few steps on tiny synthetic images.

No database: ``training.ml.detector`` with ``training.ml.synthetic``.
"""

import numpy as np
import pytest
import torch
from PIL import Image

from training.ml.detector import (
    Detector,
    DetectorParams,
    build_model,
    letterbox,
    train_detector,
    trained_state,
)
from training.ml.synthetic import make_digits_set

TINY = DetectorParams(image_size=160, epochs=3, batch_size=4, learning_rate=3e-3)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def digits():
    return make_digits_set(8, classes=3, seed=5, size=(160, 120), digit_size=(28, 44))


@pytest.fixture(scope="module")
def trained(digits) -> Detector:
    return train_detector(digits.images, digits.targets(), TINY, device="cpu")


# ---------------------------------------------------------------------------- geometry


@pytest.mark.parametrize(
    ("size", "scale", "offset", "flip"),
    [((200, 100), 1.0, (0, 0), False), ((90, 160), 0.6, (0.3, 0.8), True)],
)
def test_given_a_placed_image_then_boxes_map_to_pixels_and_back_exactly(size, scale, offset, flip):
    boxes = np.array([[0.1, 0.2, 0.3, 0.4], [0.0, 0.0, 1.0, 1.0]], dtype=np.float32)

    placed = letterbox(Image.new("RGB", size), 160, scale=scale, offset=offset, flip=flip)

    np.testing.assert_allclose(placed.to_normalised(placed.to_pixels(boxes)), boxes, atol=1e-6)
    whole = placed.to_pixels(boxes[1:])[0]
    np.testing.assert_allclose(
        whole,
        [placed.left, placed.top, placed.left + placed.width, placed.top + placed.height],
    )
    assert max(placed.width, placed.height) == round(160 * scale)


@pytest.mark.parametrize("flip", [False, True])
def test_given_a_red_square_when_letterboxed_then_its_box_lands_on_its_pixels(flip):
    image = Image.new("RGB", (200, 100), (0, 0, 255))
    image.paste((255, 0, 0), (20, 40, 60, 80))  # x 20..59, y 40..79
    box = np.array([[20 / 200, 40 / 100, 40 / 200, 40 / 100]])

    placed = letterbox(image, 160, scale=0.8, offset=(0.5, 0.5), flip=flip)

    x0, y0, x1, y1 = placed.to_pixels(box)[0].round().astype(int)
    red = (placed.pixels[..., 0] > 200) & (placed.pixels[..., 2] < 50)
    rows, cols = np.flatnonzero(red.any(axis=1)), np.flatnonzero(red.any(axis=0))
    assert abs(cols[0] - x0) <= 1 and abs(cols[-1] + 1 - x1) <= 1
    assert abs(rows[0] - y0) <= 1 and abs(rows[-1] + 1 - y1) <= 1
    # outside the drawn image: the grey fill
    assert (placed.pixels[0, 0] == 128).all()


def test_given_bad_params_then_they_are_refused():
    with pytest.raises(ValueError, match="unfreeze_stages"):
        DetectorParams(unfreeze_stages=8)
    with pytest.raises(ValueError, match="multiple of 32"):
        DetectorParams(image_size=300)


# ---------------------------------------------------------------------------- training


def test_given_tiny_images_when_training_then_the_loss_goes_down(trained):
    assert len(trained.losses) == TINY.epochs
    assert all(np.isfinite(trained.losses))
    assert trained.losses[-1] < trained.losses[0]
    assert not trained.model.training
    assert trained.num_classes == 3


def test_given_a_trained_detector_then_predictions_are_well_formed(trained, digits):
    predictions = trained.predict(digits.images[:5], batch_size=2)

    assert len(predictions) == 5
    for boxes, scores, classes in predictions:
        k = len(scores)
        assert boxes.shape == (k, 4) and boxes.dtype == np.float32
        assert scores.dtype == np.float32 and classes.dtype == np.int64 and classes.shape == (k,)
        assert k <= TINY.max_detections
        assert (boxes >= 0).all() and (boxes[:, 0] + boxes[:, 2] <= 1 + 1e-6).all()
        assert (boxes[:, 1] + boxes[:, 3] <= 1 + 1e-6).all()
        assert ((scores >= TINY.score_floor) & (scores <= 1)).all()
        assert (np.diff(scores) <= 1e-6).all()  # best first
        assert ((classes >= 0) & (classes < 3)).all()
    assert trained.predict([]) == []


def test_given_a_detector_when_round_tripping_through_bytes_then_predictions_match(trained, digits):
    data = trained.to_bytes()
    again = Detector.from_bytes(data, device="cpu")

    assert again.params == TINY and again.num_classes == 3 and again.losses == trained.losses
    for (b1, s1, c1), (b2, s2, c2) in zip(
        trained.predict(digits.images[:3]), again.predict(digits.images[:3]), strict=True
    ):
        np.testing.assert_allclose(b1, b2, atol=1e-5)
        np.testing.assert_allclose(s1, s2, atol=1e-5)
        np.testing.assert_array_equal(c1, c2)
    # only the trained parts are stored: the pretrained stages come from the package
    assert len(data) < 3_000_000
    with pytest.raises(ValueError, match="format"):
        Detector.from_bytes(b"not a detector")  # torch cannot read it either


def test_given_frozen_stages_when_training_then_only_the_unfrozen_ones_change(digits):
    params = DetectorParams(image_size=128, epochs=1, batch_size=4, unfreeze_stages=1)
    pristine = build_model(3, params).state_dict()

    detector = train_detector(digits.images[:4], digits.targets()[:4], params, device="cpu")

    after = detector.model.state_dict()
    changed = {name for name in after if not torch.equal(after[name], pristine[name])}
    assert any(name.startswith("backbone.body.blocks.6.") for name in changed)
    assert any(name.startswith("head.") for name in changed)
    assert not any(name.startswith("backbone.body.blocks.5.") for name in changed)
    assert not any(name.startswith("backbone.body.conv_stem") for name in changed)
    # batch-norm statistics stay ImageNet's, also in the unfrozen stage
    assert "backbone.body.blocks.6.0.bn1.running_mean" not in changed
    stored = set(trained_state(detector.model, params))
    assert any(name.startswith("backbone.body.blocks.6.") for name in stored)
    assert not any(name.startswith("backbone.body.blocks.5.") for name in stored)


def test_given_a_loader_function_and_a_stopping_progress_then_training_stops(digits):
    loaded, seen = [], []

    def load(i):
        loaded.append(i)
        return digits.images[i]

    def progress(fraction):
        seen.append(fraction)
        if len(seen) == 3:
            raise InterruptedError

    params = DetectorParams(image_size=128, epochs=2, batch_size=2)
    with pytest.raises(InterruptedError):
        train_detector(load, digits.targets(), params, progress=progress, device="cpu")
    assert seen == [0.0, 1 / 8, 2 / 8]  # 2 epochs of 4 batches
    assert len(loaded) == 4 and set(loaded) <= set(range(8))


def test_given_an_image_without_boxes_then_training_still_runs(digits):
    targets = digits.targets()[:3] + [(np.zeros((0, 4), np.float32), np.zeros(0, np.int64))]
    params = DetectorParams(image_size=128, epochs=1, batch_size=4)

    detector = train_detector(digits.images[:4], targets, params, device="cpu", num_classes=3)

    assert np.isfinite(detector.losses[0])
