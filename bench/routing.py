"""Routing throughput: inputs scored and written per second by ``version_route`` (the
project's default workflow run by the workflow engine).

Seeds a project (a 10-option exclusive group) with ``--labeled`` labeled inputs and
``--inputs`` unlabeled ones, each with an open queue slot and a stored embedding: synthetic
1280-d vectors, one Gaussian cluster per class, stored as float16 like the real ones. Trains
the routing model's first version on the labeled ones with ``version_train`` (which promotes
it), then times ``version_route``: find the candidates, load their embeddings, run the default
workflow on them (embedder -> classifier -> thresholder -> sampler -> writers) and write the
model's annotations, labels, input statuses and queue slots, a batch of
``TRAINING_ROUTE_BATCH`` per transaction.

    .venv/bin/python bench/routing.py [--inputs 100000] [--labeled 5000] \\
        [--database-url postgres://postgres@127.0.0.1:5432/bench_routing]

Goal: >= 10,000 inputs/s on PostgreSQL. Without --database-url it runs on SQLite in a
throw-away data dir. The PostgreSQL database must exist and be empty or a former run's (each
run uses a new project); create it with ``psql -h 127.0.0.1 -U postgres -c 'create database
bench_routing'`` and drop it afterwards. The split comes from timers wrapped around the
functions ``version_route`` calls (its code is unchanged). Seeding is not counted.
"""

import argparse
import os
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
parser = argparse.ArgumentParser()
parser.add_argument("--inputs", type=int, default=100_000, help="unlabeled inputs to route")
parser.add_argument("--labeled", type=int, default=5_000, help="labeled inputs to train on")
parser.add_argument("--spread", type=float, default=0.1, help="class centres' scale")
parser.add_argument("--database-url", default="", help="default: SQLite in a throw-away dir")
ARGS = parser.parse_args()
os.environ["PORTAL_DATA_DIR"] = tempfile.mkdtemp(prefix="bench-routing-")
os.environ["CELERY_BROKER_URL"] = "filesystem://"  # queued follow-up tasks stay in the dir
if ARGS.database_url:
    os.environ["DATABASE_URL"] = ARGS.database_url
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from common import Timers, machine, seed_embedded  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import QuerySet  # noqa: E402

from labeling.models import Annotation, AnnotationLabel, Input, Project  # noqa: E402
from labeling.services.projects import project_create  # noqa: E402
from training.models import ModelVersion  # noqa: E402
from training.services import versions  # noqa: E402
from training.services.versions import (  # noqa: E402
    model_router_ensure,
    version_queue,
    version_train,
)
from workflows.engine import Plan  # noqa: E402
from workflows.services import routing  # noqa: E402


def seed(labeled: int, unlabeled: int, spread: float, admin) -> tuple[Project, np.ndarray]:
    """The project; returns the true class of every unlabeled input, in id order."""
    project = project_create(name=f"bench-routing-{time.time_ns()}", created_by=admin)
    truth = seed_embedded(
        project, admin, labeled=labeled, unlabeled=unlabeled, spread=spread, seed=0
    )
    return project, truth


class QueryTimers:
    """Times every bulk_create / update / delete by model while active."""

    methods = ("bulk_create", "update", "delete")

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)

    def __enter__(self):
        self.originals = {m: getattr(QuerySet, m) for m in self.methods}
        for method, original in self.originals.items():
            setattr(QuerySet, method, self.timed(method, original))
        return self

    def __exit__(self, *exc):
        for method, original in self.originals.items():
            setattr(QuerySet, method, original)

    def timed(self, method, original):
        def timed(qs, *args, **kwargs):
            start = time.perf_counter()
            try:
                return original(qs, *args, **kwargs)
            finally:
                self.seconds[f"{qs.model.__name__}.{method}"] += time.perf_counter() - start

        return timed


class SqlTimer:
    """Time inside the database driver's execute calls (the driver and the server)."""

    def __init__(self):
        self.seconds, self.queries = 0.0, 0
        self.by_statement = defaultdict(float)

    def __call__(self, execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            spent = time.perf_counter() - start
            self.seconds += spent
            self.queries += 1
            # "INSERT INTO labeling_annotation", "UPDATE labeling_input", ...
            words = sql.replace('"', "").split()
            verb = words[0].upper()
            table = next((w for w in words[1:4] if w.startswith(("labeling_", "training_"))), "")
            self.by_statement[f"{verb} {table}".strip()] += spent


def main() -> None:
    call_command("migrate", verbosity=0)
    admin, _ = get_user_model().objects.get_or_create(username="bench-routing")
    start = time.perf_counter()
    project, truth = seed(ARGS.labeled, ARGS.inputs, ARGS.spread, admin)
    seeded = time.perf_counter() - start
    version = version_train(version_id=version_queue(model=model_router_ensure(project=project)).id)
    assert version.status == ModelVersion.Status.READY, version.error
    assert version.promotion["promoted"], version.promotion

    names = ["_candidates", "embeddings_load", "workflow_rows_write", "queue_slots_fill_project"]
    with Timers(routing, names) as timers:
        version_head = versions.version_head
        timers.wrap(Plan, "run", "engine")  # the whole graph, the classifier's head included

        def head_with_timed_scoring(v):
            head = version_head(v)
            head.probabilities = timers.timed("probabilities", head.probabilities)
            return head

        versions.version_head = head_with_timed_scoring
        connection.commit = timers.timed("commit", connection.commit)
        writes = QueryTimers()
        sql = SqlTimer()
        try:
            with writes, connection.execute_wrapper(sql):
                start = time.perf_counter()
                tally = routing.version_route(version_id=version.id)
                elapsed = time.perf_counter() - start
        finally:
            versions.version_head = version_head
            del connection.commit
    assert tally["status"] == "done" and tally["total"] == ARGS.inputs, tally
    parts = dict(timers.seconds)

    auto = Annotation.objects.filter(model_version=version, model_band="auto")
    by_input = dict(
        AnnotationLabel.objects.filter(annotation__in=auto).values_list(
            "annotation__input_id", "concept__name"
        )
    )
    unlabeled_ids = list(
        Input.objects.filter(project=project).order_by("id").values_list("id", flat=True)
    )[ARGS.labeled :]
    right = sum(
        by_input[i] == str(t) for i, t in zip(unlabeled_ids, truth, strict=True) if i in by_input
    )

    engine = connection.vendor
    n = tally["total"]
    parts["_write"] = parts["workflow_rows_write"]
    scoring = parts["embeddings_load"] + parts["engine"]
    other = elapsed - scoring - parts["_write"]
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {machine()}, db {engine}, route batch {settings.TRAINING_ROUTE_BATCH}")
    print(
        f"project: {n:,} unlabeled inputs to route, {ARGS.labeled:,} labeled "
        f"(seeded in {seeded:.0f} s, not counted); version accuracy "
        f"{version.metrics['accuracy']:.3f} on its eval split"
    )
    print(
        f"bands: auto {tally['auto']:,} ({tally['auto'] / n:.1%}, of which "
        f"{tally['spot_checks']:,} spot checks), doubt {tally['doubt']:,} "
        f"({tally['doubt'] / n:.1%}), low {tally['low']:,} ({tally['low'] / n:.1%}); "
        f"auto labels right: {right / max(len(by_input), 1):.3f}"
    )
    print(
        f"version_route: {elapsed:.2f} s, {n / elapsed:,.0f} inputs/s "
        f"(goal >= 10,000/s: {n / elapsed / 10_000:.2f} of it)"
    )
    print(
        f"  scoring {scoring:.2f} s ({scoring / elapsed:.0%}): load embeddings "
        f"{parts['embeddings_load']:.2f} s, workflow engine {parts['engine']:.2f} s (of which "
        f"the head {parts['probabilities']:.2f} s, operators and rows "
        f"{parts['engine'] - parts['probabilities']:.2f} s)"
    )
    print(
        f"  writes {parts['_write']:.2f} s ({parts['_write'] / elapsed:.0%}): "
        f"{(tally['auto'] + tally['doubt']) / parts['_write']:,.0f} annotations/s written"
    )
    top = sorted(writes.seconds.items(), key=lambda kv: -kv[1])
    top = [(k, v) for k, v in top if v >= 0.01 and not k.startswith("ModelVersion")]  # progress
    if top:
        print("    of which ORM " + ", ".join(f"{k} {v:.2f} s" for k, v in top))
    print(
        f"  other {other:.2f} s ({other / elapsed:.0%}): candidates query "
        f"{parts['_candidates']:.2f} s, commits {parts.get('commit', 0):.2f} s, queue refill "
        f"{parts['queue_slots_fill_project']:.2f} s, progress and the rest"
    )
    print(f"  scoring alone: {n / scoring:,.0f} inputs/s")
    print(
        f"  in the database driver's execute (driver + server): {sql.seconds:.2f} s in "
        f"{sql.queries} queries ({sql.seconds / elapsed:.0%}); the rest is Python: numpy, "
        "building rows, the ORM preparing each field"
    )
    top = sorted(sql.by_statement.items(), key=lambda item: -item[1])[:6]
    print("    by statement: " + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in top))


if __name__ == "__main__":
    main()
