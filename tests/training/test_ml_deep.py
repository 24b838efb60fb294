"""The deep classifier's network: EfficientNet-Lite0 fine-tuned (real torch and timm, the
packaged ImageNet weights) for a few steps on a few of scikit-learn's digits.

No database: ``training.ml.deep`` on PIL images.
"""

import numpy as np
import pytest
import torch
from PIL import Image

from training.ml.deep import (
    DeepClassifier,
    DeepParams,
    Labeled,
    augment,
    build_model,
    eta_text,
    train_deep,
)
from training.ml.layout import Layout

TINY = DeepParams(image_size=64, epochs=3, batch_size=8, patience=0)
LAYOUT = Layout.from_choices([(10 + d, 1) for d in range(3)])  # one group: 0, 1, 2


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _digits(start: int, count: int) -> Labeled:
    from sklearn.datasets import load_digits

    digits = load_digits()
    rows = np.flatnonzero(digits.target < 3)[start : start + count]
    images = [Image.fromarray((255 - digits.images[i] * 255 / 16).astype(np.uint8)) for i in rows]
    y, known = LAYOUT.targets([{10 + int(digits.target[i])} for i in rows])
    return Labeled(images, y, known)


@pytest.fixture(scope="module")
def data():
    return _digits(0, 48), _digits(200, 24)


@pytest.fixture(scope="module")
def trained(data):
    train, evaluation = data
    calls = []
    model = train_deep(
        train,
        LAYOUT,
        TINY,
        evaluation=evaluation,
        progress=lambda f, detail: calls.append((f, detail)),
        device="cpu",
    )
    return model, calls


def test_fine_tuning_lowers_the_loss_and_keeps_its_curves(trained):
    model, _ = trained
    curves = model.curves
    assert curves.epoch == [1, 2, 3]
    assert curves.train_loss[-1] < curves.train_loss[0]
    assert all(0.0 <= f <= 1.0 for f in curves.eval_f1)
    # the kept weights are the best epoch's
    assert curves.eval_f1[curves.best_epoch - 1] == max(curves.eval_f1)


def test_it_gives_one_probability_per_option_summing_to_one(trained, data):
    model, _ = trained
    probs = model.probabilities(data[1].images)
    assert probs.shape == (24, 3)
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)  # one exclusive group
    assert not np.allclose(probs, 1 / 3, atol=1e-3)  # it moved from its zero start


def test_progress_counts_up_by_epoch_with_the_time_left(trained):
    _, calls = trained
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] < 1.0
    assert len(calls) == 3 * 6  # every batch: 48 images in batches of 8, three epochs
    assert calls[0][1] == "epoch 1 of 3"
    assert calls[-1][1].startswith("epoch 3 of 3, about ") and calls[-1][1].endswith(" left")


def test_the_stored_network_gives_the_same_probabilities(trained, data):
    model, _ = trained
    images = data[1].images[:5]
    again = DeepClassifier.from_bytes(model.to_bytes(), device="cpu")
    assert again.curves == model.curves and again.layout == model.layout
    assert np.allclose(again.probabilities(images), model.probabilities(images), atol=1e-5)
    with pytest.raises(ValueError, match="not a stored deep classifier"):
        DeepClassifier.from_bytes(b"nonsense")


def test_early_stopping_stops_once_eval_f1_stops_improving(data):
    train, evaluation = data
    # a learning rate of 0 changes nothing: the eval F1 of epoch 1 is never beaten
    params = DeepParams(image_size=64, epochs=6, batch_size=16, learning_rate=0.0, patience=2)
    model = train_deep(train, LAYOUT, params, evaluation=evaluation, device="cpu")
    assert model.curves.epoch == [1, 2, 3]
    assert model.curves.stopped_early and model.curves.best_epoch == 1


def test_frozen_stages_keep_their_pretrained_weights(data):
    train, _ = data
    params = DeepParams(image_size=64, epochs=1, batch_size=16, freeze_stages=4, augment=0)
    before = build_model(3, params).state_dict()
    after = train_deep(Labeled(*[x[:16] for x in train.__dict__.values()]), LAYOUT, params)
    state = after.model.state_dict()
    assert torch.equal(state["conv_stem.weight"], before["conv_stem.weight"])
    assert torch.equal(state["blocks.3.0.conv_pw.weight"], before["blocks.3.0.conv_pw.weight"])
    assert not torch.equal(state["blocks.5.0.conv_pw.weight"], before["blocks.5.0.conv_pw.weight"])
    # batch norms keep ImageNet's statistics even where the layers train
    assert torch.equal(state["bn2.running_mean"], before["bn2.running_mean"])


def test_augmentation_moves_pixels_and_strength_zero_leaves_them():
    rng = np.random.default_rng(0)
    batch = torch.linspace(-1, 1, 2 * 3 * 32 * 32).reshape(2, 3, 32, 32)
    moved = augment(batch, rng, 1.0, mirror=True)
    assert moved.shape == batch.shape and not torch.allclose(moved, batch)
    assert float(moved.min()) >= -1.0 and float(moved.max()) <= 1.0
    assert torch.equal(augment(batch, rng, 0.0, mirror=False), batch)


def test_bad_parameters_and_times_in_words():
    with pytest.raises(ValueError, match="freeze_stages"):
        DeepParams(freeze_stages=8)
    with pytest.raises(ValueError, match="image_size"):
        DeepParams(image_size=16)
    assert eta_text(12) == "about 10 s"
    assert eta_text(150) == "about 2 min"
    assert eta_text(5400) == "about 1.5 h"
