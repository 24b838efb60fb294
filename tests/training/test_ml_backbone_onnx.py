"""The backbone through ONNX Runtime: the same vectors as torch on real images, the cached
export, int8, and torch whenever the ONNX side fails (with a warning, never wrong vectors).

No database. Real torch, timm, onnx and onnxruntime; the export is made once for the module
(in a tmp cache folder) and reused; the tests that break it never export.
"""

import copy
import io
import logging
import sys

import numpy as np
import pytest
import skimage.data
from django.conf import settings
from PIL import Image

from labeling.demo import digit_png
from training.ml import backbone, backbone_onnx
from training.ml.features import embedder, image_open


def digit_images(count: int) -> list[Image.Image]:
    """scikit-learn's digits as the demo stores them (8x8 PNGs), opened as ingest does."""
    from sklearn.datasets import load_digits

    data = load_digits().data[:count]
    return [image_open(io.BytesIO(digit_png(pixels))) for pixels in data]


def photos() -> list[Image.Image]:
    """scikit-image's sample photos: colour, grey, a JPEG."""
    return [
        Image.fromarray(skimage.data.astronaut()),
        Image.fromarray(skimage.data.coffee()),
        Image.fromarray(skimage.data.camera()),
        image_open(skimage.data.data_dir + "/rocket.jpg"),
    ]


@pytest.fixture(scope="module")
def real_batch() -> np.ndarray:
    return backbone.preprocess(digit_images(8) + photos())


@pytest.fixture(scope="module")
def torch_vectors(real_batch) -> np.ndarray:
    return backbone.forward_torch(real_batch)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A cache folder holding a checked fp32 export (made once here)."""
    folder = tmp_path_factory.mktemp("onnx-cache")
    backbone.configure(runtime="onnx", cache_dir=folder)
    assert backbone.runtime_in_use() == "onnx"
    return folder


@pytest.fixture
def empty_cache(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    return folder


@pytest.fixture(autouse=True)
def _restore_configuration():
    yield
    backbone.configure(
        runtime=settings.TRAINING_EMBED_RUNTIME, cache_dir=settings.TRAINING_MODEL_CACHE
    )


def exported_files(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.suffix == ".onnx")


# ---------------------------------------------------------------------------- parity


def test_given_digits_and_photos_then_onnx_gives_torchs_vectors(cache, real_batch, torch_vectors):
    backbone.configure(runtime="onnx", cache_dir=cache)

    vectors = backbone.forward(real_batch)

    assert backbone.runtime_in_use() == "onnx"
    assert vectors.shape == (12, 1280) and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, torch_vectors, atol=1e-3, rtol=0)
    # closer than the float16 the vectors are stored in
    assert np.abs(vectors - torch_vectors).max() < np.abs(torch_vectors).max() * 2**-11


def test_given_the_onnx_runtime_then_embed_and_the_embedder_run_it(cache, monkeypatch):
    backbone.configure(runtime="onnx", cache_dir=cache)
    images = photos()[:2]
    expected = backbone.forward_torch(backbone.preprocess(images))
    monkeypatch.setattr(backbone, "forward_torch", None)  # torch may not run any more

    np.testing.assert_allclose(backbone.embed(images), expected, atol=1e-3, rtol=0)
    np.testing.assert_allclose(embedder(backbone.NAME)(images), expected, atol=1e-3, rtol=0)


def test_given_the_torch_runtime_then_forward_is_torch(real_batch, torch_vectors):
    backbone.configure(runtime="torch")

    np.testing.assert_allclose(backbone.forward(real_batch[:3]), torch_vectors[:3], atol=1e-5)
    assert backbone.runtime_in_use() == "torch"


def test_given_an_unknown_runtime_then_configure_refuses():
    with pytest.raises(ValueError, match="tensorflow"):
        backbone.configure(runtime="tensorflow")


# ---------------------------------------------------------------------------- the cache


def test_given_a_cached_export_then_a_new_process_uses_it_without_exporting(
    cache, monkeypatch, real_batch, torch_vectors
):
    def no_export(net):
        raise AssertionError("exported again")

    monkeypatch.setattr(backbone_onnx, "export_fp32", no_export)
    backbone.configure(runtime="onnx", cache_dir=cache)  # as a fresh worker would

    vectors = backbone.forward(real_batch)

    assert backbone.runtime_in_use() == "onnx"
    np.testing.assert_allclose(vectors, torch_vectors, atol=1e-3, rtol=0)
    assert exported_files(cache) == [
        f"efficientnet_lite0-{backbone_onnx.weights_digest(backbone.weights_path())}"
        f"-v{backbone_onnx.FORMAT}-fp32.onnx"
    ]


def test_given_a_cached_export_then_the_web_process_opens_it_without_torch(
    cache, monkeypatch, real_batch, torch_vectors
):
    monkeypatch.setitem(sys.modules, "torch", None)  # importing torch would now fail

    session = backbone_onnx.cached_session(
        cache_dir=cache, name=backbone.NAME, weights=backbone.weights_path(), int8=False
    )

    assert session is not None
    np.testing.assert_allclose(session.run(real_batch), torch_vectors, atol=1e-3, rtol=0)


def test_given_no_cached_export_then_the_web_process_gets_no_session(empty_cache):
    assert (
        backbone_onnx.cached_session(
            cache_dir=empty_cache, name=backbone.NAME, weights=backbone.weights_path(), int8=False
        )
        is None
    )


def test_given_a_damaged_cached_file_then_it_is_exported_again(
    empty_cache, cache, real_batch, torch_vectors, caplog
):
    for source in cache.iterdir():  # a copy, so the module's cache stays good
        (empty_cache / source.name).write_bytes(source.read_bytes())
    [name] = exported_files(empty_cache)
    (empty_cache / name).write_bytes(b"not an onnx file")
    backbone.configure(runtime="onnx", cache_dir=empty_cache)

    with caplog.at_level(logging.WARNING):
        vectors = backbone.forward(real_batch)

    assert "unusable" in caplog.text
    assert backbone.runtime_in_use() == "onnx"
    np.testing.assert_allclose(vectors, torch_vectors, atol=1e-3, rtol=0)
    assert (empty_cache / name).read_bytes() == (cache / name).read_bytes()


# ---------------------------------------------------------------------------- fallback


def assert_torch_with_warning(caplog, real_batch, torch_vectors, reason: str) -> None:
    with caplog.at_level(logging.WARNING, logger="training.ml.backbone"):
        vectors = backbone.forward(real_batch)

    np.testing.assert_array_equal(vectors, torch_vectors)
    assert backbone.runtime_in_use() == "torch"
    [warning] = [r for r in caplog.records if r.name == "training.ml.backbone"]
    assert warning.levelno == logging.WARNING
    assert "using torch" in warning.getMessage() and reason in warning.getMessage()


def test_given_the_export_fails_then_torch_runs_with_a_warning(
    empty_cache, monkeypatch, caplog, real_batch, torch_vectors
):
    def broken(net):
        raise RuntimeError("exporter crashed")

    monkeypatch.setattr(backbone_onnx, "export_fp32", broken)
    backbone.configure(runtime="onnx", cache_dir=empty_cache)

    assert_torch_with_warning(caplog, real_batch, torch_vectors, "exporter crashed")
    assert list(empty_cache.iterdir()) == []


def test_given_no_onnxruntime_then_torch_runs_with_a_warning(
    empty_cache, monkeypatch, caplog, real_batch, torch_vectors
):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if it were not installed
    backbone.configure(runtime="onnx", cache_dir=empty_cache)

    assert_torch_with_warning(caplog, real_batch, torch_vectors, "onnxruntime")


def test_given_the_session_cannot_be_created_then_torch_runs_with_a_warning(
    empty_cache, monkeypatch, caplog, real_batch, torch_vectors
):
    monkeypatch.setattr(backbone_onnx, "export_fp32", lambda net: b"\x08\x07garbage")
    backbone.configure(runtime="onnx", cache_dir=empty_cache)

    assert_torch_with_warning(caplog, real_batch, torch_vectors, "Fail")
    assert list(empty_cache.iterdir()) == []


def test_given_an_export_that_disagrees_with_torch_then_it_is_not_used_nor_cached(
    empty_cache, monkeypatch, caplog, real_batch, torch_vectors
):
    real_export = backbone_onnx.export_fp32

    def slightly_wrong(net):  # as a faulty exporter would: one weight off by 1 %
        net = copy.deepcopy(net)
        net.conv_head.weight.data *= 1.01
        return real_export(net)

    monkeypatch.setattr(backbone_onnx, "export_fp32", slightly_wrong)
    backbone.configure(runtime="onnx", cache_dir=empty_cache)

    assert_torch_with_warning(caplog, real_batch, torch_vectors, "differ from torch")
    assert list(empty_cache.iterdir()) == []


# ---------------------------------------------------------------------------- int8


def test_given_int8_then_vectors_are_close_to_torchs_and_stored_under_their_own_name(
    cache, real_batch, torch_vectors
):
    backbone.configure(runtime="onnx", cache_dir=cache)

    vectors = backbone.forward_int8(real_batch)

    assert backbone.runtime_in_use(int8=True) == "onnx"
    cosine = (vectors * torch_vectors).sum(1) / (
        np.linalg.norm(vectors, axis=1) * np.linalg.norm(torch_vectors, axis=1)
    )
    assert cosine.min() > backbone_onnx.INT8_MIN_COSINE
    assert np.abs(vectors - torch_vectors).max() > 1e-2  # really quantized, not fp32
    assert any(name.endswith("-int8.onnx") for name in exported_files(cache))
    assert embedder(backbone.NAME_INT8).run is backbone.forward_int8


def test_given_int8_with_the_torch_runtime_then_torchs_vectors_with_a_warning(
    caplog, real_batch, torch_vectors
):
    backbone.configure(runtime="torch")

    with caplog.at_level(logging.WARNING, logger="training.ml.backbone"):
        vectors = backbone.forward_int8(real_batch[:2])

    np.testing.assert_allclose(vectors, torch_vectors[:2], atol=1e-5)
    assert "int8" in caplog.text and "torch" in caplog.text


# ---------------------------------------------------------------------------- checks


def test_given_vectors_then_the_agreement_check_takes_only_close_ones():
    rng = np.random.default_rng(0)
    torch_out = rng.normal(0, 1, (3, 1280)).astype(np.float32)

    backbone_onnx.agreement_check(torch_out + 5e-4, torch_out, int8=False)
    with pytest.raises(backbone_onnx.ExportFailed, match="differ"):
        backbone_onnx.agreement_check(torch_out + 5e-3, torch_out, int8=False)
    with pytest.raises(backbone_onnx.ExportFailed):
        backbone_onnx.agreement_check(torch_out[:2], torch_out, int8=False)
    broken = torch_out.copy()
    broken[1, 7] = np.nan
    with pytest.raises(backbone_onnx.ExportFailed):
        backbone_onnx.agreement_check(broken, torch_out, int8=True)

    noisy = torch_out + rng.normal(0, 0.1, torch_out.shape).astype(np.float32)  # cosine ~0.995
    backbone_onnx.agreement_check(noisy, torch_out, int8=True)
    far = torch_out + rng.normal(0, 1, torch_out.shape).astype(np.float32)  # cosine ~0.7
    with pytest.raises(backbone_onnx.ExportFailed, match="cosine"):
        backbone_onnx.agreement_check(far, torch_out, int8=True)


def test_given_the_probe_then_it_is_the_same_in_every_process_and_in_range():
    probe = backbone_onnx.probe_batch()

    assert probe.shape == (3, 3, 224, 224) and probe.dtype == np.float32
    assert probe.min() >= -1.0 and probe.max() <= 1.0
    np.testing.assert_array_equal(probe, backbone_onnx.probe_batch())
    assert len({probe[i].tobytes() for i in range(3)}) == 3
