"""Upload batches: stage files, then validate, dedupe, split and store each one.

The services are called directly; the Celery task that would run ``upload_batch_process``
after commit is not run (pytest-django keeps each test in a transaction).
"""

import io
import zipfile
from datetime import timedelta
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from labeling.ingest.splits import split_for_hash
from labeling.models import Input, Split, UploadBatch, UploadItem
from labeling.selectors import project_inputs
from labeling.services import ingest as ingest_service
from labeling.services.errors import ServiceError
from labeling.services.ingest import (
    upload_batch_create,
    upload_batch_process,
    upload_batches_resume_stale,
)
from labeling.services.projects import project_create
from labeling.services.taxonomy import concept_create, concept_synonym_add

pytestmark = pytest.mark.django_db

Item = UploadItem.Status

RED, GREEN, BLUE = (220, 30, 30), (30, 200, 30), (30, 30, 220)


def upload(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data)


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    """A zip whose entry names are kept exactly as given, unsafe ones included."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(zipfile.ZipInfo(name), data)
    return buffer.getvalue()


def ingest(project, user, files) -> UploadBatch:
    batch = upload_batch_create(project=project, user=user, files=files)
    return upload_batch_process(batch_id=batch.id)


def item_named(batch: UploadBatch, name: str) -> UploadItem:
    return batch.items.get(name=name)


@pytest.fixture
def mixed_files(image_bytes):
    """Three good images, a broken one, and a copy of the first under another name."""
    red = image_bytes("PNG", color=RED)
    return [
        upload("red.png", red),
        upload("green.jpg", image_bytes("JPEG", color=GREEN)),
        upload("blue.webp", image_bytes("WEBP", color=BLUE)),
        upload("broken.png", b"\x89PNG\r\n\x1a\n but then nothing useful"),
        upload("red-again.png", red),
    ]


def test_good_images_are_stored_and_broken_and_duplicate_files_are_reported(
    project, admin, mixed_files
):
    batch = ingest(project, admin, mixed_files)

    # then the three distinct good images are the project's inputs
    assert batch.status == UploadBatch.Status.DONE
    assert sorted(
        Input.objects.filter(project=project).values_list("original_name", flat=True)
    ) == [
        "blue.webp",
        "green.jpg",
        "red.png",
    ]
    # and every file of the batch has an outcome the uploader can read
    assert {item.name: item.status for item in batch.items.all()} == {
        "red.png": Item.STORED,
        "green.jpg": Item.STORED,
        "blue.webp": Item.STORED,
        "broken.png": Item.REJECTED,
        "red-again.png": Item.DUPLICATE,
    }
    assert "not a recognised image" in item_named(batch, "broken.png").message
    duplicate = item_named(batch, "red-again.png")
    assert "same image as red.png" in duplicate.message
    assert duplicate.input == item_named(batch, "red.png").input
    # and the progress bar ends full
    assert batch.total == batch.processed == 5
    assert batch.percent == 100


def test_stored_inputs_have_their_original_and_thumbnail_on_disk(
    project, admin, mixed_files, media_root
):
    batch = ingest(project, admin, mixed_files)

    red = Input.objects.get(project=project, original_name="red.png")
    assert (media_root / red.file).read_bytes() == mixed_files[0].open().read()
    for input in Input.objects.filter(project=project):
        assert (media_root / input.file).is_file()
        assert (media_root / input.thumbnail).is_file()
        assert input.batch == batch
    # the staged copies are cleaned up once the batch is done
    assert not (media_root / "staging" / str(batch.id)).exists()


def test_inputs_record_their_format_size_and_split(project, admin, mixed_files):
    ingest(project, admin, mixed_files)

    green = Input.objects.get(project=project, original_name="green.jpg")
    assert (green.format, green.width, green.height) == ("JPEG", 16, 16)
    for input in Input.objects.filter(project=project):
        assert input.split in {Split.TRAIN, Split.EVAL}
        assert input.split == split_for_hash(input.sha256, project.eval_fraction)


def test_project_without_eval_share_puts_every_input_in_train(admin, image_bytes):
    project = project_create(name="All train", created_by=admin, eval_fraction=0.0)
    files = [upload(f"{i}.png", image_bytes(color=(i, i, i))) for i in range(5)]

    ingest(project, admin, files)

    assert set(Input.objects.filter(project=project).values_list("split", flat=True)) == {
        Split.TRAIN
    }


def test_zip_entries_are_stored_and_unsafe_paths_are_refused(project, admin, image_bytes):
    archive = zip_bytes(
        {
            "birds/robin.png": image_bytes(color=RED),
            "wren.jpg": image_bytes("JPEG", color=GREEN),
            "../evil.png": image_bytes(color=BLUE),
            "/abs.png": image_bytes(color=(1, 2, 3)),
        }
    )

    batch = ingest(project, admin, [upload("birds.zip", archive)])

    assert sorted(
        Input.objects.filter(project=project).values_list("original_name", flat=True)
    ) == [
        "birds/robin.png",
        "wren.jpg",
    ]
    assert item_named(batch, "birds.zip").status == Item.EXPANDED
    evil = item_named(batch, "birds.zip/../evil.png")
    absolute = item_named(batch, "birds.zip//abs.png")
    assert (evil.status, evil.message) == (Item.REJECTED, "path with '..' in archive")
    assert (absolute.status, absolute.message) == (Item.REJECTED, "absolute path in archive")
    assert batch.status == UploadBatch.Status.DONE
    # and the archive counts as its four entries, not as a fifth file
    assert batch.total == batch.processed == 4


def test_zip_over_the_entry_limit_is_refused_whole(project, admin, image_bytes, settings):
    settings.LABELING_MAX_ARCHIVE_ENTRIES = 2
    archive = zip_bytes({f"{i}.png": image_bytes(color=(i, 0, 0)) for i in range(3)})

    batch = ingest(project, admin, [upload("many.zip", archive)])

    item = item_named(batch, "many.zip")
    assert item.status == Item.REJECTED
    assert "3 files, over the limit of 2" in item.message
    assert not Input.objects.filter(project=project).exists()
    assert batch.status == UploadBatch.Status.FAILED  # no file was accepted
    assert batch.total == batch.processed == 1


def test_csv_beside_the_images_becomes_their_metadata(project, admin, image_bytes):
    csv = b"filename,camera,weather\nrobin.png,north,rain\nwren.png,south,\n"
    files = [
        upload("robin.png", image_bytes(color=RED)),
        upload("wren.png", image_bytes(color=GREEN)),
        upload("sparrow.png", image_bytes(color=BLUE)),
        upload("notes.csv", csv),
    ]

    batch = ingest(project, admin, files)

    metadata = dict(Input.objects.filter(project=project).values_list("original_name", "metadata"))
    assert metadata == {
        "robin.png": {"camera": "north", "weather": "rain"},
        "wren.png": {"camera": "south"},
        "sparrow.png": {},
    }
    assert item_named(batch, "notes.csv").status == Item.METADATA
    assert batch.total == batch.processed == 4


def test_csv_inside_a_zip_applies_to_the_zip_images(project, admin, image_bytes):
    archive = zip_bytes(
        {
            "garden/robin.png": image_bytes(color=RED),
            "garden/meta.csv": b"filename,site\nrobin.png,garden\n",
        }
    )

    ingest(project, admin, [upload("garden.zip", archive)])

    assert Input.objects.get(project=project).metadata == {"site": "garden"}


def test_file_over_the_image_size_limit_is_rejected_before_staging(
    project, admin, image_bytes, settings, media_root
):
    settings.LABELING_MAX_IMAGE_BYTES = 1024
    big = image_bytes("BMP", size=(40, 40))  # about 5 KB
    small = image_bytes("PNG", color=RED)

    batch = upload_batch_create(
        project=project, user=admin, files=[upload("big.bmp", big), upload("small.png", small)]
    )

    # then the big file is refused at once, and never written to disk
    item = item_named(batch, "big.bmp")
    assert item.status == Item.REJECTED
    assert "over the limit of 1.0 KB" in item.message
    assert item.staged == ""
    assert batch.processed == 1
    assert len(list((media_root / "staging" / str(batch.id)).iterdir())) == 1

    # and the rest of the batch goes through
    batch = upload_batch_process(batch_id=batch.id)
    assert item_named(batch, "small.png").status == Item.STORED
    assert batch.total == batch.processed == 2


def test_empty_upload_is_refused(project, admin):
    with pytest.raises(ServiceError, match="at least one file"):
        upload_batch_create(project=project, user=admin, files=[])


def test_creating_a_batch_queues_its_processing_after_commit(
    project, admin, image_bytes, django_capture_on_commit_callbacks
):
    with (
        mock.patch("labeling.services.ingest._queue") as queue,
        django_capture_on_commit_callbacks(execute=True),
    ):
        batch = upload_batch_create(
            project=project, user=admin, files=[upload("a.png", image_bytes())]
        )

    queue.assert_called_once_with(batch.id)
    assert batch.status == UploadBatch.Status.QUEUED


def test_processing_a_batch_twice_stores_nothing_twice(project, admin, mixed_files):
    batch = ingest(project, admin, mixed_files)
    before = list(batch.items.values_list("id", "status", "input_id"))

    again = upload_batch_process(batch_id=batch.id)

    assert Input.objects.filter(project=project).count() == 3
    assert list(again.items.values_list("id", "status", "input_id")) == before
    assert again.total == again.processed == 5


class WorkerKilled(BaseException):
    """Stands for the worker process dying: not an Exception, so nothing catches it."""


def test_batch_killed_midway_resumes_where_it_stopped(project, admin, mixed_files):
    batch = upload_batch_create(project=project, user=admin, files=mixed_files)
    real_ingest = ingest_service.input_ingest
    calls = []

    def dies_on_third_file(**kwargs):
        calls.append(kwargs["name"])
        if len(calls) == 3:
            raise WorkerKilled
        return real_ingest(**kwargs)

    with (
        mock.patch.object(ingest_service, "input_ingest", side_effect=dies_on_third_file),
        pytest.raises(WorkerKilled),
    ):
        upload_batch_process(batch_id=batch.id)
    batch.refresh_from_db()
    assert batch.status == UploadBatch.Status.PROCESSING
    assert batch.processed == 2

    # when the batch is processed again (the stale-batch job re-queues it)
    batch = upload_batch_process(batch_id=batch.id)

    assert batch.status == UploadBatch.Status.DONE
    assert batch.total == batch.processed == 5
    assert Input.objects.filter(project=project).count() == 3
    assert batch.items.filter(status=Item.STORED).count() == 3
    assert not batch.items.filter(status=Item.PENDING).exists()


def test_item_whose_input_was_saved_just_before_a_crash_is_reported_as_stored(
    project, admin, mixed_files
):
    # given a worker killed between saving blue.webp's input and marking its item stored
    batch = upload_batch_create(project=project, user=admin, files=mixed_files)
    real_finish = ingest_service._finish_item

    def dies_marking_blue(batch, item, status, message, input=None):
        if item.name == "blue.webp" and status == Item.STORED:
            raise WorkerKilled
        return real_finish(batch, item, status, message, input=input)

    with (
        mock.patch.object(ingest_service, "_finish_item", side_effect=dies_marking_blue),
        pytest.raises(WorkerKilled),
    ):
        upload_batch_process(batch_id=batch.id)
    assert Input.objects.filter(project=project, original_name="blue.webp").exists()

    # when the batch is processed again
    batch = upload_batch_process(batch_id=batch.id)

    # then it finishes without a second copy of the image
    assert batch.status == UploadBatch.Status.DONE
    assert batch.total == batch.processed == 5
    blue_input = Input.objects.get(project=project, original_name="blue.webp")
    blue = item_named(batch, "blue.webp")
    assert blue.input == blue_input
    # and the image this batch added is not reported as a duplicate of itself
    assert (blue.status, blue.message) == (Item.STORED, "")


def make_old(batch: UploadBatch, *, status: str, heartbeat_minutes_ago: int | None) -> None:
    now = timezone.now()
    UploadBatch.objects.filter(id=batch.id).update(
        status=status,
        created_at=now - timedelta(hours=2),
        heartbeat_at=(
            None
            if heartbeat_minutes_ago is None
            else now - timedelta(minutes=heartbeat_minutes_ago)
        ),
    )


def new_batch(project, admin, image_bytes) -> UploadBatch:
    return upload_batch_create(project=project, user=admin, files=[upload("a.png", image_bytes())])


def test_stale_batches_are_queued_again(project, admin, image_bytes, settings):
    settings.LABELING_STALE_BATCH_MINUTES = 15
    never_started = new_batch(project, admin, image_bytes)
    make_old(never_started, status=UploadBatch.Status.QUEUED, heartbeat_minutes_ago=None)
    worker_died = new_batch(project, admin, image_bytes)
    make_old(worker_died, status=UploadBatch.Status.PROCESSING, heartbeat_minutes_ago=60)
    working = new_batch(project, admin, image_bytes)
    make_old(working, status=UploadBatch.Status.PROCESSING, heartbeat_minutes_ago=1)
    finished = new_batch(project, admin, image_bytes)
    make_old(finished, status=UploadBatch.Status.DONE, heartbeat_minutes_ago=60)
    just_queued = new_batch(project, admin, image_bytes)

    with mock.patch("labeling.services.ingest._queue") as queue:
        resumed = upload_batches_resume_stale()

    assert sorted(resumed) == sorted([never_started.id, worker_died.id])
    assert sorted(call.args[0] for call in queue.call_args_list) == sorted(resumed)
    assert just_queued.id not in resumed


def test_resumed_batch_is_not_queued_again_while_its_new_heartbeat_is_fresh(
    project, admin, image_bytes
):
    batch = new_batch(project, admin, image_bytes)
    make_old(batch, status=UploadBatch.Status.PROCESSING, heartbeat_minutes_ago=60)

    with mock.patch("labeling.services.ingest._queue") as queue:
        first = upload_batches_resume_stale()
        second = upload_batches_resume_stale()

    assert (first, second) == ([batch.id], [])
    assert queue.call_count == 1


def test_queued_batch_whose_task_is_lost_twice_is_queued_again(project, admin, image_bytes):
    # given a batch queued but never picked up, re-queued once, and lost again
    batch = new_batch(project, admin, image_bytes)
    make_old(batch, status=UploadBatch.Status.QUEUED, heartbeat_minutes_ago=None)
    with mock.patch("labeling.services.ingest._queue"):
        assert upload_batches_resume_stale() == [batch.id]
    make_old(batch, status=UploadBatch.Status.QUEUED, heartbeat_minutes_ago=60)

    # when the stale-batch job runs again later
    with mock.patch("labeling.services.ingest._queue") as queue:
        resumed = upload_batches_resume_stale()

    # then it is queued again rather than left waiting for ever
    assert resumed == [batch.id]
    queue.assert_called_once_with(batch.id)


def test_zip_entries_keep_their_folder_as_part_of_the_name(project, admin, image_bytes):
    archive = zip_bytes(
        {
            "brick/00655.png": image_bytes(color=RED),
            "data/wood/00001.png": image_bytes(color=GREEN),
        }
    )

    ingest(project, admin, [upload("textures.zip", archive)])

    # then each input is named by its path inside the archive, so a search for a folder finds it
    names = Input.objects.filter(project=project).values_list("original_name", flat=True)
    assert sorted(names) == ["brick/00655.png", "data/wood/00001.png"]
    found = project_inputs(project, split="", query="brick")
    assert [i.original_name for i in found] == ["brick/00655.png"]


def test_a_zip_is_counted_as_its_entries_from_the_start(project, admin, image_bytes):
    archive = zip_bytes({f"digits/{n}.png": image_bytes(color=(n, 0, 0)) for n in range(3)})

    batch = upload_batch_create(
        project=project,
        user=admin,
        files=[upload("digits.zip", archive), upload("extra.png", image_bytes(color=BLUE))],
    )

    # then the report starts at "0 of 4 files", not "0 of 2" growing to "5 of 5"
    assert (batch.processed, batch.total) == (0, 4)
    batch = upload_batch_process(batch_id=batch.id)
    assert (batch.processed, batch.total) == (4, 4)


@pytest.fixture
def textures(project, admin):
    """Concepts "Brick" (with the synonym "bricks") and "Wood"."""
    brick = concept_create(project=project, name="Brick", actor=admin)
    concept_synonym_add(concept=brick, name="bricks", actor=admin)
    return {"brick": brick, "wood": concept_create(project=project, name="Wood", actor=admin)}


def labels_of(project, name: str) -> list[str]:
    input = Input.objects.get(project=project, original_name=name)
    return sorted(
        label.concept.name
        for annotation in input.annotations.all()
        for label in annotation.labels.all()
    )


def test_folder_names_are_labels_through_names_and_synonyms(project, admin, image_bytes, textures):
    archive = zip_bytes(
        {
            "Brick/1.png": image_bytes(color=(1, 0, 0)),
            "bricks/2.png": image_bytes(color=(2, 0, 0)),
            "wood/3.png": image_bytes(color=(3, 0, 0)),
            "stone/4.png": image_bytes(color=(4, 0, 0)),
            "stone/5.png": image_bytes(color=(5, 0, 0)),
            "6.png": image_bytes(color=(6, 0, 0)),
        }
    )

    batch = upload_batch_create(
        project=project, user=admin, files=[upload("t.zip", archive)], folder_labels=True
    )
    batch = upload_batch_process(batch_id=batch.id)

    # then folders named after a concept, or after one of its synonyms, label their images
    assert labels_of(project, "Brick/1.png") == ["Brick"]
    assert labels_of(project, "bricks/2.png") == ["Brick"]
    assert labels_of(project, "wood/3.png") == ["Wood"]
    # as accepted ground truth, since an admin uploaded them
    accepted = Input.objects.get(original_name="wood/3.png").annotations.get()
    assert accepted.status == "accepted"
    # and the folders that name no concept are reported with their counts, images still stored
    assert labels_of(project, "stone/4.png") == []
    assert batch.unknown_folders == {"stone": 2, "": 1}
    assert batch.status == UploadBatch.Status.DONE
    assert batch.items.filter(status=Item.STORED).count() == 6


def test_without_folder_labels_no_annotation_is_made(project, admin, image_bytes, textures):
    archive = zip_bytes({"brick/1.png": image_bytes(color=RED)})

    batch = ingest(project, admin, [upload("t.zip", archive)])

    assert labels_of(project, "brick/1.png") == []
    assert batch.unknown_folders == {}


def test_a_batch_whose_every_file_was_rejected_fails_saying_so(project, admin):
    batch = ingest(project, admin, [upload("a.png", b"not an image"), upload("b.png", b"nope")])

    assert batch.status == UploadBatch.Status.FAILED
    assert batch.error.startswith("No file was accepted")
    assert batch.total == batch.processed == 2
