"""Export and import of boxes: each format round-trips a project's boxes (and its labels of
whole images) into a fresh project, COCO exports load and evaluate in pycocotools, bad boxes
are reported one by one, and a photo turned by EXIF keeps its boxes where people drew them.

The services are called directly (the Celery task queued after commit is not run).
"""

import copy
import csv
import io
import json
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from factories import UserFactory
from PIL import Image, ImageOps
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from labeling.interchange.report import report_lines
from labeling.models import (
    Annotation,
    AnnotationSource,
    AnnotationStatus,
    Input,
    InterchangeJob,
    Region,
)
from labeling.services.annotations import RegionSpec, annotation_create
from labeling.services.ingest import input_ingest
from labeling.services.interchange import (
    export_concepts,
    interchange_export_create,
    interchange_import_create,
    interchange_job_run,
)
from labeling.services.projects import project_create
from labeling.services.taxonomy import concept_create, concept_synonym_add
from labeling.storage import media_path

pytestmark = pytest.mark.django_db

Status = InterchangeJob.Status
FORMATS = ["coco", "csv", "yolo", "labelstudio"]
COLORS = [(220, 30, 30), (30, 200, 30), (30, 30, 220)]
SIZE = (64, 48)


def taxonomy(project, user, *, face_name="face"):
    """``objects`` draws boxes (face, car); ``scene`` labels whole images (indoor, outdoor)."""
    objects = concept_create(project=project, name="objects", actor=user, scope="regions")
    scene = concept_create(project=project, name="scene", actor=user, exclusive=True)
    concepts = {
        "face": concept_create(project=project, name=face_name, parent=objects, actor=user),
        "car": concept_create(project=project, name="car", parent=objects, actor=user),
        "indoor": concept_create(project=project, name="indoor", parent=scene, actor=user),
        "outdoor": concept_create(project=project, name="outdoor", parent=scene, actor=user),
    }
    if face_name != "face":
        concept_synonym_add(concept=concepts["face"], name="face", actor=user)
    return concepts


@pytest.fixture
def boxed(project, admin, annotator, image_bytes):
    """Three 64x48 images: people's boxes and a label, a model's scored box, nothing."""
    concepts = taxonomy(project, admin)
    inputs = [
        input_ingest(
            project=project, name=f"img{n}.png", data=image_bytes(size=SIZE, color=c)
        ).input
        for n, c in enumerate(COLORS)
    ]
    annotation_create(
        project_id=project.id,
        input_id=inputs[0].id,
        source=AnnotationSource.HUMAN,
        status=AnnotationStatus.ACCEPTED,
        concept_ids=[concepts["indoor"].id],
        regions=[
            RegionSpec(concepts["face"].id, (0.1, 0.2, 0.3, 0.4)),
            RegionSpec(concepts["car"].id, (0.5, 0.5, 0.25, 0.125)),
            RegionSpec(concepts["face"].id, (1 / 3, 0.05, 1 / 7, 0.3)),
        ],
        author=annotator,
    )
    annotation_create(
        project_id=project.id,
        input_id=inputs[1].id,
        source=AnnotationSource.MODEL,
        status=AnnotationStatus.ACCEPTED,
        concept_ids=[],
        regions=[RegionSpec(concepts["car"].id, (0.0, 0.0, 0.5, 0.5), confidence=0.875)],
    )
    return inputs


def export(project, user, format, **options) -> InterchangeJob:
    job = interchange_export_create(project=project, user=user, format=format, options=options)
    job = interchange_job_run(job_id=job.id)
    assert job.status == Status.DONE, job.error
    return job


def import_file(project, user, format, data: bytes, name: str, **options) -> InterchangeJob:
    upload = SimpleUploadedFile(name, data)
    job = interchange_import_create(
        project=project, user=user, format=format, uploaded_file=upload, options=options
    )
    job = interchange_job_run(job_id=job.id)
    assert job.status == Status.DONE, job.error
    return job


def exported(job) -> tuple[bytes, str]:
    return media_path(job.file).read_bytes(), job.report["filename"]


def fresh_project(source, *, with_images=True, face_name="face"):
    owner = UserFactory()
    target = project_create(name="Copy", created_by=owner)
    taxonomy(target, owner, face_name=face_name)
    if with_images:
        for input in Input.objects.filter(project=source).order_by("id"):
            data = media_path(input.file).read_bytes()
            input_ingest(project=target, name=input.original_name, data=data)
    return target, owner


def boxes_of(project) -> list[tuple]:
    """Every live box as (image hash, concept path, status, confidence, x, y, w, h), sorted,
    with the concept named as in the source project (face's name may differ)."""
    _, paths = export_concepts(project)
    rows = Region.objects.filter(
        annotation__project=project,
        annotation__status__in=[AnnotationStatus.ACCEPTED, AnnotationStatus.PENDING_REVIEW],
    ).values_list(
        "annotation__input__sha256",
        "concept_id",
        "annotation__status",
        "confidence",
        "x",
        "y",
        "w",
        "h",
    )
    named = [(sha, paths[c].replace("visage", "face"), *rest) for sha, c, *rest in rows]
    return sorted(named)


def labels_of(project) -> set[tuple]:
    _, paths = export_concepts(project)
    rows = Annotation.objects.filter(project=project).values_list(
        "input__sha256", "labels__concept_id"
    )
    return {(sha, paths[c]) for sha, c in rows if c is not None}


def assert_same_boxes(got: list[tuple], want: list[tuple], tolerance: float = 1e-6) -> None:
    assert len(got) == len(want), (got, want)
    for a, b in zip(got, want, strict=True):
        assert a[:4] == b[:4], (a, b)
        assert a[4:] == pytest.approx(b[4:], abs=tolerance), (a, b)


# ---------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("format", FORMATS)
def test_boxes_and_labels_survive_export_then_import_into_a_fresh_project(
    project, admin, boxed, format
):
    data, name = exported(export(project, admin, format))
    # the YOLO zip carries the images: the new project starts empty and gets them from it
    target, owner = fresh_project(project, with_images=format != "yolo")

    job = import_file(target, owner, format, data, name)

    assert_same_boxes(boxes_of(target), boxes_of(project))
    assert labels_of(target) == labels_of(project) == {(boxed[0].sha256, "scene/indoor")}
    assert job.report["regions_created"] == 4
    assert job.report["unknown_concepts"] == {}
    assert job.report["boxes_refused"] == job.report["boxes_clipped"] == 0
    if format == "yolo":
        assert job.report["inputs_created"] == 3  # the unlabeled one too, from unlabeled/


@pytest.mark.parametrize("format", FORMATS)
def test_a_project_export_imported_into_itself_adds_nothing(project, admin, boxed, format):
    data, name = exported(export(project, admin, format))
    before = Annotation.objects.filter(project=project).count()

    job = import_file(project, admin, format, data, name)

    assert job.report["annotations_created"] == 0, job.report
    assert Annotation.objects.filter(project=project).count() == before


def test_boxes_map_through_synonyms(project, admin, boxed):
    data, name = exported(export(project, admin, "labelstudio"))
    # "face" survives only as a synonym of "visage" in the new project
    target, owner = fresh_project(project, face_name="visage")

    job = import_file(target, owner, "labelstudio", data, name)

    assert job.report["unknown_concepts"] == {}
    assert_same_boxes(boxes_of(target), boxes_of(project))
    assert Region.objects.filter(annotation__project=target, concept__name="visage").count() == 2


def test_a_project_without_box_groups_still_gets_yolo_class_folders(project, admin, image_bytes):
    indoor = concept_create(project=project, name="indoor", actor=admin)
    input = input_ingest(project=project, name="a.png", data=image_bytes()).input
    annotation_create(
        project_id=project.id,
        input_id=input.id,
        source=AnnotationSource.HUMAN,
        status=AnnotationStatus.ACCEPTED,
        concept_ids=[indoor.id],
    )

    job = export(project, admin, "yolo")

    names = zipfile.ZipFile(io.BytesIO(exported(job)[0])).namelist()
    assert job.report["yolo_layout"] == "classify"
    assert any(n.startswith("train/indoor/") and n.endswith(".png") for n in names)


# ---------------------------------------------------------------------------- the formats


def test_the_coco_export_loads_and_evaluates_in_pycocotools(project, admin, boxed):
    job = export(project, admin, "coco")
    path = str(media_path(job.file))

    ground_truth = COCO(path)

    categories = {c["name"]: c["id"] for c in ground_truth.loadCats(ground_truth.getCatIds())}
    faces = ground_truth.getAnnIds(catIds=[categories["objects/face"]])
    assert len(faces) == 2 and len(ground_truth.getAnnIds()) == 4
    first = ground_truth.loadAnns(faces)[0]
    assert first["bbox"] == pytest.approx([0.1 * 64, 0.2 * 48, 0.3 * 64, 0.4 * 48])
    assert first["area"] == pytest.approx(0.3 * 64 * 0.4 * 48)
    assert first["iscrowd"] == 0
    model_box = ground_truth.loadAnns(ground_truth.getAnnIds(catIds=[categories["objects/car"]]))
    assert sorted(a["score"] or 0 for a in model_box) == [0, 0.875]
    # the whole-image label is kept apart, so every annotation is a box
    document = json.loads(media_path(job.file).read_text())
    assert [a["category_id"] for a in document["image_labels"]] == [categories["scene/indoor"]]
    results = [
        {"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1}
        for a in ground_truth.loadAnns(ground_truth.getAnnIds())
    ]
    detections = ground_truth.loadRes(copy.deepcopy(results))
    evaluation = COCOeval(ground_truth, detections, iouType="bbox")
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    assert evaluation.stats[0] == pytest.approx(1.0)
    # a shifted detection is not a match: the check can fail
    shifted = [dict(r, bbox=[r["bbox"][0] + 30, *r["bbox"][1:]]) for r in results]
    evaluation = COCOeval(ground_truth, ground_truth.loadRes(shifted), iouType="bbox")
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    assert evaluation.stats[0] < 0.5


def test_the_yolo_export_is_an_ultralytics_detection_dataset(project, admin, boxed):
    job = export(project, admin, "yolo")

    archive = zipfile.ZipFile(io.BytesIO(exported(job)[0]))
    names = archive.namelist()
    import yaml

    data = yaml.safe_load(archive.read("data.yaml"))
    assert data["names"] == {0: "objects/face", 1: "objects/car"}
    assert data["train"] == "images/train" and data["val"] == "images/val"
    [label_file] = [n for n in names if n.startswith("labels/") and boxed[0].sha256[:10] in n]
    lines = [line.split() for line in archive.read(label_file).decode().splitlines()]
    assert lines[0][0] == "0"
    assert [float(v) for v in lines[0][1:]] == pytest.approx([0.25, 0.4, 0.3, 0.4])
    assert lines[1][0] == "1"
    image = label_file.replace("labels/", "images/", 1).replace(".txt", ".png")
    assert image in names
    assert any(n.startswith("unlabeled/") for n in names)  # the third input
    assert "labels.csv" in names


def test_the_label_studio_export_has_rectangles_and_a_config(project, admin, boxed):
    job = export(project, admin, "labelstudio")

    tasks = json.loads(exported(job)[0])
    results = tasks[0]["annotations"][0]["result"]
    rectangles = [r for r in results if r["type"] == "rectanglelabels"]
    assert rectangles[0]["from_name"] == "objects"
    assert rectangles[0]["value"]["rectanglelabels"] == ["face"]
    assert rectangles[0]["value"]["x"] == pytest.approx(10)
    assert rectangles[0]["value"]["width"] == pytest.approx(30)
    assert rectangles[0]["value"]["rotation"] == 0
    assert (rectangles[0]["original_width"], rectangles[0]["original_height"]) == SIZE
    assert [r["value"]["choices"] for r in results if r["type"] == "choices"] == [["indoor"]]
    assert tasks[1]["annotations"][0]["result"][0]["score"] == 0.875
    assert '<RectangleLabels name="objects"' in job.report["labelstudio_config"]


def test_the_csv_export_has_a_row_per_box_with_pixels(project, admin, boxed):
    job = export(project, admin, "csv")

    rows = list(csv.DictReader(io.StringIO(exported(job)[0].decode())))
    boxes = [r for r in rows if r["x"]]
    assert len(boxes) == 4
    first = boxes[0]
    assert first["name"] == "img0.png" and first["labels"] == "objects/face"
    assert float(first["x"]) == 0.1 and float(first["h"]) == 0.4
    assert [first[k] for k in ("x0", "y0", "x1", "y1")] == ["6", "10", "26", "29"]
    assert first["statuses"] == "accepted" and first["sources"] == "human"
    model = next(r for r in boxes if r["name"] == "img1.png")
    assert (model["confidences"], model["sources"]) == ("0.875", "model")


# ---------------------------------------------------------------------------- bad input


def csv_file(rows: list[list]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["name", "labels", "x", "y", "w", "h"])
    writer.writerows(rows)
    return out.getvalue().encode()


def test_bad_boxes_are_refused_one_by_one_with_their_reasons(project, admin, boxed):
    data = csv_file(
        [
            ["img2.png", "objects/face", 0.1, 0.1, 0.2, 0.2],  # fine
            ["img2.png", "objects/face", 0.9, 0.1, 0.3, 0.2],  # clipped at the right edge
            ["img2.png", "objects/car", 1.5, 0.1, 0.2, 0.2],  # outside
            ["img2.png", "objects/car", 0.1, 0.1, 0, 0.2],  # no width
            ["img2.png", "objects/car", "nan", 0.1, 0.2, 0.2],  # not a number
            ["img2.png", "objects/car", "left", 0.1, 0.2, 0.2],  # not a number either
            ["img2.png", "zebra", 0.1, 0.1, 0.2, 0.2],  # no such concept
            ["img2.png", "scene/outdoor", 0.1, 0.1, 0.2, 0.2],  # a whole-image concept
            ["img2.png", "objects/car", "", "", "", ""],  # a box concept, but no box
        ]
    )

    job = import_file(project, admin, "csv", data, "boxes.csv")

    report = job.report
    assert report["regions_created"] == 2
    assert report["boxes_clipped"] == 1
    assert report["clipped_examples"] == ["img2.png: objects/face"]
    assert report["boxes_refused"] == 4
    messages = [r["message"] for r in report["refused_examples"]]
    assert "outside the image" in messages[0]
    assert "above zero" in messages[1]
    assert "not a finite number" in messages[2] and "not a finite number" in messages[3]
    assert report["unknown_concepts"] == {"zebra": 1}
    assert report["boxes_as_labels"] == 1
    assert report["labels_on_box_concepts"] == 1
    assert report["labels_on_box_concepts_examples"] == ["img2.png: objects/car"]
    stored = Region.objects.filter(annotation__input=boxed[2]).order_by("position")
    assert [r.box for r in stored][0] == pytest.approx((0.1, 0.1, 0.2, 0.2))
    assert [r.box for r in stored][1] == pytest.approx((0.9, 0.1, 0.1, 0.2))
    assert labels_of(project) >= {(boxed[2].sha256, "scene/outdoor")}
    lines = [line.text for line in report_lines(report)]
    assert any("clipped" in line for line in lines)
    assert any("refused" in line and "outside the image" in line for line in lines)


def test_a_rotated_label_studio_box_is_refused_with_a_message(project, admin, boxed):
    rectangle = {
        "from_name": "objects",
        "to_name": "image",
        "type": "rectanglelabels",
        "original_width": 64,
        "original_height": 48,
        "value": {"x": 10, "y": 10, "width": 20, "height": 20, "rotation": 30},
    }
    tasks = [
        {
            "data": {"image": "/data/upload/1/0a1b2c3d-img2.png"},
            "annotations": [
                {
                    "result": [
                        dict(rectangle, value=dict(rectangle["value"], rectanglelabels=["car"])),
                        dict(
                            rectangle,
                            value=dict(rectangle["value"], rotation=0, rectanglelabels=["car"]),
                        ),
                    ]
                }
            ],
        }
    ]

    job = import_file(project, admin, "labelstudio", json.dumps(tasks).encode(), "ls.json")

    assert job.report["regions_created"] == 1
    [refused] = job.report["refused_examples"]
    assert refused["name"] == "img2.png" and "rotated by 30 degrees" in refused["message"]


def test_too_many_boxes_on_one_image_are_reported(project, admin, boxed, settings):
    settings.LABELING_MAX_REGIONS = 2
    data = csv_file([["img2.png", "objects/face", 0.1 * i, 0.1, 0.05, 0.05] for i in range(3)])

    job = import_file(project, admin, "csv", data, "boxes.csv")

    assert job.report["regions_created"] == 0
    assert job.report["too_many_boxes"] == ["img2.png: 3 boxes, over the limit of 2"]


def test_a_coco_box_in_pixels_on_an_image_of_unknown_size_uses_the_inputs_size(
    project, admin, boxed
):
    document = {
        "images": [{"id": 1, "file_name": "img2.png"}],
        "categories": [{"id": 3, "name": "face", "supercategory": "objects"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 3, "bbox": [32, 12, 16, 24]}],
    }

    job = import_file(project, admin, "coco", json.dumps(document).encode(), "c.json")

    assert job.report["regions_created"] == 1
    region = Region.objects.get(annotation__input=boxed[2])
    assert region.box == pytest.approx((0.5, 0.25, 0.25, 0.5))


# ---------------------------------------------------------------------------- EXIF


def turned_photo() -> tuple[bytes, Image.Image]:
    """A JPEG stored 40x20 with EXIF orientation 6 (turn 90 degrees to view): people see it
    20 wide and 40 tall, red in its top quarter, blue below."""
    seen = Image.new("RGB", (20, 40), (0, 0, 230))
    seen.paste((230, 0, 0), (0, 0, 20, 10))
    stored = seen.transpose(Image.Transpose.ROTATE_90)  # exif_transpose turns it back
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    stored.save(out, "JPEG", exif=exif.tobytes(), quality=95)
    return out.getvalue(), seen


def test_an_exif_turned_photo_keeps_its_boxes_where_people_drew_them(project, admin):
    concepts = taxonomy(project, admin)
    data, seen = turned_photo()
    assert ImageOps.exif_transpose(Image.open(io.BytesIO(data))).size == seen.size
    input = input_ingest(project=project, name="turned.jpg", data=data).input
    # ingest stores the size people see, which boxes are fractions of
    assert (input.width, input.height) == (20, 40)
    annotation_create(
        project_id=project.id,
        input_id=input.id,
        source=AnnotationSource.HUMAN,
        status=AnnotationStatus.ACCEPTED,
        concept_ids=[],
        regions=[RegionSpec(concepts["face"].id, (0.0, 0.0, 1.0, 0.25))],  # the red quarter
    )

    document = json.loads(media_path(export(project, admin, "coco").file).read_text())
    archive = zipfile.ZipFile(io.BytesIO(exported(export(project, admin, "yolo"))[0]))

    [image] = document["images"]
    assert (image["width"], image["height"]) == (20, 40)
    assert document["annotations"][0]["bbox"] == [0, 0, 20, 10]
    [label_file] = [n for n in archive.namelist() if n.startswith("labels/") and n.endswith("txt")]
    values = [float(v) for v in archive.read(label_file).split()]
    assert values == pytest.approx([0, 0.5, 0.125, 1.0, 0.25])
    picture = label_file.replace("labels/", "images/", 1).replace(".txt", ".jpg")
    shown = ImageOps.exif_transpose(Image.open(io.BytesIO(archive.read(picture))))
    assert shown.size == (20, 40)
    red, green, blue = shown.getpixel((10, 5))  # the middle of the box, in pixels
    assert red > 180 and blue < 60
    # back into a fresh project: the box lands on the same pixels
    target, owner = fresh_project(project, with_images=False)
    data, name = exported(export(project, admin, "yolo"))
    import_file(target, owner, "yolo", data, name)
    landed = Region.objects.get(annotation__project=target)
    turned = Input.objects.get(project=target)
    assert (turned.width, turned.height) == (20, 40)
    assert landed.pixels(turned.width, turned.height) == (0, 0, 20, 10)
