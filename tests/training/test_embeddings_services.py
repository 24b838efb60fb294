"""Embeddings on real digit images (pixels16 features): stored once per input, resumable,
one run per project at a time, broken files recorded and left alone; similar inputs."""

from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone
from factories import InputFactory
from PIL import Image

from labeling.models import Input
from labeling.services.ingest import input_ingest
from labeling.storage import media_path
from training.ml.features import from_stored, image_open
from training.models import Embedding, EmbeddingRun
from training.services import embeddings
from training.services.embeddings import embedding_progress, embeddings_compute, embeddings_load
from training.similar import similar_inputs

pytestmark = pytest.mark.django_db


def pixels_of(input) -> np.ndarray:
    """What pixels16 makes of the stored original: 16x16 grey in [-1, 1]."""
    with Image.open(media_path(input.file)) as image:
        grey = image.convert("L").resize((16, 16), Image.Resampling.BILINEAR)
        return np.asarray(grey, dtype=np.float32).ravel() / 127.5 - 1.0


def test_given_new_inputs_when_computed_then_each_gets_one_256_value_vector(digits_project):
    project, _, items = digits_project(classes=3, count=20, labeled=0)
    assert embedding_progress(project).done == 0

    stored = embeddings_compute(project_id=project.id, batch_size=8)

    assert stored == 20
    assert Embedding.objects.filter(project=project).count() == 20
    for input, _ in items:
        embedding = Embedding.objects.get(input=input)
        assert embedding.backbone == "pixels16"
        assert embedding.error == ""
        vector = from_stored([embedding.vector])
        assert vector.shape == (1, 256)
        np.testing.assert_allclose(vector[0], pixels_of(input), atol=2e-3)
    progress = embedding_progress(project)
    assert (progress.done, progress.total, progress.failed) == (20, 20, 0)
    assert progress.complete and progress.percent == 100


def test_given_a_finished_run_when_computed_again_then_only_the_missing_ones_are_stored(
    digits_project,
):
    project, _, items = digits_project(classes=3, count=12, labeled=0)
    embeddings_compute(project_id=project.id)
    first = dict(Embedding.objects.values_list("input_id", "id"))

    assert embeddings_compute(project_id=project.id) == 0

    # a run killed after some batches: the next one picks up the rest
    lost = [items[3][0].id, items[7][0].id]
    Embedding.objects.filter(input_id__in=lost).delete()
    assert not embedding_progress(project).complete
    assert embeddings_compute(project_id=project.id) == 2
    after = dict(Embedding.objects.values_list("input_id", "id"))
    assert set(after) == set(first)
    assert {i: after[i] for i in after if i not in lost} == {
        i: first[i] for i in first if i not in lost
    }


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda path: path.write_bytes(b"this is not an image at all"), id="garbage"),
        pytest.param(lambda path: path.write_bytes(path.read_bytes()[:60]), id="truncated"),
        pytest.param(lambda path: path.unlink(), id="missing"),
    ],
)
def test_given_a_broken_original_then_it_gets_an_error_row_and_is_not_retried(
    digits_project, damage
):
    project, _, items = digits_project(classes=3, count=6, labeled=0)
    broken = items[2][0]
    damage(media_path(broken.file))

    assert embeddings_compute(project_id=project.id) == 5

    row = Embedding.objects.get(input=broken)
    assert row.error != ""
    assert bytes(row.vector) == b""
    progress = embedding_progress(project)
    assert (progress.done, progress.total, progress.failed) == (6, 6, 1)
    assert progress.complete
    # not tried again, and left out of what training and routing load
    assert embeddings_compute(project_id=project.id) == 0
    assert Embedding.objects.get(input=broken).id == row.id
    ids, vectors = embeddings_load([i.id for i, _ in items])
    assert broken.id not in ids
    assert vectors.shape == (5, 256)


def test_given_another_live_run_of_the_project_then_a_second_one_does_nothing(digits_project):
    project, _, _ = digits_project(classes=3, count=6, labeled=0)
    EmbeddingRun.objects.create(project=project, heartbeat_at=timezone.now(), done_at=None)

    assert embeddings_compute(project_id=project.id) == 0
    assert not Embedding.objects.filter(project=project).exists()


def test_given_a_run_that_stopped_reporting_then_a_new_one_takes_over(digits_project):
    project, _, _ = digits_project(classes=3, count=6, labeled=0)
    EmbeddingRun.objects.create(
        project=project, heartbeat_at=timezone.now() - timedelta(minutes=3), done_at=None
    )

    assert embeddings_compute(project_id=project.id) == 6
    run = EmbeddingRun.objects.get(project=project)
    assert run.done_at is not None


def test_given_a_finished_run_then_the_next_one_may_start_at_once(digits_project, image_bytes):
    project, _, _ = digits_project(classes=3, count=6, labeled=0)
    embeddings_compute(project_id=project.id)
    newcomer = input_ingest(project=project, name="new.png", data=image_bytes(noise=True)).input

    assert embeddings_compute(project_id=project.id) == 1
    assert Embedding.objects.filter(input=newcomer, error="").exists()


def test_given_ids_in_any_order_then_vectors_come_back_in_that_order(digits_project):
    project, _, items = digits_project(classes=3, count=10, labeled=0)
    embeddings_compute(project_id=project.id)
    inputs = [input for input, _ in items]
    wanted = [inputs[5].id, inputs[0].id, 999_999, inputs[9].id, inputs[2].id]

    ids, vectors = embeddings_load(wanted)

    assert ids == [inputs[5].id, inputs[0].id, inputs[9].id, inputs[2].id]
    by_id = {i.id: i for i in inputs}
    for row, input_id in enumerate(ids):
        np.testing.assert_allclose(vectors[row], pixels_of(by_id[input_id]), atol=2e-3)


def _embed(project, vector) -> object:
    input = InputFactory(project=project)
    Embedding.objects.create(
        input=input,
        project=project,
        backbone="pixels16",
        vector=np.asarray(vector, dtype=np.float16).tobytes(),
    )
    return input


def test_similar_inputs_are_the_k_nearest_by_cosine_without_the_input_itself(
    project, other_project
):
    query = _embed(project, [1.0, 0.0, 0.0])
    # angles from the query: 0 (a scaled copy), 10, 30, 60, 90, 180 degrees
    degrees = [0, 10, 30, 60, 90, 180]
    others = {
        d: _embed(project, [3 * np.cos(np.radians(d)), np.sin(np.radians(d)) * 3, 0.0])
        for d in degrees
    }
    failed = InputFactory(project=project)
    Embedding.objects.create(
        input=failed, project=project, backbone="pixels16", vector=b"", error="broken"
    )
    _embed(other_project, [1.0, 0.0, 0.0])  # identical, but in another project

    found = similar_inputs(query, k=4)

    assert [input.id for input, _ in found] == [others[d].id for d in (0, 10, 30, 60)]
    similarities = [s for _, s in found]
    np.testing.assert_allclose(similarities, np.cos(np.radians([0, 10, 30, 60])), atol=2e-3)
    assert similarities == sorted(similarities, reverse=True)
    assert len(similar_inputs(query, k=50)) == len(degrees)


def test_given_an_input_without_a_vector_then_it_has_no_similar_inputs(project):
    _embed(project, [1.0, 0.0])
    lonely = InputFactory(project=project)

    assert similar_inputs(lonely, k=5) == []


def jpeg_bytes(width: int, height: int) -> bytes:
    import io

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_a_large_jpeg_is_decoded_at_the_smallest_scale_that_still_covers_the_backbone(tmp_path):
    path = tmp_path / "photo.jpg"
    path.write_bytes(jpeg_bytes(2000, 1500))

    image = image_open(path)

    # 1500 // 224 = 6, so libjpeg decodes at 1/4: 500x375, never below 224 on either side
    assert image.size == (500, 375)
    assert image.mode == "RGB"


def test_a_png_is_decoded_whole(tmp_path):
    path = tmp_path / "icon.png"
    Image.new("RGB", (640, 480), "red").save(path)

    assert image_open(path).size == (640, 480)


def test_inputs_that_arrive_during_a_run_are_embedded_by_it(
    digits_project, image_bytes, monkeypatch
):
    project, _, _ = digits_project(classes=2, count=6, labeled=0)
    real_store = embeddings._store
    late = image_bytes(size=(20, 20), color=(250, 10, 200))

    def store_while_someone_uploads(*args):
        if not Input.objects.filter(project=project, original_name="late.png").exists():
            input_ingest(project=project, name="late.png", data=late)
        return real_store(*args)

    monkeypatch.setattr(embeddings, "_store", store_while_someone_uploads)
    stored = embeddings_compute(project_id=project.id, batch_size=4)

    assert stored == 7
    assert Embedding.objects.filter(project=project, error="").count() == 7
