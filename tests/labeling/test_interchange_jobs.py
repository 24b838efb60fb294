"""Export and import jobs: a project's labels survive export → import in every format, names
map through synonyms, unknown concepts are reported, a second import adds nothing, and an
export keeps memory flat however many inputs the project has.

The services are called directly; the Celery task queued after commit is not run
(pytest-django keeps each test in a transaction).
"""

import hashlib
import io
import json
import tracemalloc
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from factories import MembershipFactory, UserFactory
from pycocotools.coco import COCO

from labeling.interchange import coco, csvfmt, labelstudio
from labeling.models import (
    Annotation,
    AnnotationLabel,
    AnnotationSource,
    AnnotationStatus,
    Input,
    InputStatus,
    InterchangeJob,
    QueueSlot,
    Role,
    Split,
)
from labeling.services.errors import ServiceError
from labeling.services.ingest import input_ingest
from labeling.services.interchange import (
    export_concepts,
    exporting,
    interchange_export_create,
    interchange_import_create,
    interchange_job_run,
    interchange_jobs_resume_stale,
    jobs,
)
from labeling.services.projects import project_create
from labeling.services.taxonomy import concept_create, concept_synonym_add
from labeling.storage import media_path
from training.models import MLModel, ModelType, ModelVersion

pytestmark = pytest.mark.django_db

Status = InterchangeJob.Status
FORMATS = ["coco", "csv", "yolo", "labelstudio"]
COLORS = [(220, 30, 30), (30, 200, 30), (30, 30, 220), (200, 200, 30), (30, 200, 200)]


def taxonomy(project, user, names: dict[str, str] | None = None, *, blurry: bool = True):
    """digit (single choice: 1, 2, 3) and, unless told not to, a separate ``blurry``.
    ``names`` renames concepts, keeping the original key as a synonym only."""
    names = names or {}
    digit = concept_create(project=project, name="digit", exclusive=True, actor=user)
    concepts = {}
    for key in ("1", "2", "3"):
        name = names.get(key, key)
        concepts[key] = concept_create(project=project, name=name, parent=digit, actor=user)
        if name != key:
            concept_synonym_add(concept=concepts[key], name=key, actor=user)
    if blurry:
        name = names.get("blurry", "blurry")
        concepts["blurry"] = concept_create(project=project, name=name, actor=user)
        if name != "blurry":
            concept_synonym_add(concept=concepts["blurry"], name="blurry", actor=user)
    return concepts


def label(input, concepts, *, status, source=AnnotationSource.HUMAN, author=None, **extra):
    annotation = Annotation.objects.create(
        project=input.project, input=input, status=status, source=source, author=author, **extra
    )
    for concept, confidence in concepts:
        AnnotationLabel.objects.create(
            annotation=annotation, concept=concept, confidence=confidence
        )
    return annotation


@pytest.fixture
def labeled(project, admin, annotator, image_bytes):
    """Five real images: accepted, pending (human and model), rejected, and unlabeled."""
    concepts = taxonomy(project, admin)
    inputs = [
        input_ingest(project=project, name=f"img{n}.png", data=image_bytes(color=c)).input
        for n, c in enumerate(COLORS)
    ]
    model = MLModel.objects.create(project=project, name="head", type=ModelType.CONTEXT_CLASSIFIER)
    version = ModelVersion.objects.create(model=model, number=2, status="ready")
    accepted = AnnotationStatus.ACCEPTED
    pending = AnnotationStatus.PENDING_REVIEW
    label(inputs[0], [(concepts["1"], None)], status=accepted, author=annotator)
    label(
        inputs[0],
        [(concepts["2"], 0.55)],
        status=pending,
        source=AnnotationSource.MODEL,
        model_version=version,
    )
    label(inputs[1], [(concepts["3"], None), (concepts["blurry"], None)], status=pending)
    label(inputs[2], [(concepts["2"], 0.97)], status=accepted, source=AnnotationSource.MODEL)
    label(inputs[3], [(concepts["1"], None)], status=AnnotationStatus.REJECTED, author=annotator)
    return inputs


def label_set(project) -> set[tuple[str, str, str]]:
    """Every live label of the project as (image hash, concept path, status)."""
    _, paths = export_concepts(project)
    rows = AnnotationLabel.objects.filter(
        annotation__project=project,
        annotation__status__in=[AnnotationStatus.ACCEPTED, AnnotationStatus.PENDING_REVIEW],
    ).values_list("annotation__input__sha256", "concept_id", "annotation__status")
    return {(sha, paths[concept], status) for sha, concept, status in rows}


def export(project, user, format, **options) -> InterchangeJob:
    job = interchange_export_create(project=project, user=user, format=format, options=options)
    return interchange_job_run(job_id=job.id)


def import_file(project, user, format, data: bytes, name: str, **options) -> InterchangeJob:
    upload = SimpleUploadedFile(name, data)
    job = interchange_import_create(
        project=project, user=user, format=format, uploaded_file=upload, options=options
    )
    return interchange_job_run(job_id=job.id)


def exported_bytes(job) -> tuple[bytes, str]:
    assert job.status == Status.DONE, job.error
    return media_path(job.file).read_bytes(), job.report["filename"]


def fresh_project(source, names=None, *, blurry=True, with_images=True):
    """Another project with the same images (unless told not to) and the same taxonomy."""
    owner = UserFactory()
    target = project_create(name="Copy", created_by=owner)
    taxonomy(target, owner, names, blurry=blurry)
    if with_images:
        for input in Input.objects.filter(project=source):
            data = media_path(input.file).read_bytes()
            input_ingest(project=target, name=input.original_name, data=data)
    return target, owner


# ---------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("format", FORMATS)
def test_export_then_import_keeps_every_label_and_its_status(project, admin, labeled, format):
    exported = export(project, admin, format, statuses=["accepted", "pending_review"])
    data, name = exported_bytes(exported)
    # YOLO carries the images: the new project starts empty and gets them from the zip.
    target, owner = fresh_project(project, with_images=format != "yolo")

    job = import_file(target, owner, format, data, name)

    assert job.status == Status.DONE, job.error
    assert label_set(target) == label_set(project)
    assert len(label_set(project)) == 5  # the rejected label stays out by default
    assert job.report["unknown_concepts"] == {}
    assert job.report["inputs_unmatched"] == 0
    if format == "yolo":
        assert job.report["inputs_created"] == 5
        assert Input.objects.filter(project=target).count() == 5


def test_import_maps_names_through_synonyms(project, admin, labeled):
    data, name = exported_bytes(export(project, admin, "csv", include_suggestions=True))
    renamed = {"1": "one", "2": "two", "3": "three", "blurry": "fuzzy"}
    target, owner = fresh_project(project, renamed)  # the old names survive as synonyms only

    job = import_file(target, owner, "csv", data, name)

    assert job.report["unknown_concepts"] == {}
    paths = {"digit/1": "digit/one", "digit/2": "digit/two", "digit/3": "digit/three"}
    paths["blurry"] = "fuzzy"
    assert label_set(target) == {(sha, paths[p], status) for sha, p, status in label_set(project)}


def test_unknown_concepts_are_reported_and_the_other_labels_land(project, admin, labeled):
    data, name = exported_bytes(export(project, admin, "coco", include_suggestions=True))
    target, owner = fresh_project(project, blurry=False)

    job = import_file(target, owner, "coco", data, name)

    assert job.status == Status.DONE
    assert job.report["unknown_concepts"] == {"blurry": 1}
    expected = {row for row in label_set(project) if row[1] != "blurry"}
    assert label_set(target) == expected


def test_importing_the_same_file_again_adds_nothing(project, admin, labeled):
    data, name = exported_bytes(export(project, admin, "labelstudio", include_suggestions=True))
    target, owner = fresh_project(project)
    first = import_file(target, owner, "labelstudio", data, name)
    count = Annotation.objects.filter(project=target).count()

    second = import_file(target, owner, "labelstudio", data, name)

    assert first.report["annotations_created"] == count == 4
    assert second.report["annotations_created"] == 0
    assert second.report["duplicates_skipped"] == 4
    assert Annotation.objects.filter(project=target).count() == count


def test_a_project_export_imported_into_itself_adds_nothing(project, admin, labeled):
    data, name = exported_bytes(export(project, admin, "csv", include_suggestions=True))
    before = Annotation.objects.filter(project=project).count()

    job = import_file(project, admin, "csv", data, name)

    assert job.report["annotations_created"] == 0
    assert Annotation.objects.filter(project=project).count() == before


def test_an_admin_import_keeps_statuses_and_takes_labeled_inputs_out_of_the_queue(
    project, admin, labeled
):
    data, name = exported_bytes(export(project, admin, "csv", include_suggestions=True))
    target, owner = fresh_project(project)
    first = Input.objects.get(project=target, sha256=labeled[0].sha256)
    assert QueueSlot.objects.filter(input=first).exists()

    import_file(target, owner, "csv", data, name)

    imported = Annotation.objects.filter(project=target)
    assert {a.source for a in imported} == {AnnotationSource.IMPORT}
    assert {a.author for a in imported} == {owner}
    pending = imported.filter(status=AnnotationStatus.PENDING_REVIEW)
    assert {a.review_tier for a in pending} == {1}
    first.refresh_from_db()
    assert first.status == InputStatus.LABELED
    assert not QueueSlot.objects.filter(input=first, annotation__isnull=True).exists()
    model_label = imported.get(input=first, status=AnnotationStatus.PENDING_REVIEW)
    assert model_label.provenance["import"]["model"] == "head"
    assert model_label.provenance["import"]["model_version"] == 2
    assert model_label.labels.get().confidence == 0.55


def test_a_non_admin_import_waits_for_review(project, admin, labeled):
    data, name = exported_bytes(export(project, admin, "coco", statuses=["accepted", "rejected"]))
    target, _ = fresh_project(project)
    annotator = UserFactory()
    MembershipFactory(project=target, user=annotator, role=Role.ANNOTATOR)

    job = import_file(target, annotator, "coco", data, name)

    assert job.report["as_admin"] is False
    assert job.report["rejected_skipped"] == 1
    imported = Annotation.objects.filter(project=target)
    assert imported.count() == 2
    assert {(a.status, a.review_tier) for a in imported} == {(AnnotationStatus.PENDING_REVIEW, 1)}
    assert not Input.objects.filter(project=target, status=InputStatus.LABELED).exists()


def test_a_yolo_zip_from_another_tool_brings_its_images(project, admin, image_bytes):
    taxonomy(project, admin)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("train/1/a.png", image_bytes(color=COLORS[0]))
        archive.writestr("train/2/b.png", image_bytes(color=COLORS[1]))
        archive.writestr("val/penguin/c.png", image_bytes(color=COLORS[2]))
        archive.writestr("val/1/broken.png", b"\x89PNG but not really")

    job = import_file(project, admin, "yolo", buffer.getvalue(), "digits.zip")

    assert job.status == Status.DONE, job.error
    assert job.report["inputs_created"] == 3
    assert [r["name"] for r in job.report["images_rejected"]] == ["broken.png"]
    assert job.report["unknown_concepts"] == {"penguin": 1}
    names = dict(Input.objects.filter(project=project).values_list("original_name", "status"))
    assert names == {
        "a.png": InputStatus.LABELED,
        "b.png": InputStatus.LABELED,
        "c.png": InputStatus.UNLABELED,
    }


def test_a_coco_zip_with_its_images_brings_them(project, admin, image_bytes):
    taxonomy(project, admin)
    # an input that only shares a file name with an image of the zip gets nothing
    input_ingest(project=project, name="a.png", data=image_bytes(color=COLORS[4]))
    document = {
        "images": [{"id": 7, "file_name": "pics/a.png"}, {"id": 8, "file_name": "b.png"}],
        "categories": [{"id": 1, "name": "3", "supercategory": "digit"}],
        "annotations": [{"id": 1, "image_id": 7, "category_id": 1, "bbox": [0, 0, 4, 4]}],
    }
    data = zip_bytes(
        {
            "annotations/instances.json": json.dumps(document).encode(),
            "images/pics/a.png": image_bytes(color=COLORS[0]),
            "images/b.png": image_bytes(color=COLORS[1]),
        }
    )

    job = import_file(project, admin, "coco", data, "coco.zip")

    assert job.report["inputs_created"] == 2, job.report
    zipped = hashlib.sha256(image_bytes(color=COLORS[0])).hexdigest()
    assert label_set(project) == {(zipped, "digit/3", "accepted")}


def test_a_label_studio_export_matches_inputs_by_file_name(project, admin, labeled):
    tasks = [
        {
            "data": {"image": "/data/upload/4/0a1b2c3d-img4.png"},
            "annotations": [
                {
                    "completed_by": 1,
                    "result": [
                        {"from_name": "digit", "type": "choices", "value": {"choices": ["3"]}}
                    ],
                }
            ],
        },
        {"data": {"image": "s3://bucket/elsewhere.png"}, "annotations": []},
    ]

    job = import_file(project, admin, "labelstudio", json.dumps(tasks).encode(), "ls.json")

    assert (job.report["inputs_matched"], job.report["inputs_unmatched"]) == (1, 1)
    assert job.report["unmatched_examples"] == ["elsewhere.png"]
    assert (labeled[4].sha256, "digit/3", "accepted") in label_set(project)


def test_a_coco_export_of_a_project_loads_with_pycocotools(project, admin, labeled):
    job = export(project, admin, "coco", include_suggestions=True)

    dataset = COCO(str(media_path(job.file)))

    assert len(dataset.getImgIds()) == 5
    assert len(dataset.getAnnIds()) == 5
    names = [c["name"] for c in dataset.loadCats(dataset.getCatIds())]
    assert names == ["digit/1", "digit/2", "digit/3", "blurry"]


def test_a_yolo_export_holds_accepted_labels_unless_told_otherwise(project, admin, labeled):
    job = export(project, admin, "yolo")

    with zipfile.ZipFile(media_path(job.file)) as archive:
        files = [n for n in archive.namelist() if n.startswith("train/") and not n.endswith("/")]
    # img0 has an accepted 1 and a model's pending 2: only the 1 is a training example
    assert sorted(f.split("/")[1] for f in files) == ["digit__1", "digit__2"]
    assert job.report["statuses"] == ["accepted"]


def test_export_options_choose_statuses_and_split(project, admin, labeled):
    Input.objects.filter(id=labeled[2].id).update(split=Split.EVAL)

    job = export(project, admin, "csv", statuses=["accepted"], include_unlabeled=False)
    eval_only = export(project, admin, "csv", split="eval")

    assert job.report["inputs"] == 2 and job.report["labels"] == 2
    assert eval_only.report["inputs"] == 1


def test_a_label_studio_export_comes_with_its_labeling_config(project, admin, labeled):
    job = export(project, admin, "labelstudio", image_url_prefix="https://img.example/")

    assert '<Choices name="digit"' in job.report["labelstudio_config"]
    assert b'"image": "https://img.example/img0.png"' in media_path(job.file).read_bytes()


# ---------------------------------------------------------------------------- refusals, failures


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(zipfile.ZipInfo(name), data)
    return buffer.getvalue()


def test_a_zip_with_a_path_traversal_is_refused_with_a_clear_message(project, admin, image_bytes):
    data = zip_bytes({"train/1/ok.png": image_bytes(), "../../etc/evil.png": image_bytes()})
    upload = SimpleUploadedFile("evil.zip", data)

    with pytest.raises(ServiceError, match=r"refused: \.\./\.\./etc/evil\.png: path with '\.\.'"):
        interchange_import_create(project=project, user=admin, format="yolo", uploaded_file=upload)

    assert not InterchangeJob.objects.exists()
    assert not media_path(f"interchange/{project.id}").exists() or not any(
        media_path(f"interchange/{project.id}").rglob("*.zip")
    )


def test_an_upload_over_the_limit_is_refused(project, admin, settings):
    settings.LABELING_MAX_IMPORT_BYTES = 10
    upload = SimpleUploadedFile("big.csv", b"name,labels\n" + b"x.png,cat\n" * 5)

    with pytest.raises(ServiceError, match="over the limit"):
        interchange_import_create(project=project, user=admin, format="csv", uploaded_file=upload)


def test_a_yolo_import_must_be_a_zip(project, admin):
    upload = SimpleUploadedFile("labels.csv", b"name,labels\n")

    with pytest.raises(ServiceError, match="zip of class folders"):
        interchange_import_create(project=project, user=admin, format="yolo", uploaded_file=upload)


def test_a_file_that_is_not_the_format_fails_the_job_with_the_reason(project, admin):
    job = import_file(project, admin, "coco", b"{broken", "export.json")

    assert job.status == Status.FAILED
    assert "not a JSON file" in job.error


def test_unknown_options_and_formats_are_refused(project, admin):
    with pytest.raises(ServiceError, match="Unknown format"):
        interchange_export_create(project=project, user=admin, format="voc")
    with pytest.raises(ServiceError, match="Statuses to export"):
        interchange_export_create(
            project=project, user=admin, format="csv", options={"statuses": ["superseded"]}
        )


def test_a_failed_export_leaves_no_file_behind(project, admin, labeled, monkeypatch):
    def broken(out, records, concepts, **kwargs):
        out.write(b"half a file")
        next(iter(records))
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(exporting.csvfmt, "write_csv", broken)

    job = export(project, admin, "csv")

    assert job.status == Status.FAILED
    assert "disk on fire" in job.error
    assert job.file == ""
    assert list(media_path(f"interchange/{project.id}/{job.id}").iterdir()) == []


def test_a_finished_job_is_not_run_again(project, admin, labeled):
    job = export(project, admin, "csv")
    finished_at = job.finished_at

    again = interchange_job_run(job_id=job.id)

    assert again.status == Status.DONE and again.finished_at == finished_at


def test_jobs_whose_worker_went_silent_are_queued_again(project, admin, monkeypatch):
    queued = []
    monkeypatch.setattr(jobs, "_queue", queued.append)
    job = interchange_export_create(project=project, user=admin, format="csv")
    InterchangeJob.objects.filter(id=job.id).update(status=Status.RUNNING, heartbeat_at=None)
    InterchangeJob.objects.filter(id=job.id).update(created_at="2000-01-01T00:00:00Z")

    assert interchange_jobs_resume_stale() == [job.id]
    assert queued == [job.id]


# ---------------------------------------------------------------------------- memory


def bulk_project(admin, count: int):
    """A project of ``count`` input rows (no files), each with one accepted label."""
    project = project_create(name=f"Bulk {count}", created_by=admin)
    concepts = taxonomy(project, admin)
    Input.objects.bulk_create(
        [
            Input(
                project=project,
                sha256=f"{count:08d}{n:056d}",
                original_name=f"image_{n:06d}.png",
                file=f"missing/{n}.png",
                thumbnail=f"missing/{n}.png",
                format="PNG",
                width=8,
                height=8,
                byte_size=100,
                split=Split.TRAIN,
                metadata={"index": n},
            )
            for n in range(count)
        ]
    )
    ids = list(Input.objects.filter(project=project).values_list("id", flat=True))
    Annotation.objects.bulk_create(
        [
            Annotation(
                project=project, input_id=i, source="human", status=AnnotationStatus.ACCEPTED
            )
            for i in ids
        ]
    )
    AnnotationLabel.objects.bulk_create(
        [
            AnnotationLabel(annotation_id=a, concept=concepts[str(1 + a % 3)])
            for a in Annotation.objects.filter(project=project).values_list("id", flat=True)
        ]
    )
    return project


@pytest.mark.parametrize("format", ["coco", "csv"])
def test_export_memory_stays_flat_in_the_number_of_inputs(admin, monkeypatch, format):
    monkeypatch.setattr(exporting, "EXPORT_CHUNK", 100)
    peaks = {}
    for count in (200, 2000):
        project = bulk_project(admin, count)
        tracemalloc.start()
        job = export(project, admin, format)
        peaks[count] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert job.status == Status.DONE and job.report["inputs"] == count
        assert (job.done, job.total) == (count, count)

    assert peaks[2000] < 2 * peaks[200], peaks


# ---------------------------------------------------------------------------- what is exported


def exported_labels(job) -> set[tuple[str, str, str]]:
    """(file name, concept, status) of every label in an export, read back by its own codec."""
    data, name = exported_bytes(job)
    if job.format == "yolo":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            data = archive.read("labels.csv")
        format = "csv"
    else:
        format = job.format
    records = {
        "csv": csvfmt.read_csv,
        "coco": coco.read_coco,
        "labelstudio": labelstudio.read_labelstudio,
    }[format](io.BytesIO(data))
    return {
        (record.name, label.concept, label.status)
        for record in records.records
        for label in record.labels
    }


ACCEPTED_ONLY = {
    ("img0.png", "digit/1", "accepted"),
    ("img2.png", "digit/2", "accepted"),
}


@pytest.mark.parametrize("format", FORMATS)
def test_an_export_holds_accepted_labels_only_by_default(project, admin, labeled, format):
    assert exported_labels(export(project, admin, format)) == ACCEPTED_ONLY


@pytest.mark.parametrize("format", FORMATS)
def test_suggestions_are_exported_when_asked_marked_as_waiting_for_review(
    project, admin, labeled, format
):
    job = export(project, admin, format, include_suggestions=True)

    assert exported_labels(job) == ACCEPTED_ONLY | {
        ("img0.png", "digit/2", "pending_review"),
        ("img1.png", "digit/3", "pending_review"),
        ("img1.png", "blurry", "pending_review"),
    }
    assert job.options["include_suggestions"] is True


@pytest.mark.parametrize("format", FORMATS)
def test_automatic_labels_can_be_left_out(project, admin, labeled, format):
    job = export(project, admin, format, automatic_labels="false")

    # then the label a model accepted on img2 is not in the file; the person's label is
    assert exported_labels(job) == {("img0.png", "digit/1", "accepted")}
    assert job.report["automatic_labels"] is False


def test_a_coco_export_marks_each_suggestion(project, admin, labeled):
    job = export(project, admin, "coco", include_suggestions=True)

    document = json.loads(exported_bytes(job)[0])
    marks = {(a["status"], a["suggestion"]) for a in document["annotations"]}
    assert marks == {("accepted", False), ("pending_review", True)}
    assert document["info"]["suggestions"].startswith("included")
