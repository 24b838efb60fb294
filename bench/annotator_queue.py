"""Annotator queue latency and throughput through the real HTTP stack.

Starts gunicorn on the chosen database, seeds a project with N inputs (kept between runs),
then C annotator threads loop `GET /api/v1/projects/{id}/queue/next/` and
`POST /api/v1/inputs/{id}/annotations/`, each with its own keep-alive connection and token.
Reports p50/p95/p99 per request, annotations per second, and double assignments (must be 0).
The baseline is `GET /api/v1/me/`: the same stack (gunicorn, Django, token auth) doing no
queue work, the floor any endpoint here can reach.

    .venv/bin/python bench/annotator_queue.py --inputs 100000 --annotators 1,16 --ops 2000
    .venv/bin/python bench/annotator_queue.py --inputs 1000000 --annotators 1,16 --ops 4000 \\
        --database-url postgres://postgres@127.0.0.1:5432/portal_bench
"""

import argparse
import json
import time

import httpbench


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--inputs", type=int, default=100_000)
    parser.add_argument("--annotators", default="1,16", help="comma-separated thread counts")
    parser.add_argument("--ops", type=int, default=2000, help="annotations per level")
    parser.add_argument("--overlap", type=int, default=1)
    httpbench.server_arguments(parser)
    return parser.parse_args()


ARGS = parse_args()
httpbench.setup_django(ARGS)

from common import digit_group, fake_input  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Count  # noqa: E402

from labeling.models import Annotation, Input, Project, QueueSlot, Role  # noqa: E402
from labeling.services.projects import project_create  # noqa: E402

BATCH = 20_000


def seed(inputs: int, overlap: int) -> tuple[Project, list[int]]:
    name = f"bench-{inputs}-overlap{overlap}"
    owner, _ = get_user_model().objects.get_or_create(username="bench-owner")
    project = Project.objects.filter(name=name).first()
    if project is None:
        project = project_create(name=name, created_by=owner, overlap=overlap)
        digit_group(project, owner)
    have = Input.objects.filter(project=project).count()
    started = time.perf_counter()
    for start in range(have, inputs, BATCH):
        rows = [fake_input(project, i) for i in range(start, min(inputs, start + BATCH))]
        created = Input.objects.bulk_create(rows, batch_size=5000)
        if not created[0].pk:  # backends that do not return ids
            created = Input.objects.filter(project=project).order_by("-id")[: len(rows)]
        QueueSlot.objects.bulk_create(
            [
                QueueSlot(project=project, input_id=r.pk, number=n)
                for r in created
                for n in range(overlap)
            ],
            batch_size=5000,
        )
        print(f"  seeded {min(inputs, start + BATCH):,} inputs", end="\r", flush=True)
    if have < inputs:
        print(f"  seeded {inputs:,} inputs in {time.perf_counter() - started:.0f} s")
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE labeling_queueslot; ANALYZE labeling_input;")
    concept_ids = list(project.concepts.filter(parent__isnull=False).values_list("id", flat=True))
    return project, concept_ids


def double_assignments(project: Project) -> int:
    rows = Annotation.objects.filter(project=project)
    over = rows.values("input_id").annotate(n=Count("id")).filter(n__gt=project.overlap).count()
    same = rows.values("input_id", "author_id").annotate(n=Count("id")).filter(n__gt=1).count()
    return over + same


def annotate_step(project: Project, concept_ids: list[int]):
    def step(client: httpbench.Client, index: int):
        status, data, next_ms = client.request("GET", f"/api/v1/projects/{project.id}/queue/next/")
        if status == 204:
            return None
        if status != 200:
            raise RuntimeError(f"next {status} {data[:200]!r}")
        input_id = json.loads(data)["input"]["id"]
        body = {
            "concept_ids": [concept_ids[input_id % len(concept_ids)]],
            "client_token": f"{index}-{input_id}",
        }
        status, data, submit_ms = client.request(
            "POST", f"/api/v1/inputs/{input_id}/annotations/", body
        )
        if status not in (200, 201):
            raise RuntimeError(f"submit {status} {data[:200]!r}")
        return {"next": next_ms, "submit": submit_ms}

    return step


def main() -> None:
    levels = [int(x) for x in ARGS.annotators.split(",")]
    project, concept_ids = seed(ARGS.inputs, ARGS.overlap)
    open_slots = QueueSlot.objects.filter(project=project, annotation__isnull=True).count()
    httpbench.run_benchmark(
        ARGS,
        tokens=httpbench.people(project, "bench-annotator", max(levels), Role.ANNOTATOR),
        levels=levels,
        step=annotate_step(project, concept_ids),
        who="annotators",
        unit="annotations",
        describe=f"project: {ARGS.inputs:,} inputs, overlap {ARGS.overlap}, "
        f"{open_slots:,} open slots",
    )
    print(f"double assignments: {double_assignments(project)}")


if __name__ == "__main__":
    main()
