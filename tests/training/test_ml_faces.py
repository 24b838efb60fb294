"""MTCNN face detection (training/ml/faces.py): the box arithmetic on tiny arrays, then the
detector on real photographs that ship inside scikit-image's wheel (no download), and a run
watched by an audit hook to show that nothing touches the network or writes a file."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from training.ml import faces
from training.ml.faces import detect_faces

REPO = Path(__file__).resolve().parents[2]

# Faces marked by eye (forehead to chin, cheek to cheek), pixels (x1, y1, x2, y2).
ASTRONAUT_FACE = (186, 70, 264, 172)  # skimage.data.astronaut(), 512x512 RGB
CAMERAMAN_FACE = (200, 124, 252, 190)  # skimage.data.camera(), 512x512 grayscale


def iou(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(faces.overlaps(a, b[None])[0])


def pixel_box(normalised, image: Image.Image) -> np.ndarray:
    """Normalised (x, y, w, h) back to pixel (x1, y1, x2, y2)."""
    width, height = image.size
    x, y, w, h = np.asarray(normalised, float) * [width, height, width, height]
    return np.array([x, y, x + w, y + h])


@pytest.fixture(scope="module")
def astronaut() -> Image.Image:
    return Image.fromarray(data.astronaut())


# ---------------------------------------------------------------------------- boxes


def test_given_an_image_then_the_pyramid_starts_where_min_face_fills_the_window():
    scales = faces.pyramid_scales(512, 400, min_face=20)

    assert scales[0] == pytest.approx(12 / 20)
    np.testing.assert_allclose(np.diff(np.log(scales)), np.log(0.709))
    # the last level still holds one 12-pixel window on the short edge, the next would not
    assert 400 * scales[-1] >= 12 > 400 * scales[-1] * 0.709


def test_given_an_image_smaller_than_the_smallest_face_then_the_pyramid_is_empty():
    assert faces.pyramid_scales(19, 500, min_face=20) == []
    assert faces.pyramid_scales(1, 1, min_face=12) == []
    assert len(faces.pyramid_scales(20, 20, min_face=20)) == 1


def test_given_two_boxes_then_overlaps_measures_iou_or_the_smaller_share():
    outer = np.array([0.0, 0.0, 10.0, 10.0])
    inner = np.array([[2.0, 2.0, 7.0, 7.0], [20.0, 20.0, 30.0, 30.0], [5.0, 0.0, 15.0, 10.0]])

    np.testing.assert_allclose(faces.overlaps(outer, inner), [25 / 100, 0.0, 50 / 150])
    np.testing.assert_allclose(faces.overlaps(outer, inner, mode="min"), [1.0, 0.0, 0.5])
    with pytest.raises(ValueError, match="iou or min"):
        faces.overlaps(outer, inner, mode="max")


def test_given_overlapping_boxes_then_nms_keeps_the_best_of_each_cluster_per_image():
    boxes = np.array(
        [
            [0, 0, 10, 10],  # image 0, cluster A
            [1, 1, 11, 11],  # image 0, cluster A, better
            [50, 50, 60, 60],  # image 0, alone
            [1, 1, 11, 11],  # image 1: same place as A, another image
        ],
        dtype=float,
    )
    scores = np.array([0.8, 0.9, 0.7, 0.6])
    groups = np.array([0, 0, 0, 1])

    keep = faces.nms(boxes, scores, groups, threshold=0.5)

    assert keep.tolist() == [1, 2, 3]  # best first; 0 went under 1


def test_given_a_box_inside_a_better_one_then_min_mode_drops_it_and_iou_does_not():
    boxes = np.array([[0, 0, 10, 10], [2, 2, 6, 6]], dtype=float)
    scores = np.array([0.9, 0.8])
    groups = np.zeros(2, dtype=int)

    assert faces.nms(boxes, scores, groups, 0.7).tolist() == [0, 1]
    assert faces.nms(boxes, scores, groups, 0.7, mode="min").tolist() == [0]


def test_given_no_boxes_then_nms_keeps_none():
    assert faces.nms(np.zeros((0, 4)), np.zeros(0), np.zeros(0, int), 0.5).tolist() == []


def test_given_offsets_then_regress_moves_each_edge_by_a_share_of_the_box():
    boxes = np.array([[10.0, 20.0, 30.0, 60.0]])  # 20 wide, 40 high
    offsets = np.array([[0.1, -0.25, 0.5, 0.0]])

    np.testing.assert_allclose(faces.regress(boxes, offsets), [[12.0, 10.0, 40.0, 60.0]])


def test_given_a_tall_box_then_squared_keeps_its_centre_and_takes_the_longer_side():
    squared = faces.squared(np.array([[10.0, 0.0, 20.0, 40.0]]))

    np.testing.assert_allclose(squared, [[-5.0, 0.0, 35.0, 40.0]])


def test_given_a_box_past_the_edge_then_it_is_clipped_and_normalised():
    boxes = np.array([[-10.0, 50.0, 100.0, 250.0], [20.0, 40.0, 60.0, 80.0]])

    np.testing.assert_allclose(
        faces.normalised_xywh(boxes, width=200, height=200),
        [[0.0, 0.25, 0.5, 0.75], [0.1, 0.2, 0.2, 0.2]],
    )


# ---------------------------------------------------------------------------- networks


def test_given_the_weight_files_then_each_network_loads_every_tensor_it_needs():
    pnet, rnet, onet = faces.networks()

    assert sum(p.numel() for p in pnet.parameters()) == 6632
    # O-Net's landmark head (dense6_3) is left out: two heads, face and box, as the others
    assert list(rnet)[-2:] == ["dense5_1", "dense5_2"]
    assert list(onet)[-2:] == ["dense6_1", "dense6_2"]
    assert not any(p.requires_grad for net in (pnet, rnet, onet) for p in net.parameters())


def test_given_no_facenet_wheel_then_loading_says_what_to_install(monkeypatch):
    import importlib.metadata

    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", missing)

    with pytest.raises(faces.FaceWeightsUnavailable, match="pip install --no-deps facenet"):
        faces._weight_file("pnet")


def test_given_a_weight_file_that_differs_then_loading_refuses_it(monkeypatch):
    monkeypatch.setitem(faces.WEIGHTS, "rnet", "0" * 64)

    with pytest.raises(faces.FaceWeightsUnavailable, match=r"rnet\.pt is not the file"):
        faces._weight_file("rnet")


# ---------------------------------------------------------------------------- detect_faces


def test_given_the_astronaut_then_one_face_is_found_where_it_is(astronaut):
    [(boxes, scores)] = detect_faces([astronaut])

    assert boxes.shape == (1, 4) and scores.shape == (1,)
    assert boxes.dtype == np.float32 and scores.dtype == np.float32
    assert iou(pixel_box(boxes[0], astronaut), ASTRONAUT_FACE) > 0.6
    assert scores[0] > 0.99


def test_given_a_grayscale_photo_then_the_cameramans_face_is_found():
    image = Image.fromarray(data.camera())
    assert image.mode == "L"

    [(boxes, scores)] = detect_faces([image])

    assert len(boxes) == 1
    assert iou(pixel_box(boxes[0], image), CAMERAMAN_FACE) > 0.5


@pytest.mark.parametrize(
    "image",
    [
        Image.fromarray(data.coffee()),
        Image.fromarray(data.chelsea()),  # a cat's face is not a face
        Image.fromarray(data.rocket()),
        Image.new("RGB", (300, 200), (120, 160, 200)),
    ],
    ids=["coffee", "cat", "rocket", "flat"],
)
def test_given_a_photo_without_a_person_then_no_face_is_found(image):
    [(boxes, scores)] = detect_faces([image])

    assert boxes.shape == (0, 4) and scores.shape == (0,)


def test_given_the_lfw_faces_and_non_faces_then_faces_are_found_and_non_faces_are_not():
    """scikit-image's LFW subset: 100 faces then 100 other patches, 25x25 grayscale; each
    is enlarged to 64 pixels on a grey 128x128 canvas (all one size: one batch)."""
    patches = data.lfw_subset()

    def on_canvas(patch):
        face = Image.fromarray((patch * 255).astype(np.uint8)).resize((64, 64), Image.BICUBIC)
        canvas = Image.new("L", (128, 128), 128)
        canvas.paste(face, (32, 32))
        return canvas

    found = [len(boxes) > 0 for boxes, _ in detect_faces([on_canvas(p) for p in patches])]

    assert sum(found[:100]) >= 95
    assert sum(found[100:]) <= 2


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P", "CMYK", "1"])
def test_given_any_pillow_mode_then_the_astronaut_is_still_found(astronaut, mode):
    [(boxes, _)] = detect_faces([astronaut.convert(mode)])

    assert len(boxes) == 1
    assert iou(pixel_box(boxes[0], astronaut), ASTRONAUT_FACE) > 0.5


def test_given_16_bit_grey_then_it_is_read_over_its_own_range(astronaut):
    twelve_bit = np.asarray(astronaut.convert("L"), dtype=np.uint16) * 16  # 0 .. 4080
    image = Image.fromarray(twelve_bit)  # mode I;16, which Pillow would clip to white
    assert image.mode == "I;16"

    [(boxes, _)] = detect_faces([image])

    assert len(boxes) == 1
    assert iou(pixel_box(boxes[0], astronaut), ASTRONAUT_FACE) > 0.5


def test_given_a_face_under_full_transparency_then_it_is_not_found(astronaut):
    """What is shown counts: a transparent pixel shows the white page, not its colour."""
    hidden = astronaut.convert("RGBA")
    hidden.putalpha(0)

    [(boxes, _)] = detect_faces([hidden])

    assert len(boxes) == 0


def test_given_an_exif_orientation_then_boxes_refer_to_the_image_as_shown(astronaut):
    """A camera that stores the photo on its side and says "turn it a quarter" (6)."""
    exif = Image.Exif()
    exif[faces.ORIENTATION] = 6
    buffer = io.BytesIO()
    astronaut.transpose(Image.Transpose.ROTATE_90).save(buffer, "JPEG", exif=exif, quality=95)
    stored = Image.open(io.BytesIO(buffer.getvalue()))

    [(boxes, _)] = detect_faces([stored])

    assert len(boxes) == 1
    assert iou(pixel_box(boxes[0], astronaut), ASTRONAUT_FACE) > 0.6


@pytest.mark.parametrize("size", [(0, 0), (1, 1), (5, 40), (19, 19), (12, 300)])
def test_given_an_image_smaller_than_min_face_then_it_has_no_faces(size):
    [(boxes, scores)] = detect_faces([Image.new("RGB", size, (200, 150, 120))])

    assert boxes.shape == (0, 4) and scores.shape == (0,)


def test_given_no_images_then_there_are_no_results():
    assert detect_faces([]) == []


def test_given_images_of_several_sizes_then_results_come_back_in_their_order(astronaut):
    small = astronaut.resize((256, 256))
    flat = Image.new("RGB", (256, 256), (90, 90, 90))
    cropped = astronaut.crop((0, 0, 512, 300))

    results = detect_faces([small, flat, astronaut, cropped, small])

    assert [len(boxes) for boxes, _ in results] == [1, 0, 1, 1, 1]
    # a face found in a batch is the face found alone
    [(alone, alone_scores)] = detect_faces([small])
    np.testing.assert_allclose(results[0][0], alone, atol=1e-5)
    np.testing.assert_allclose(results[4][1], alone_scores, atol=1e-5)
    # the same face, whatever the image's size: normalised to each image
    np.testing.assert_allclose(results[0][0], results[2][0], atol=0.02)
    assert iou(pixel_box(results[3][0][0], cropped), ASTRONAUT_FACE) > 0.6


def test_given_a_min_face_larger_than_the_face_then_it_is_not_looked_for(astronaut):
    [(boxes, _)] = detect_faces([astronaut], min_face=200)

    assert len(boxes) == 0


def test_given_a_stricter_last_threshold_then_the_weak_false_face_goes(astronaut):
    crowd = Image.fromarray(data.immunohistochemistry())  # stained cells; one looks faceish

    loose = detect_faces([astronaut, crowd], thresholds=(0.6, 0.7, 0.5))
    strict = detect_faces([astronaut, crowd], thresholds=(0.6, 0.7, 0.99))

    assert [len(boxes) for boxes, _ in loose] == [1, 1]
    assert [len(boxes) for boxes, _ in strict] == [1, 0]
    assert loose[1][1][0] < 0.99 <= strict[0][1][0]


@pytest.mark.parametrize("min_face", [0, 11])
def test_given_a_min_face_below_the_window_then_detect_refuses_it(min_face):
    with pytest.raises(ValueError, match="at least 12"):
        detect_faces([Image.new("RGB", (50, 50))], min_face=min_face)


# ---------------------------------------------------------------------------- no download

WATCHED = """
import json, os, sys
import torch
from PIL import Image
from skimage import data
from training.ml.faces import detect_faces

image = Image.fromarray(data.astronaut())
events = []

def audit(event, args):
    if event.startswith(("socket.", "urllib.")):
        events.append([event, repr(args)[:200]])
    elif event == "open" and args[1] is not None and any(c in str(args[1]) for c in "wax+"):
        events.append([event, repr(args)[:200]])

sys.addaudithook(audit)
found = detect_faces([image])
print(json.dumps({
    "faces": len(found[0][0]),
    "events": events,
    "facenet_code_imported": any(m.startswith("facenet_pytorch") for m in sys.modules),
    "requests_imported": "requests" in sys.modules,
}))
"""


def test_a_detection_opens_no_socket_writes_no_file_and_runs_none_of_facenets_code(tmp_path):
    """A fresh process (the weights not yet loaded) under an audit hook: every socket,
    urllib request and file opened for writing while detecting is recorded. The caches
    torch.hub and others would fill point into an empty folder, checked afterwards."""
    cache = tmp_path / "cache"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(REPO),
        "TORCH_HOME": str(cache / "torch"),
        "XDG_CACHE_HOME": str(cache),
        "HF_HOME": str(cache / "hf"),
        "HOME": str(tmp_path / "home"),
    }

    result = subprocess.run(
        [sys.executable, "-c", WATCHED],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["faces"] == 1
    assert report["events"] == []
    assert not report["facenet_code_imported"] and not report["requests_imported"]
    assert not cache.exists() or not any(cache.rglob("*"))
