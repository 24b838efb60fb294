"""Export of N inputs with labels: seconds and peak memory per format, against a raw read.

Seeds a project with N inputs (rows only, as the tests' ``InputFactory``), a single-choice
group of 10 options, and one accepted annotation with one label per input; then runs each
format's export job in-process (``interchange_export_create`` + ``interchange_job_run``),
each in a fresh subprocess so that its peak RSS means something. Every export is run twice:
once timed (wall seconds; the peak resident set during the export, and its growth over the
resident set just before it) and once under ``tracemalloc`` (peak of Python allocations; it
slows Python down, so it is not timed).

The peak RSS is ``VmHWM`` from ``/proc/self/status``, reset (``clear_refs``) just before the
export. ``ru_maxrss`` cannot serve, even in a fresh subprocess: Linux carries the parent's
peak over into it at exec (a child of a 300 MB parent starts with ``ru_maxrss`` 300 MB), so
it showed the seeding parent's size, not the export's.

The goal is memory flat in the number of inputs: the 100k/10k ratio of the peaks is ~1.

The *limit* ("raw read") is one SQL query returning the same columns (inputs joined with
their labels' concept, status, source and author) through the DB-API cursor, fetched in
pages and thrown away: what reading the data costs with no ORM, records or file.

YOLO needs image bytes: every input points at the same real 16x16 PNG (a few hundred
bytes), so the zip holds N real files while the seed stays quick. The file is read from the
page cache N times, as freshly uploaded files would be.

    .venv/bin/python bench/export.py [--counts 10000,100000] [--formats csv,coco,...]
    .venv/bin/python bench/export.py \\
        --database-url postgres://postgres@127.0.0.1:5432/bench_export

On PostgreSQL the scratch database is dropped and created with ``psql`` first and dropped at
the end, and the seeded tables are ANALYZEd, as autovacuum soon would (``--no-analyze``
measures before that). Everything else lives in a throw-away data dir.
"""

import argparse
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

FORMATS = ("csv", "coco", "labelstudio", "yolo")
BATCH = 5000
TINY_FILE = "bench/tiny.png"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--counts", default="10000,100000", help="comma-separated input counts")
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--database-url", default="", help="default: SQLite in the data dir")
    parser.add_argument("--repeat", type=int, default=1, help="timed runs per format (best kept)")
    parser.add_argument("--no-trace", action="store_true", help="skip the tracemalloc runs")
    parser.add_argument("--keep", action="store_true", help="keep the data dir and database")
    parser.add_argument(
        "--no-analyze",
        action="store_true",
        help="PostgreSQL: export before the seeded tables have statistics",
    )
    # A child process runs one export and prints one JSON line.
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    parser.add_argument("--project", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


def psql(sql: str, url: str) -> None:
    base, _ = url.rsplit("/", 1)
    host = base.split("@")[-1].split(":")[0] or "127.0.0.1"
    user = base.split("//")[1].split("@")[0].split(":")[0] if "@" in base else "postgres"
    subprocess.run(
        ["psql", "-h", host, "-U", user, "-d", "postgres", "-q", "-c", sql],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def tiny_png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 40, 40)).save(buffer, "PNG")
    return buffer.getvalue()


# ---------------------------------------------------------------------------- parent


def seed(count: int) -> int:
    """A project with ``count`` labelled inputs; returns its id."""
    from common import accepted_labels, digit_group
    from django.contrib.auth import get_user_model

    from labeling.models import AnnotationSource, Input, InputStatus
    from labeling.services.projects import project_create
    from labeling.storage import write_file

    write_file(TINY_FILE, tiny_png())
    owner, _ = get_user_model().objects.get_or_create(username="bench-export")
    project = project_create(name=f"export {count}", created_by=owner)
    option_ids = [option.id for option in digit_group(project, owner)]
    for start in range(0, count, BATCH):
        rows = [
            Input(
                project=project,
                sha256=f"{project.id:08x}{i:056x}",
                original_name=f"image{i:06d}.png",
                file=TINY_FILE,
                thumbnail=TINY_FILE,
                format="PNG",
                width=16,
                height=16,
                byte_size=100,
                split="eval" if i % 5 == 0 else "train",
                status=InputStatus.LABELED,
            )
            for i in range(start, min(count, start + BATCH))
        ]
        inputs = Input.objects.bulk_create(rows)
        concept_ids = [option_ids[(start + n) % 10] for n in range(len(inputs))]
        accepted_labels(project, owner, inputs, concept_ids, source=AnnotationSource.HUMAN)
    assert Input.objects.filter(project=project).count() == count
    return project.id


def child(fmt: str, project_id: int, trace: bool) -> dict:
    command = [sys.executable, __file__, "--child", fmt, "--project", str(project_id)]
    command += ["--trace"] if trace else []
    done = subprocess.run(command, check=True, capture_output=True, text=True, env=os.environ)
    return json.loads(done.stdout.strip().splitlines()[-1])


def machine(vendor: str) -> str:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"machine: {platform.machine()}, {os.cpu_count()} cores, {memory:.0f} GB, python "
        f"{platform.python_version()}, {vendor}, load average "
        + " ".join(f"{v:.2f}" for v in os.getloadavg())
    )


def parent(args) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, connections

    call_command("migrate", verbosity=0)
    counts = [int(c) for c in args.counts.split(",")]
    formats = ["raw", *args.formats.split(",")]
    print(machine(connection.vendor))
    print(
        f"{'inputs':>8} {'format':12} {'seconds':>8} {'inputs/s':>9} {'file MB':>8} "
        f"{'peak RSS MB':>11} {'RSS growth MB':>13} {'traced peak MB':>14}"
    )
    results: dict[tuple[str, int], dict] = {}
    for count in counts:
        started = time.perf_counter()
        project_id = seed(count)
        if connection.vendor == "postgresql" and not args.no_analyze:
            # What autovacuum does within a minute or so of a bulk load.
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        print(f"(seeded {count:,} inputs in {time.perf_counter() - started:.0f} s)")
        connections.close_all()
        for fmt in formats:
            timed = min(
                (child(fmt, project_id, trace=False) for _ in range(args.repeat)),
                key=lambda r: r["seconds"],
            )
            traced = None if args.no_trace else child(fmt, project_id, trace=True)
            results[(fmt, count)] = {**timed, "traced": traced["peak"] if traced else None}
            print(
                f"{count:8,} {fmt:12} {timed['seconds']:8.2f} {count / timed['seconds']:9,.0f} "
                f"{timed['file_mb']:8.1f} {timed['rss']:11.1f} {timed['rss_growth']:13.1f} "
                + (f"{traced['peak']:14.1f}" if traced else f"{'-':>14}")
            )
    if len(counts) > 1:
        low, high = counts[0], counts[-1]
        print(f"flat? peak at {high:,} / peak at {low:,} (x{high // low} inputs):")
        for fmt in formats:
            a, b = results[(fmt, low)], results[(fmt, high)]
            growth = f"{a['rss_growth']:.1f} -> {b['rss_growth']:.1f} MB"
            line = f"  {fmt:12} peak RSS x{b['rss'] / a['rss']:.2f}, RSS growth {growth}"
            if a["traced"]:
                line += f", traced peak x{b['traced'] / a['traced']:.2f}"
            line += f"; time x{b['seconds'] / a['seconds']:.1f}"
            print(line)


# ---------------------------------------------------------------------------- child


def raw_read(project_id: int) -> None:
    """The limit: the same columns in one query through the DB-API, in pages, discarded."""
    from django.db import connection, transaction

    # A server-side cursor on PostgreSQL, so the rows stream as the export's pages do.
    with transaction.atomic(), connection.chunked_cursor() as cursor:
        cursor.execute(
            "SELECT i.id, i.original_name, i.sha256, i.width, i.height, i.split, i.metadata,"
            " l.concept_id, l.confidence, a.status, a.source, u.username"
            " FROM labeling_input i"
            " LEFT JOIN labeling_annotation a ON a.input_id = i.id AND a.status = 'accepted'"
            " LEFT JOIN labeling_annotationlabel l ON l.annotation_id = a.id"
            " LEFT JOIN auth_user u ON u.id = a.author_id"
            " WHERE i.project_id = %s ORDER BY i.id",
            [project_id],
        )
        while cursor.fetchmany(2000):
            pass


def memory_kib() -> dict[str, int]:
    """This process's resident set now and its peak (KiB), from /proc (Linux)."""
    with open("/proc/self/status") as status:
        return {
            line.split(":")[0]: int(line.split()[1])
            for line in status
            if line.startswith(("VmRSS:", "VmHWM:"))
        }


def reset_peak() -> None:
    """Start the peak resident set (VmHWM) over from the current one."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def run_child(args) -> None:
    import gc
    import resource
    import tracemalloc

    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from labeling.models import InterchangeJob, Project
    from labeling.services.interchange import interchange_export_create, interchange_job_run
    from labeling.storage import media_path

    project = Project.objects.get(id=args.project)
    user = get_user_model().objects.get(username="bench-export")
    fmt = args.child
    job = None
    if fmt != "raw":
        job = interchange_export_create(project=project, user=user, format=fmt)
    gc.collect()
    reset_peak()
    before = memory_kib()["VmRSS"]
    if args.trace:
        tracemalloc.start()
    started = time.perf_counter()
    if job is None:
        raw_read(project.id)
    else:
        job = interchange_job_run(job_id=job.id)
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] / 2**20 if args.trace else None
    rss = memory_kib()["VmHWM"] / 1024
    growth = rss - before / 1024
    size = 0.0
    if job is not None:
        if job.status != InterchangeJob.Status.DONE:
            raise SystemExit(f"export {fmt} ended {job.status}: {job.error}")
        size = media_path(job.file).stat().st_size / 2**20
        media_path(job.file).unlink()  # keep the data dir small between runs
    result = {"seconds": seconds, "rss": rss, "rss_growth": growth, "peak": peak, "file_mb": size}
    result["ru_maxrss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def main() -> None:
    args = parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    if args.child:
        run_child(args)
        return
    data_dir = tempfile.mkdtemp(prefix="bench-export-")
    os.environ["PORTAL_DATA_DIR"] = data_dir
    if args.database_url:
        os.environ["DATABASE_URL"] = args.database_url
        name = args.database_url.rsplit("/", 1)[1]
        psql(f'DROP DATABASE IF EXISTS "{name}"', args.database_url)
        psql(f'CREATE DATABASE "{name}"', args.database_url)
    try:
        parent(args)
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            if args.database_url:
                psql(f'DROP DATABASE IF EXISTS "{name}"', args.database_url)
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
