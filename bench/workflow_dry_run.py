"""Dry-run latency: one uploaded image through a project's workflow on a warm worker.

Seeds a project with synthetic embeddings (as bench/routing.py does) and trains its routing
classifier, so the default workflow (embedder -> classifier -> thresholder -> sampler ->
writers) can run. Then, after one warm-up (the backbone loads once per worker process), it
times ``--runs`` dry runs of a real 640x480 JPEG: the web part (``workflow_dry_run_create``:
validate the graph, check and stage the image) and the worker part
(``workflow_dry_run_process``: decode, embed with EfficientNet-Lite0, run the graph, store
every node's output), each in this process, without the broker's hop. The limit it is
compared with is the bare embedder on the same image (decode + forward pass).

    .venv/bin/python bench/workflow_dry_run.py [--runs 30]
"""

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
parser = argparse.ArgumentParser()
parser.add_argument("--runs", type=int, default=30, help="timed dry runs after the warm-up")
ARGS = parser.parse_args()
os.environ["PORTAL_DATA_DIR"] = tempfile.mkdtemp(prefix="bench-dry-run-")
os.environ["CELERY_BROKER_URL"] = "filesystem://"  # the queued task stays in the dir
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django  # noqa: E402

django.setup()

from common import machine, noisy_image, seed_embedded  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from PIL import Image  # noqa: E402

from labeling.services.projects import project_create  # noqa: E402
from training.ml.features import embedder  # noqa: E402
from training.models import ModelVersion  # noqa: E402
from training.services.versions import model_router_ensure, version_queue, version_train  # noqa: E402
from workflows.models import WorkflowRun  # noqa: E402
from workflows.services.runs import workflow_dry_run_create, workflow_dry_run_process  # noqa: E402
from workflows.services.workflows import workflow_default_current  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    call_command("migrate", verbosity=0)
    admin, _ = get_user_model().objects.get_or_create(username="bench-dry-run")
    project = project_create(name=f"bench-dry-run-{time.time_ns()}", created_by=admin)
    seed_embedded(project, admin, labeled=2000, unlabeled=0, spread=0.1, seed=0)
    version = version_train(version_id=version_queue(model=model_router_ensure(project=project)).id)
    assert version.status == ModelVersion.Status.READY, version.error
    workflow_version = workflow_default_current(project=project)
    data = noisy_image(0, 640, 480)

    def dry_run() -> tuple[float, float]:
        start = time.perf_counter()
        run = workflow_dry_run_create(workflow_version=workflow_version, actor=admin, data=data)
        staged = time.perf_counter()
        run = workflow_dry_run_process(run_id=run.id)
        done = time.perf_counter()
        assert run.status == WorkflowRun.Status.DONE, run.error
        return staged - start, done - staged

    dry_run()  # warm-up: the backbone loads once per worker process
    web, worker = zip(*(dry_run() for _ in range(ARGS.runs)), strict=True)

    net = embedder(settings.TRAINING_BACKBONE)
    bare = []
    for _ in range(ARGS.runs):
        start = time.perf_counter()
        net([Image.open(io.BytesIO(data)).convert("RGB")])
        bare.append(time.perf_counter() - start)

    median = statistics.median(worker)
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {machine()}")
    print(f"workflow: the default ({len(workflow_version.document['nodes'])} nodes), 640x480 JPEG")
    print(
        f"web part (validate, check, stage): median {statistics.median(web) * 1000:.1f} ms, "
        f"p95 {percentile(list(web), 0.95) * 1000:.1f} ms"
    )
    print(
        f"worker part (decode, embed, graph, store): median {median * 1000:.1f} ms, "
        f"p95 {percentile(list(worker), 0.95) * 1000:.1f} ms"
    )
    print(
        f"bare embedder (decode + forward): median {statistics.median(bare) * 1000:.1f} ms; "
        f"the dry run takes {median / statistics.median(bare):.2f}x of it"
    )


if __name__ == "__main__":
    main()
