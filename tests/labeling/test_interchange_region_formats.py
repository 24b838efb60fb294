"""The format codecs with boxes, without a database: other tools' files read into boxes, and
the one check every imported box goes through."""

import csv
import io
import json
import math
import zipfile

import pytest

from labeling.boxes import InvalidBox
from labeling.interchange import coco, csvfmt, labelstudio
from labeling.interchange.records import RegionRecord, region_box
from labeling.interchange.yolo_detection import (
    is_detection,
    parse_label_file,
    read_yolo_detection,
)

# ---------------------------------------------------------------------------- region_box


def test_a_box_in_pixels_becomes_fractions_of_the_image():
    box, clipped = region_box(RegionRecord("car", (32, 12, 16, 24), pixels=True), 64, 48)

    assert box.as_tuple() == pytest.approx((0.5, 0.25, 0.25, 0.5))
    assert not clipped


def test_a_box_past_the_edge_is_clipped_and_says_so():
    box, clipped = region_box(RegionRecord("car", (0.9, -0.1, 0.3, 0.3)), None, None)

    assert box.as_tuple() == pytest.approx((0.9, 0.0, 0.1, 0.2))
    assert clipped


@pytest.mark.parametrize(
    ("region", "size", "message"),
    [
        (RegionRecord("car", (0.1, 0.1, 0.2, 0.2), rotation=15), (64, 48), "rotated by 15"),
        (RegionRecord("car", (0.1, 0.1, 0.2, 0.2), rotation=math.nan), (64, 48), "rotated"),
        (RegionRecord("car", (1, 1, 5, 5), pixels=True), (None, None), "size is not known"),
        (RegionRecord("car", (math.nan, 0.1, 0.2, 0.2)), (64, 48), "not a finite number"),
        (RegionRecord("car", (0.1, 0.1, 0.0, 0.2)), (64, 48), "above zero"),
        (RegionRecord("car", (1.2, 0.1, 0.2, 0.2)), (64, 48), "outside the image"),
        (RegionRecord("car", (0, 0, 1, 1), problem="line 3 is odd"), (64, 48), "line 3 is odd"),
    ],
)
def test_a_box_that_cannot_be_stored_says_why(region, size, message):
    with pytest.raises(InvalidBox, match=message):
        region_box(region, *size)


def test_a_full_turn_is_upright():
    box, _ = region_box(RegionRecord("car", (0.1, 0.1, 0.2, 0.2), rotation=360), 64, 48)

    assert box.as_tuple() == (0.1, 0.1, 0.2, 0.2)


# ---------------------------------------------------------------------------- COCO


def test_coco_reads_boxes_rotations_and_labels_kept_apart():
    document = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 64, "height": 48}],
        "categories": [
            {"id": 1, "name": "car", "supercategory": "objects"},
            {"id": 2, "name": "scene/indoor", "supercategory": "scene"},
        ],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.5},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]}
            | {"attributes": {"rotation": 45.0}},
            {"id": 3, "image_id": 1, "category_id": 1, "bbox": ["a", 2, 3]},
        ],
        "image_labels": [{"id": 4, "image_id": 1, "category_id": 2}],
    }

    [record] = coco.read_coco(io.BytesIO(json.dumps(document).encode())).records

    assert [(r.box, r.pixels, r.rotation, r.confidence) for r in record.regions[:2]] == [
        ((1, 2, 3, 4), True, 0.0, 0.5),
        ((1, 2, 3, 4), True, 45.0, None),
    ]
    assert all(math.isnan(v) for v in record.regions[2].box)
    assert [(lb.concept, lb.boxed) for lb in record.labels] == [
        ("objects/car", True),
        ("scene/indoor", False),
    ]


# ---------------------------------------------------------------------------- CSV


def test_a_one_row_per_box_csv_from_another_tool_is_grouped_by_image():
    data = (
        b"image,label,xmin,ymin,xmax,ymax\n"
        b"a.jpg,car,10,20,30,60\n"
        b"b.jpg,face,0,0,5,5\n"
        b"a.jpg,face,1,2,3,4\n"
    )

    stream = csvfmt.read_csv(io.BytesIO(data))
    records = list(stream.records)

    assert stream.total == 2
    assert [r.name for r in records] == ["a.jpg", "b.jpg"]
    assert [(r.concept, r.box, r.pixels) for r in records[0].regions] == [
        ("car", (10, 20, 20, 40), True),
        ("face", (1, 2, 2, 2), True),
    ]
    assert records[0].labels == []


def test_a_csv_without_box_columns_has_no_box_columns_in_its_export():
    out = io.BytesIO()
    csvfmt.write_csv(out, [], [])

    header = next(csv.reader(io.StringIO(out.getvalue().decode())))
    assert "x" not in header and header == csvfmt.COLUMNS


# ---------------------------------------------------------------------------- Label Studio


def test_label_studio_min_rows_bring_their_boxes():
    row = {
        "image": "/data/upload/1/0a1b2c3d-a.jpg",
        "id": 4,
        "label": [
            {
                "x": 10,
                "y": 20,
                "width": 30,
                "height": 40,
                "rotation": 0,
                "rectanglelabels": ["car"],
                "original_width": 64,
                "original_height": 48,
            }
        ],
    }

    [record] = labelstudio.read_labelstudio(io.BytesIO(json.dumps([row]).encode())).records

    assert record.name == "a.jpg"
    [region] = record.regions
    assert (region.concept, region.box) == ("car", pytest.approx((0.1, 0.2, 0.3, 0.4)))


def test_label_studio_predictions_keep_the_box_score():
    task = {
        "data": {"image": "a.jpg"},
        "predictions": [
            {
                "model_version": "det v3",
                "result": [
                    {
                        "from_name": "objects",
                        "type": "rectanglelabels",
                        "score": 0.7,
                        "value": {"x": 0, "y": 0, "width": 50, "height": 50, "labels": ["car"]},
                    }
                ],
            }
        ],
    }

    [record] = labelstudio.read_labelstudio(io.BytesIO(json.dumps([task]).encode())).records

    [region] = record.regions
    assert region.concept == "objects/car"
    assert (region.status, region.source, region.model, region.model_version) == (
        "pending_review",
        "model",
        "det",
        3,
    )
    assert region.confidence == 0.7
    assert record.labels == []


# ---------------------------------------------------------------------------- YOLO


def test_a_yolo_label_file_names_its_classes_and_flags_what_is_not_a_box():
    text = "0 0.5 0.5 0.2 0.4\n\n7 0.1 0.1 0.1 0.1 0.9\n1 0.1 0.1 0.2 0.1 0.3 0.3 0.1 0.3\n"

    regions = parse_label_file(text, {0: "car", 1: "face"})

    assert regions[0].concept == "car"
    assert regions[0].box == pytest.approx((0.4, 0.3, 0.2, 0.4))
    assert (regions[1].concept, regions[1].confidence) == ("class 7", 0.9)
    assert "polygon" in regions[2].problem


def test_an_ultralytics_dataset_from_elsewhere_is_read():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("ds/data.yaml", "names: [car, face]\ntrain: images/train\n")
        archive.writestr("ds/images/train/a.jpg", b"not really a jpeg")
        archive.writestr("ds/labels/train/a.txt", "1 0.5 0.5 0.5 0.5\n")
        archive.writestr("ds/images/val/b.jpg", b"another")
    archive = zipfile.ZipFile(buffer)
    names = archive.namelist()

    assert is_detection(names)
    records = list(read_yolo_detection(archive, names, max_image_bytes=1000).records)

    assert [(r.name, r.split) for r in records] == [("a.jpg", "train"), ("b.jpg", "eval")]
    assert [(g.concept, g.box) for g in records[0].regions] == [
        ("face", pytest.approx((0.25, 0.25, 0.5, 0.5)))
    ]
    assert records[1].regions == []
    assert records[0].image() == b"not really a jpeg"


def test_class_folders_are_not_a_detection_dataset():
    assert not is_detection(["train/cat/a.jpg", "val/dog/b.jpg", "labels.csv"])
