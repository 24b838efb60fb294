"""Training + evaluation time with cached embeddings, against the goal.

For each size N, seeds a project with N labeled inputs (a 10-option exclusive group, the
project's 20 % eval split by input) whose embeddings are already stored: synthetic 1280-d
vectors, one Gaussian cluster per class, stored as float16 like the real ones. Then times
``version_train`` end to end (load labels and embeddings from the database, train the head,
evaluate, tune thresholds, promote), once as the model's first version and once as a retrain
that is compared with the live version before promotion; and separately the pure part
(``train_head`` on arrays, then probabilities, ``evaluate`` and ``tune_threshold``).
Seeding is not part of any figure.

    .venv/bin/python bench/training.py [--counts 10000,100000] [--spread 0.1] \\
        [--torch-threads 0]

Goals: 10,000 labeled inputs in <= 10 s, 100,000 in <= 60 s. Runs in a throw-away data dir
(SQLite unless DATABASE_URL is set). The breakdown comes from timers wrapped around the
functions ``version_train`` calls (its code is unchanged).
"""

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # before bench/: this file's name
os.environ.setdefault("PORTAL_DATA_DIR", tempfile.mkdtemp(prefix="bench-training-"))
os.environ["CELERY_BROKER_URL"] = "filesystem://"  # queued follow-up tasks stay in the dir
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
import torch  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from labeling.models import (  # noqa: E402
    Annotation,
    AnnotationLabel,
    AnnotationSource,
    AnnotationStatus,
    Input,
    InputStatus,
    Project,
    Split,
)
from labeling.services.projects import project_create  # noqa: E402
from labeling.services.taxonomy import concept_create  # noqa: E402
from training.ml.head import HeadParams, decision_scores, train_head  # noqa: E402
from training.ml.metrics import evaluate  # noqa: E402
from training.ml.thresholds import tune_threshold  # noqa: E402
from training.models import Embedding, ModelVersion  # noqa: E402
from training.selectors import labeled_examples, project_layout  # noqa: E402
from training.services import versions  # noqa: E402
from training.services.embeddings import embeddings_load  # noqa: E402

DIM, CLASSES, CHUNK = 1280, 10, 10_000


def machine() -> str:
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next(ln.split(":", 1)[1].strip() for ln in lscpu.splitlines() if "Model name" in ln)
    except (OSError, StopIteration):
        model = platform.processor() or platform.machine()
    return f"{model}, {os.cpu_count()} cores, python {platform.python_version()}"


def seed(count: int, spread: float, admin) -> Project:
    """A project of ``count`` labeled inputs with stored synthetic embeddings."""
    project = project_create(name=f"bench-training-{count}", created_by=admin)
    parent = concept_create(project=project, name="digit", exclusive=True, actor=admin)
    concept_ids = [
        concept_create(project=project, name=str(d), parent=parent, actor=admin).id
        for d in range(CLASSES)
    ]
    rng = np.random.default_rng(count)
    centres = rng.standard_normal((CLASSES, DIM)).astype(np.float32) * spread
    for start in range(0, count, CHUNK):
        size = min(CHUNK, count - start)
        classes = rng.integers(CLASSES, size=size)
        vectors = centres[classes] + rng.standard_normal((size, DIM), dtype=np.float32)
        inputs = Input.objects.bulk_create(
            [
                Input(
                    project=project,
                    sha256=f"{project.id:08x}{i:056x}",
                    original_name=f"{i}.png",
                    file=f"bench/{i}.png",
                    thumbnail=f"bench/{i}.png",
                    format="PNG",
                    width=8,
                    height=8,
                    byte_size=100,
                    split=Split.EVAL if i % 5 == 0 else Split.TRAIN,
                    status=InputStatus.LABELED,
                )
                for i in range(start, start + size)
            ],
            batch_size=2000,
        )
        Embedding.objects.bulk_create(
            [
                Embedding(
                    input_id=row.id,
                    project=project,
                    backbone="efficientnet_lite0",
                    vector=vector.astype(np.float16).tobytes(),
                )
                for row, vector in zip(inputs, vectors, strict=True)
            ],
            batch_size=2000,
        )
        annotations = Annotation.objects.bulk_create(
            [
                Annotation(
                    project=project,
                    input_id=row.id,
                    author=admin,
                    source=AnnotationSource.IMPORT,
                    status=AnnotationStatus.ACCEPTED,
                )
                for row in inputs
            ],
            batch_size=2000,
        )
        AnnotationLabel.objects.bulk_create(
            [
                AnnotationLabel(annotation_id=a.id, concept_id=concept_ids[c])
                for a, c in zip(annotations, classes, strict=True)
            ],
            batch_size=5000,
        )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return project


class Timers:
    """Wraps module functions with timers (the calls themselves are unchanged)."""

    def __init__(self, module, names: list[str]):
        self.seconds: dict[str, float] = defaultdict(float)
        self.module, self.originals = module, {n: getattr(module, n) for n in names}

    def __enter__(self):
        for name, original in self.originals.items():
            setattr(self.module, name, self._timed(name, original))
        return self

    def __exit__(self, *exc):
        for name, original in self.originals.items():
            setattr(self.module, name, original)

    def _timed(self, name, original):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - start

        return timed


def train_version(model) -> tuple[float, ModelVersion, dict[str, float]]:
    queued = versions.version_queue(model=model)
    names = ["_dataset", "train_head", "_evaluate", "_promotion_decision", "version_promote"]
    with Timers(versions, names) as timers:
        start = time.perf_counter()
        version = versions.version_train(version_id=queued.id)
        elapsed = time.perf_counter() - start
    assert version.status == ModelVersion.Status.READY, version.error
    return elapsed, version, dict(timers.seconds)


def pure(project: Project) -> dict[str, float]:
    """Load once (timed), then train_head and the evaluation on arrays."""
    layout = project_layout(project)
    start = time.perf_counter()
    train_labels = labeled_examples(project, split=Split.TRAIN)
    train_ids, train_x = embeddings_load(sorted(train_labels))
    eval_labels = labeled_examples(project, split=Split.EVAL)
    eval_ids, eval_x = embeddings_load(sorted(eval_labels))
    load = time.perf_counter() - start
    y, known = layout.targets([train_labels[i] for i in train_ids])
    start = time.perf_counter()
    head = train_head(train_x, y, known, layout, HeadParams())
    trained = time.perf_counter() - start
    ey, eknown = layout.targets([eval_labels[i] for i in eval_ids])
    start = time.perf_counter()
    probs = head.probabilities(eval_x)
    scores = decision_scores(probs, layout)
    metrics = evaluate(probs, scores, ey, eknown, layout)
    for column in range(layout.width):
        rows = eknown[:, column]
        tune_threshold(scores[rows, column], ey[rows, column], project.target_precision)
    evaluated = time.perf_counter() - start
    return {
        "load": load,
        "train": trained,
        "evaluate": evaluated,
        "train_n": len(train_ids),
        "eval_n": len(eval_ids),
        "accuracy": metrics["accuracy"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--counts", default="10000,100000", help="labeled inputs per run")
    parser.add_argument("--spread", type=float, default=0.1, help="class centres' scale")
    parser.add_argument(
        "--torch-threads", type=int, default=0, help="0: torch's default (one per core)"
    )
    args = parser.parse_args()
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    call_command("migrate", verbosity=0)
    admin = get_user_model().objects.create_user("bench")
    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    goals = {10_000: 10.0, 100_000: 60.0}
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {machine()}, db {engine}, torch threads {torch.get_num_threads()}")
    print(f"head: {HeadParams()}")
    for count in (int(c) for c in args.counts.split(",")):
        start = time.perf_counter()
        project = seed(count, args.spread, admin)
        seeded = time.perf_counter() - start
        model = versions.model_router_ensure(project=project)
        first, version, parts = train_version(model)
        again, retrain, again_parts = train_version(model)
        alone = pure(project)
        goal = goals.get(count)
        print(f"\n{count:,} labeled inputs ({alone['train_n']:,} train, {alone['eval_n']:,} eval)")
        print(f"  seeded in {seeded:.1f} s (not counted)")
        for label, seconds, part, v in (
            ("first version", first, parts, version),
            ("retrain     ", again, again_parts, retrain),
        ):
            verdict = f"goal <= {goal:.0f} s, {seconds / goal:.2f} of it" if goal else ""
            print(
                f"  version_train, {label}: {seconds:6.2f} s  {verdict}  "
                f"(accuracy {v.metrics['accuracy']:.3f}, promoted {v.promotion['promoted']})"
            )
            named = {
                "load labels + embeddings": part.get("_dataset", 0),
                "train_head": part.get("train_head", 0),
                "evaluate + thresholds": part.get("_evaluate", 0),
                "promotion (compare + promote)": part.get("_promotion_decision", 0)
                + part.get("version_promote", 0),
            }
            named["rest (start, progress, save head)"] = seconds - sum(named.values())
            print("    " + ", ".join(f"{k} {v:.2f} s" for k, v in named.items()))
        print(
            f"  pure: train_head {alone['train']:.2f} s + evaluate and tune "
            f"{alone['evaluate']:.2f} s = {alone['train'] + alone['evaluate']:.2f} s "
            f"(loading from the database alone: {alone['load']:.2f} s)"
        )


if __name__ == "__main__":
    main()
