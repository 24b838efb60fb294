"""The interchange formats on plain records: each writer's output reads back the same, COCO
loads with pycocotools, and files written by other tools (Label Studio, foreign COCO, CSV,
YOLO folders) are understood. No database here."""

import csv
import hashlib
import io
import json
import zipfile

import pytest
from factories import make_image_bytes
from pycocotools.coco import COCO

from labeling.interchange import coco, csvfmt, labelstudio, yolo
from labeling.interchange.records import (
    ConceptIndex,
    ConceptRecord,
    ConceptRow,
    InputRecord,
    InterchangeError,
    LabelRecord,
    file_name_for,
)

CONCEPTS = [
    ConceptRecord("digit/3", "Three", exclusive_parent=True),
    ConceptRecord("digit/5", "Five", exclusive_parent=True),
    ConceptRecord("blurry", "Blurry"),
]
RED, BLUE, GREEN = (220, 30, 30), (30, 30, 220), (30, 200, 30)
PICTURES = [make_image_bytes(color=c) for c in (RED, BLUE, GREEN)]
SHA = [hashlib.sha256(p).hexdigest() for p in PICTURES]
IMAGES = dict(zip(SHA, PICTURES, strict=True))


def sample_records() -> list[InputRecord]:
    return [
        InputRecord(
            name="first.png",
            sha256=SHA[0],
            width=16,
            height=16,
            split="train",
            metadata={"camera": "x1"},
            format="PNG",
            labels=[
                LabelRecord("digit/3", "accepted", "human", "anna"),
                LabelRecord("blurry", "accepted", "human", "anna"),
                LabelRecord("digit/5", "pending_review", "model", "", "head", 2, 0.61),
            ],
        ),
        InputRecord(name="second.png", sha256=SHA[1], width=16, height=16, split="train"),
        InputRecord(
            name="third one.png",
            sha256=SHA[2],
            width=16,
            height=16,
            split="eval",
            format="PNG",
            labels=[LabelRecord("digit/5", "accepted", "import", "alice")],
        ),
    ]


def summary(records) -> list[tuple]:
    """What must survive a round trip: the input and every label with its provenance."""
    return sorted(
        (
            r.sha256,
            r.name,
            tuple(
                sorted(
                    (label.concept, label.status, label.source, label.author, label.model)
                    + (label.model_version, label.confidence)
                    for label in r.labels
                )
            ),
        )
        for r in records
    )


def written(writer, records=None, **kwargs) -> bytes:
    out = io.BytesIO()
    writer(out, records if records is not None else sample_records(), CONCEPTS, **kwargs)
    return out.getvalue()


def image_of(record: InputRecord) -> bytes:
    return IMAGES[record.sha256]


# ---------------------------------------------------------------------------- round trips


def test_coco_round_trip_keeps_every_label_and_its_provenance():
    data = written(coco.write_coco, description="Digits")

    records = list(coco.read_coco(io.BytesIO(data)).records)

    assert summary(records) == summary(sample_records())
    assert records[0].metadata == {"camera": "x1"}
    assert [r.split for r in records] == ["train", "train", "eval"]


def test_coco_export_loads_with_pycocotools(tmp_path):
    path = tmp_path / "coco.json"
    path.write_bytes(written(coco.write_coco))

    dataset = COCO(str(path))

    assert len(dataset.getImgIds()) == 3
    assert len(dataset.getAnnIds()) == 4
    cats = dataset.loadCats(dataset.getCatIds())
    assert [c["name"] for c in cats] == ["digit/3", "digit/5", "blurry"]
    assert cats[0]["supercategory"] == "digit"
    five = dataset.getCatIds(catNms=["digit/5"])
    assert sorted(dataset.getImgIds(catIds=five)) == [1, 3]
    first = dataset.loadAnns(dataset.getAnnIds(imgIds=[1]))
    assert {a["status"] for a in first} == {"accepted", "pending_review"}
    assert dataset.loadImgs([3])[0]["file_name"] == "third one.png"


def test_coco_adds_a_category_for_a_concept_missing_from_the_taxonomy_list():
    records = [InputRecord(name="x.png", labels=[LabelRecord("old/gone")])]

    data = json.loads(written(coco.write_coco, records))

    assert [c["name"] for c in data["categories"]][-1] == "old/gone"
    assert data["annotations"][0]["category_id"] == len(data["categories"])


def test_csv_round_trip_keeps_every_label_and_its_provenance():
    data = written(csvfmt.write_csv)

    stream = csvfmt.read_csv(io.BytesIO(data))

    assert stream.total == 3
    records = list(stream.records)
    assert summary(records) == summary(sample_records())
    assert records[0].metadata == {"camera": "x1"}


def test_csv_has_one_row_per_input_with_aligned_label_lists():
    rows = list(csv.DictReader(io.StringIO(written(csvfmt.write_csv).decode())))

    assert [r["name"] for r in rows] == ["first.png", "second.png", "third one.png"]
    assert rows[0]["labels"] == "digit/3;blurry;digit/5"
    assert rows[0]["statuses"] == "accepted;accepted;pending_review"
    assert rows[0]["model_versions"] == ";;2"
    assert rows[1]["labels"] == ""


def test_yolo_round_trip_keeps_every_label_and_its_provenance():
    data = written(yolo.write_yolo, read_image=image_of)

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = [n for n in archive.namelist() if not n.endswith("/")]
        records = list(yolo.read_yolo(archive, names, max_image_bytes=10**6).records)
        for record in records:
            assert record.image() == IMAGES[record.sha256]

    assert summary(records) == summary(sample_records())


def test_yolo_zip_has_a_folder_per_label_val_for_eval_and_unlabeled_aside():
    data = written(yolo.write_yolo, read_image=image_of)

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        files = {n for n in archive.namelist() if not n.endswith("/")}
        folders = {n for n in archive.namelist() if n.endswith("/")}
    first = file_name_for(sample_records()[0])
    assert first == f"{SHA[0][:10]}_first.png"
    # an input with three labels is in the three folders
    assert {f"train/digit__3/{first}", f"train/blurry/{first}", f"train/digit__5/{first}"} <= files
    assert f"val/digit__5/{SHA[2][:10]}_third_one.png" in files
    assert f"unlabeled/{SHA[1][:10]}_second.png" in files
    assert "labels.csv" in files
    assert "val/blurry/" in folders  # every class has its folder, empty or not


def test_yolo_counts_inputs_whose_image_file_is_missing():
    out = io.BytesIO()

    counts = yolo.write_yolo(out, sample_records(), CONCEPTS, read_image=lambda r: None)

    assert counts["missing_images"] == 3
    with zipfile.ZipFile(out) as archive:
        assert [n for n in archive.namelist() if not n.endswith("/")] == ["labels.csv"]


def zip_of(entries: dict[str, bytes]) -> zipfile.ZipFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return zipfile.ZipFile(buffer)


def test_yolo_folders_from_another_tool_group_images_by_content():
    cat, dog, both = (make_image_bytes(color=c) for c in (RED, BLUE, GREEN))
    archive = zip_of(
        {
            "pets/train/cat/0001.png": cat,
            "pets/train/dog/0001.png": dog,  # same name, another picture
            "pets/val/cat/x.png": both,
            "pets/val/dog/x.png": both,  # the same picture in two folders
            "pets/README.txt": b"hello",
        }
    )

    records = list(yolo.read_yolo(archive, archive.namelist(), max_image_bytes=10**6).records)

    labels = sorted((r.name, r.split, tuple(lb.concept for lb in r.labels)) for r in records)
    assert labels == [
        ("0001.png", "train", ("cat",)),
        ("0001.png", "train", ("dog",)),
        ("x.png", "eval", ("cat", "dog")),
    ]
    assert all(lb.status == "accepted" for r in records for lb in r.labels)


def test_label_studio_round_trip_keeps_every_label_and_its_provenance():
    data = written(labelstudio.write_labelstudio)

    records = list(labelstudio.read_labelstudio(io.BytesIO(data)).records)

    assert summary(records) == summary(sample_records())


def test_label_studio_tasks_put_people_in_annotations_and_waiting_model_labels_in_predictions():
    tasks = json.loads(written(labelstudio.write_labelstudio))

    first = tasks[0]
    assert first["data"]["image"] == "first.png"
    [annotation] = first["annotations"]
    assert annotation["was_cancelled"] is False
    assert "completed_by" not in annotation  # Label Studio refuses unknown users
    results = {r["from_name"]: r["value"]["choices"] for r in annotation["result"]}
    assert results == {"digit": ["3"], "choice": ["blurry"]}
    [prediction] = first["predictions"]
    assert prediction["model_version"] == "head v2"
    assert prediction["score"] == 0.61
    assert prediction["result"][0]["value"]["choices"] == ["5"]


def test_label_studio_config_has_a_single_choice_per_exclusive_group():
    config = labelstudio.labeling_config(CONCEPTS)

    assert '<Choices name="digit" toName="image" choice="single"' in config
    assert '<Choices name="choice" toName="image" choice="multiple"' in config
    assert '<Choice value="3" hint="Three"/>' in config


def test_label_studio_reads_a_real_export():
    export = [
        {
            "id": 7,
            "data": {"image": "/data/upload/3/5f1e2a3b-cat_01.jpg"},
            "annotations": [
                {
                    "id": 1,
                    "completed_by": 2,
                    "was_cancelled": False,
                    "result": [
                        {
                            "from_name": "choice",
                            "to_name": "image",
                            "type": "choices",
                            "value": {"choices": ["Cat"]},
                        },
                        {
                            "from_name": "tax",
                            "to_name": "image",
                            "type": "taxonomy",
                            "value": {"taxonomy": [["animal", "mammal"]]},
                        },
                    ],
                },
                {
                    "completed_by": {"email": "bob@example.com"},
                    "was_cancelled": True,
                    "result": [{"type": "choices", "value": {"choices": ["Dog"]}}],
                },
            ],
            "predictions": [
                {
                    "model_version": "resnet v4",
                    "score": 0.4,
                    "result": [
                        {"from_name": "choice", "type": "choices", "value": {"choices": ["Dog"]}}
                    ],
                }
            ],
        },
        {"id": 8, "data": {"image": "http://localhost:8080/data/local-files/?d=pets/dog%202.png"}},
        {"id": 9, "image": "s3://bucket/pets/x.jpg", "choice": "Dog", "annotator": 1},
    ]

    records = list(labelstudio.read_labelstudio(io.BytesIO(json.dumps(export).encode())).records)

    first = records[0]
    assert first.name == "cat_01.jpg"  # the upload prefix is dropped
    assert [(lb.concept, lb.status, lb.source, lb.author) for lb in first.labels] == [
        ("Cat", "accepted", "human", "2"),
        ("animal/mammal", "accepted", "human", "2"),
        ("Dog", "pending_review", "model", ""),
    ]
    assert (first.labels[2].model, first.labels[2].model_version) == ("resnet", 4)
    assert first.labels[2].confidence == 0.4
    assert records[1].name == "dog 2.png" and records[1].labels == []
    assert records[2].name == "x.jpg"  # a JSON-MIN row
    assert [lb.concept for lb in records[2].labels] == ["Dog"]


def test_label_studio_can_leave_predictions_out():
    data = written(labelstudio.write_labelstudio)

    records = list(labelstudio.read_labelstudio(io.BytesIO(data), predictions=False).records)

    assert [lb.concept for lb in records[0].labels] == ["digit/3", "blurry"]


# ---------------------------------------------------------------------------- foreign files


def test_a_coco_detection_file_becomes_image_level_labels():
    document = {
        "images": [{"id": 1, "file_name": "train2017/000001.jpg", "width": 64, "height": 48}],
        "categories": [{"id": 18, "name": "dog", "supercategory": "animal"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 18, "bbox": [1, 2, 3, 4], "area": 12},
            {"id": 2, "image_id": 1, "category_id": 18, "bbox": [5, 6, 7, 8], "area": 56},
        ],
    }

    [record] = coco.read_coco(io.BytesIO(json.dumps(document).encode())).records

    assert record.name == "train2017/000001.jpg"
    assert [(lb.concept, lb.status) for lb in record.labels] == [("animal/dog", "accepted")]


@pytest.mark.parametrize(
    ("reader", "data", "message"),
    [
        (coco.read_coco, b"{not json", "not a JSON file"),
        (coco.read_coco, b'{"annotations": []}', "no list of images"),
        (labelstudio.read_labelstudio, b'"just a string"', "list of tasks"),
        (csvfmt.read_csv, b"label,score\ncat,1\n", "column naming each image"),
    ],
)
def test_a_file_that_is_not_the_format_says_so(reader, data, message):
    with pytest.raises(InterchangeError, match=message):
        list(reader(io.BytesIO(data)).records)


def test_a_minimal_csv_from_a_spreadsheet_is_read():
    data = "\ufefffilename,Label,age_range\nx.png,cat,25-34\ny.png,cat;dog,\n\n".encode()

    stream = csvfmt.read_csv(io.BytesIO(data))

    assert stream.total == 2
    records = list(stream.records)
    assert [(r.name, [lb.concept for lb in r.labels]) for r in records] == [
        ("x.png", ["cat"]),
        ("y.png", ["cat", "dog"]),
    ]
    assert records[0].metadata == {"age_range": "25-34"}
    assert records[0].labels[0].status == "accepted"


# ---------------------------------------------------------------------------- concepts


@pytest.fixture
def index() -> ConceptIndex:
    rows = [
        ConceptRow(1, None, "digit", "Digit", exclusive=True),
        ConceptRow(2, 1, "3", "Three"),
        ConceptRow(3, 1, "5", "Five"),
        ConceptRow(4, None, "blurry", "Blurry"),
        ConceptRow(5, None, "size", "Size", exclusive=True),
        ConceptRow(6, 5, "small", "Small"),
        ConceptRow(7, None, "shape", "Shape"),
        ConceptRow(8, 7, "small", "Small shape"),
        ConceptRow(9, None, "old", "Old", archived=True),
    ]
    return ConceptIndex(rows, {"trois": 2, "fuzzy": 4})


@pytest.mark.parametrize(
    ("path", "concept"),
    [
        ("digit/3", 2),
        ("Digit/THREE", 2),  # names and keys, any case
        ("digit/trois", 2),  # a synonym
        ("trois", 2),
        ("fuzzy", 4),
        ("class/blurry", 4),  # another tool's grouping around a known concept
        ("size/small", 6),
        ("Shape/small", 8),
        ("small", None),  # two concepts are called that
        ("digit", None),  # a group, not a label
        ("old", None),  # archived
        ("bird", None),
        ("", None),
    ],
)
def test_concept_paths_resolve_through_keys_names_and_synonyms(index, path, concept):
    assert index.resolve(path) == concept


def test_an_exclusive_option_knows_its_group(index):
    assert index.exclusive_group(2) == 1
    assert index.exclusive_group(4) is None
