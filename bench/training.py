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
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # before bench/: this file's name
os.environ.setdefault("PORTAL_DATA_DIR", tempfile.mkdtemp(prefix="bench-training-"))
os.environ["CELERY_BROKER_URL"] = "filesystem://"  # queued follow-up tasks stay in the dir
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django  # noqa: E402

django.setup()

import torch  # noqa: E402
from common import Timers, machine, seed_embedded  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402

from labeling.models import Project, Split  # noqa: E402
from labeling.services.projects import project_create  # noqa: E402
from training.ml.head import HeadParams, decision_scores, train_head  # noqa: E402
from training.ml.metrics import evaluate  # noqa: E402
from training.ml.thresholds import tune_threshold  # noqa: E402
from training.model_types import context_classifier  # noqa: E402
from training.models import ModelVersion  # noqa: E402
from training.selectors import labeled_examples, project_layout  # noqa: E402
from training.services import versions  # noqa: E402
from training.services.embeddings import embeddings_load  # noqa: E402


def seed(count: int, spread: float, admin) -> Project:
    """A project of ``count`` labeled inputs with stored synthetic embeddings."""
    project = project_create(name=f"bench-training-{count}", created_by=admin)
    seed_embedded(project, admin, labeled=count, unlabeled=0, spread=spread, seed=count)
    return project


def train_version(model) -> tuple[float, ModelVersion, dict[str, float]]:
    queued = versions.version_queue(model=model)
    names = ["_dataset", "_evaluate", "_promotion_decision", "version_promote"]
    with Timers(versions, names) as timers:
        timers.wrap(context_classifier, "train_head")  # the type's train calls it
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
        tune_threshold(
            scores[rows, column],
            ey[rows, column],
            project.target_precision,
            min_kept=settings.TRAINING_THRESHOLD_MIN_KEPT,
        )
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
