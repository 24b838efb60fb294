"""The stacked workflow's images/s: detector -> region thresholder -> image cropper ->
embedder (of each crop) -> classifier on crops -> thresholder -> writer, on stored inputs.

Loads the boxes demo's data (``training.demo.boxes_demo_load``: 320x240 photos with digits
0-2 pasted on them, the first share boxed), computes the inputs' embeddings, trains the
demo's two models small (the visual detector for ``--epochs`` at 320 px, frozen stages; the
classifier on crops with the backbone), saves the demo's stacked workflow
(``workflows.demo``) and times one run of it over every input with ``workflow_run_process``
(the worker's part: decode, detect, crop, embed the crops, classify, write the rows through
the one annotation writer), after a warm-up run on a few inputs. The limit it is compared
with is the detector's own ``predict`` on the same decoded images (the first stage alone).

    OMP_NUM_THREADS=1 .venv/bin/python bench/stacked_workflow.py [--images 60] [--epochs 4] \\
        [--threads 1]
"""

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
parser = argparse.ArgumentParser()
parser.add_argument("--images", type=int, default=60, help="demo images (the run takes all)")
parser.add_argument("--boxed", type=float, default=0.7, help="share boxed (training data)")
parser.add_argument("--epochs", type=int, default=4, help="detector epochs (quality, not timed)")
parser.add_argument("--threads", type=int, default=1, help="torch threads")
ARGS = parser.parse_args()
os.environ["PORTAL_DATA_DIR"] = tempfile.mkdtemp(prefix="bench-stacked-")
os.environ["CELERY_BROKER_URL"] = "filesystem://"  # queued tasks stay in the dir
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django  # noqa: E402

django.setup()

import torch  # noqa: E402
from common import machine  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402

from labeling.models import Input, Region  # noqa: E402
from labeling.storage import media_path  # noqa: E402
from training.demo import (  # noqa: E402
    boxes_demo_crop_classifier,
    boxes_demo_detector,
    boxes_demo_load,
)
from training.ml.features import image_open  # noqa: E402
from training.model_types import VISUAL_DETECTOR  # noqa: E402
from training.models import ModelVersion  # noqa: E402
from training.services.embeddings import embeddings_compute  # noqa: E402
from training.services.versions import version_queue, version_train  # noqa: E402
from workflows.demo import stacked_demo_ensure  # noqa: E402
from workflows.models import WorkflowRun  # noqa: E402
from workflows.services.runs import workflow_run_process, workflow_run_start  # noqa: E402


def train(model, **params) -> ModelVersion:
    model.params = {**model.params, **params}
    model.save(update_fields=["params"])
    start = time.perf_counter()
    version = version_train(version_id=version_queue(model=model).id)
    assert version.status == ModelVersion.Status.READY, version.error
    print(f"  {model.name}: trained in {time.perf_counter() - start:.1f} s (not counted)")
    return version


def run(workflow, input_ids: list[int]) -> tuple[float, WorkflowRun]:
    start = time.perf_counter()
    queued = workflow_run_start(workflow_version=workflow.versions.get(), input_ids=input_ids)
    done = workflow_run_process(run_id=queued.id)
    seconds = time.perf_counter() - start
    assert done.status == WorkflowRun.Status.DONE, done.error
    return seconds, done


def main() -> None:
    torch.set_num_threads(ARGS.threads)
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {machine()}, torch threads {torch.get_num_threads()}, device cpu")
    call_command("migrate", verbosity=0)
    admin, _ = get_user_model().objects.get_or_create(username="bench-stacked")
    start = time.perf_counter()
    project, _ = boxes_demo_load(admin=admin, count=ARGS.images, boxed=ARGS.boxed)
    embeddings_compute(project_id=project.id)
    print(
        f"data: {ARGS.images} demo images, loaded and embedded in "
        f"{time.perf_counter() - start:.1f} s (not counted)"
    )
    detector = train(boxes_demo_detector(project), epochs=ARGS.epochs)
    crops = train(boxes_demo_crop_classifier(project))
    print(
        f"  detector mAP@0.5 {detector.metrics['map50']:.3f}; classifier on crops macro F1 "
        f"{crops.metrics['macro_f1']:.3f} ({crops.counts['train_inputs']} train boxes)"
    )
    workflow, _ = stacked_demo_ensure(project=project, actor=admin)
    ids = list(Input.objects.filter(project=project).order_by("id").values_list("id", flat=True))

    written = Region.objects.filter(annotation__workflow_version__workflow=workflow)

    def tally() -> tuple[int, int]:
        return (
            written.filter(parent__isnull=True).count(),
            written.filter(parent__isnull=False).count(),
        )

    run(workflow, ids[:4])  # warm-up: the backbone and the detector load once per process
    before = tally()
    seconds, done = run(workflow, ids)
    boxes, labels = (a - b for a, b in zip(tally(), before, strict=True))
    print(
        f"stacked workflow: {len(ids)} images in {seconds:.2f} s = {len(ids) / seconds:.1f} "
        f"images/s ({done.counts['write']} annotations: {boxes} boxes, {labels} labels on "
        f"them, {boxes / len(ids):.1f} boxes written an image)"
    )

    network = VISUAL_DETECTOR.load(bytes(detector.head))
    files = dict(Input.objects.filter(id__in=ids).values_list("id", "file"))
    edge = 2 * network.params.image_size
    pictures = [image_open(media_path(files[i]), edge).convert("RGB") for i in ids]
    start = time.perf_counter()
    VISUAL_DETECTOR.predict(network, pictures)
    alone = time.perf_counter() - start
    print(
        f"the detector alone (predict on decoded images): {len(ids) / alone:.1f} images/s; "
        f"the stacked workflow runs at {alone / seconds:.2f} of it"
    )


if __name__ == "__main__":
    main()
