"""Reviewer queue latency and throughput through the real HTTP stack.

Seeds a project with N annotations pending at review tier 1 (kept between runs), then R
reviewer threads loop `GET /api/v1/projects/{id}/review/next/` and
`POST /api/v1/annotations/{id}/decisions/` (approve). Reports p50/p95/p99 per request,
decisions per second, and annotations decided twice at one tier (must be 0; the database's
unique constraint would refuse it, so a double lease shows up as errors instead).

    .venv/bin/python bench/review_queue.py --annotations 100000 --reviewers 1,8 --ops 2000
    .venv/bin/python bench/review_queue.py --annotations 1000000 --reviewers 1,8 --ops 2000 \\
        --database-url postgres://postgres@127.0.0.1:5432/portal_bench
"""

import argparse
import json
import time

import httpbench


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--annotations", type=int, default=100_000)
    parser.add_argument("--reviewers", default="1,8", help="comma-separated thread counts")
    parser.add_argument("--ops", type=int, default=2000, help="decisions per level")
    httpbench.server_arguments(parser)
    return parser.parse_args()


ARGS = parse_args()
httpbench.setup_django(ARGS)

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Count  # noqa: E402

from labeling.models import (  # noqa: E402
    Annotation,
    AnnotationLabel,
    Input,
    Project,
    ReviewDecision,
    Role,
)
from labeling.services.projects import project_create  # noqa: E402
from labeling.services.review import review_tiers_configure  # noqa: E402
from labeling.services.taxonomy import concept_create  # noqa: E402

BATCH = 20_000


def seed(count: int) -> Project:
    name = f"bench-review-{count}"
    owner, _ = get_user_model().objects.get_or_create(username="bench-owner")
    author, _ = get_user_model().objects.get_or_create(username="bench-author")
    project = Project.objects.filter(name=name).first()
    if project is None:
        project = project_create(name=name, created_by=owner)
        review_tiers_configure(project=project, tiers=[("all", 1.0)])
        concept_create(project=project, name="thing", actor=owner)
    concept = project.concepts.get()
    have = Annotation.objects.filter(project=project).count()
    started = time.perf_counter()
    for start in range(have, count, BATCH):
        inputs = Input.objects.bulk_create(
            [
                Input(
                    project=project,
                    sha256=f"{project.id:08x}{i:056x}",
                    original_name=f"{i}",
                    file="bench",
                    thumbnail="bench",
                    format="PNG",
                    width=8,
                    height=8,
                    byte_size=100,
                    split="train",
                    status="in_review",
                )
                for i in range(start, min(count, start + BATCH))
            ],
            batch_size=5000,
        )
        annotations = Annotation.objects.bulk_create(
            [
                Annotation(
                    project=project,
                    input=i,
                    author=author,
                    source="human",
                    status="pending_review",
                    review_tier=1,
                )
                for i in inputs
            ],
            batch_size=5000,
        )
        AnnotationLabel.objects.bulk_create(
            [AnnotationLabel(annotation=a, concept=concept) for a in annotations],
            batch_size=5000,
        )
        print(f"  seeded {min(count, start + BATCH):,} annotations", end="\r", flush=True)
    if have < count:
        print(f"  seeded {count:,} annotations in {time.perf_counter() - started:.0f} s")
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE labeling_annotation;")
    return project


def review_step(project: Project):
    def step(client: httpbench.Client, index: int):
        status, data, next_ms = client.request("GET", f"/api/v1/projects/{project.id}/review/next/")
        if status == 204:
            return None
        if status != 200:
            raise RuntimeError(f"next {status} {data[:200]!r}")
        annotation_id = json.loads(data)["id"]
        status, data, decide_ms = client.request(
            "POST", f"/api/v1/annotations/{annotation_id}/decisions/", {"action": "approve"}
        )
        if status != 201:
            raise RuntimeError(f"decide {status} {data[:200]!r}")
        return {"next": next_ms, "decide": decide_ms}

    return step


def main() -> None:
    levels = [int(x) for x in ARGS.reviewers.split(",")]
    project = seed(ARGS.annotations)
    pending = Annotation.objects.filter(project=project, status="pending_review").count()
    httpbench.run_benchmark(
        ARGS,
        tokens=httpbench.people(project, "bench-reviewer", max(levels), Role.REVIEWER, tier=1),
        levels=levels,
        step=review_step(project),
        who="reviewers",
        unit="decisions",
        describe=f"project: {ARGS.annotations:,} annotations, {pending:,} pending at tier 1",
    )
    decisions = ReviewDecision.objects.filter(project=project).values("annotation_id", "tier")
    twice = decisions.annotate(n=Count("id")).filter(n__gt=1).count()
    print(f"annotations decided twice at one tier: {twice}")


if __name__ == "__main__":
    main()
