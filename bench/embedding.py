"""Embedding throughput: images per second through ``embeddings_compute``, with the backbone
run by torch and by ONNX Runtime, each against its own limit, side by side in one run.

The limit is the bare backbone: ``training.ml.backbone.forward`` on already preprocessed
tensors of the same images, in batches of the same size (32). The pipeline around it opens
each stored file, decodes and resizes it, runs the forward pass, converts to float16 and
writes one ``Embedding`` row per input, a batch per transaction. Both runtimes embed the
same images (a round's embeddings are deleted before each pipeline run).

    .venv/bin/python bench/embedding.py [--count 960] [--rounds 6] [--source digits|jpeg] \\
        [--size 640x480]

``digits`` are scikit-learn's 8x8 digit PNGs (the demo data, ``labeling.demo.digit_png``);
``jpeg`` are generated noisy photos-like JPEGs of ``--size``, where decoding costs more.
Images enter through ``input_ingest``. Runs in a throw-away data dir (SQLite unless
DATABASE_URL is set; the ONNX export is made there once, before any timing). The machine may
be shared, so the four measurements (torch and onnx, bare and pipeline) take turns in an
order that rotates over ``--rounds`` projects of count/rounds images each. The breakdown
comes from timers wrapped around the pipeline's own functions (``_decode``,
``backbone.preprocess``, ``backbone.forward``); decoding and preprocessing run in the
pipeline's prefetch thread, beside the forward pass, so their time is shown but not counted
in the wall time; the rest is the database, the float16 conversion and any wait for the
prefetch thread.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("PORTAL_DATA_DIR", tempfile.mkdtemp(prefix="bench-embedding-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django  # noqa: E402
import onnxruntime  # noqa: E402
import torch  # noqa: E402

django.setup()

from common import Timers, machine, noisy_image  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402

from labeling.demo import digit_png  # noqa: E402
from labeling.models import Input  # noqa: E402
from labeling.services.ingest import input_ingest  # noqa: E402
from labeling.services.projects import project_create  # noqa: E402
from labeling.storage import media_path  # noqa: E402
from training.ml import backbone, backbone_onnx  # noqa: E402
from training.ml.features import image_open  # noqa: E402
from training.models import Embedding  # noqa: E402
from training.services import embeddings  # noqa: E402

BATCH = 32
RUNTIMES = ("torch", "onnx")


def digit_images(count: int) -> list[bytes]:
    from sklearn.datasets import load_digits

    data = load_digits().data
    if count > len(data):
        raise SystemExit(f"--source digits has {len(data)} images; use --source jpeg for more")
    return [digit_png(pixels) for pixels in data[:count]]


def bare(inputs: list[Input]) -> dict[str, float]:
    """Decode, preprocess and forward the same files in batches of 32, each step timed apart;
    the limit is the forward pass alone."""
    seconds: dict[str, float] = defaultdict(float)
    for start in range(0, len(inputs), BATCH):
        chunk = inputs[start : start + BATCH]
        t0 = time.perf_counter()
        images = [image_open(media_path(i.file)) for i in chunk]
        t1 = time.perf_counter()
        tensors = backbone.preprocess(images)
        t2 = time.perf_counter()
        backbone.forward(tensors)
        t3 = time.perf_counter()
        seconds["decode"] += t1 - t0
        seconds["preprocess"] += t2 - t1
        seconds["forward"] += t3 - t2
    return seconds


def pipeline(project_id: int, timers: Timers) -> float:
    timers.wrap(embeddings, "_decode", "decode + preprocess")
    timers.wrap(backbone, "preprocess", "of which preprocess")
    timers.wrap(backbone, "forward", "forward")
    start = time.perf_counter()
    embeddings.embeddings_compute(project_id=project_id, batch_size=BATCH)
    elapsed = time.perf_counter() - start
    timers.restore()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=960, help="images (each side)")
    parser.add_argument("--rounds", type=int, default=6, help="bare and pipeline alternate")
    parser.add_argument("--source", choices=["digits", "jpeg"], default="digits")
    parser.add_argument("--size", default="640x480", help="JPEG size (--source jpeg)")
    parser.add_argument(
        "--runtimes", default=",".join(RUNTIMES), help="torch,onnx (one of them: quicker tries)"
    )
    args = parser.parse_args()
    settings.TRAINING_BACKBONE = backbone.NAME
    call_command("migrate", verbosity=0)
    admin = get_user_model().objects.create_user("bench")

    if args.source == "digits":
        files, what = digit_images(args.count), "scikit-learn digit PNGs (8x8)"
    else:
        width, height = (int(v) for v in args.size.split("x"))
        files = [noisy_image(i, width, height) for i in range(args.count)]
        what = f"JPEGs of {width}x{height}"
    # one project per round, so the two measurements can alternate (the machine is shared)
    rounds = []
    per_round = -(-args.count // args.rounds)
    for r in range(args.rounds):
        project = project_create(name=f"bench-embedding-{r}", created_by=admin)
        for i in range(r * per_round, min(args.count, (r + 1) * per_round)):
            input_ingest(project=project, name=f"img{i:05d}", data=files[i])
        rounds.append((project, list(Input.objects.filter(project=project).order_by("id"))))
    n = sum(len(inputs) for _, inputs in rounds)
    assert n == args.count, f"{n} inputs (duplicate images?)"
    megabytes = sum(len(d) for d in files) / 1e6

    warm = backbone.preprocess([image_open(media_path(rounds[0][1][0].file))] * BATCH)
    runtimes = [r for r in RUNTIMES if r in args.runtimes.split(",")]
    runs = [(runtime, kind) for runtime in runtimes for kind in ("bare", "pipeline")]
    seconds: dict[tuple[str, str], float] = defaultdict(float)  # forward alone for bare
    bare_steps = {runtime: defaultdict(float) for runtime in runtimes}
    timers = {runtime: Timers() for runtime in runtimes}
    per_round = []
    print("round  images  " + "  ".join(f"{r} {k:>8s}" for r, k in runs) + "   (img/s)")
    for r, (project, inputs) in enumerate(rounds):
        got = {}
        for runtime, kind in runs[r % len(runs) :] + runs[: r % len(runs)]:  # rotate the order
            use(runtime, warm)
            if kind == "bare":
                steps = bare(inputs)
                for key, value in steps.items():
                    bare_steps[runtime][key] += value
                got[runtime, kind] = steps["forward"]
            else:
                Embedding.objects.filter(project=project).delete()  # embed them again
                got[runtime, kind] = pipeline(project.id, timers[runtime])
            seconds[runtime, kind] += got[runtime, kind]
        per_round.append(got)
        print(
            f"{r:5d}  {len(inputs):6d}  "
            + "  ".join(f"{len(inputs) / got[run]:{len(run[0]) + 9}.1f}" for run in runs)
        )
        assert Embedding.objects.filter(project=project, error="").count() == len(inputs)

    rate = {run: n / value for run, value in seconds.items()}
    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"machine: {machine()}, torch {torch.__version__} threads {torch.get_num_threads()}, "
        f"onnxruntime {onnxruntime.__version__} threads {backbone_onnx.threads_default()}"
    )
    print(f"db {engine}; {n} {what} ({megabytes:.1f} MB); batch {BATCH}; {args.rounds} rounds")
    for runtime in runtimes:
        print(
            f"{runtime:5s} bare forward {rate[runtime, 'bare']:7.1f} img/s, "
            f"pipeline {rate[runtime, 'pipeline']:7.1f} img/s"
        )

    def ratio(a, b, goal: str) -> None:
        if a not in seconds or b not in seconds:
            return
        rounds_ = [got[b] / got[a] for got in per_round]  # seconds: b's time over a's
        print(
            f"{a[0]} {a[1]} / {b[0]} {b[1]}: {seconds[b] / seconds[a]:.2f} over all rounds, "
            f"median of rounds {statistics.median(rounds_):.2f} ({goal})"
        )

    ratio(("onnx", "pipeline"), ("torch", "pipeline"), "goal >= 3")
    ratio(("onnx", "pipeline"), ("onnx", "bare"), "goal >= 0.90")
    ratio(("torch", "pipeline"), ("torch", "bare"), "before: >= 0.90")
    ratio(("onnx", "bare"), ("torch", "bare"), "the bare networks")
    for runtime in runtimes:
        breakdown(runtime, timers[runtime].seconds, seconds[runtime, "pipeline"], n)
        print(
            "  bare loop, each step (ms per image): "
            + ", ".join(f"{k} {1000 * v / n:.2f}" for k, v in bare_steps[runtime].items())
        )


def use(runtime: str, warm) -> None:
    """Run the backbone with ``runtime`` from now on; opened (and exported, the first time)
    outside the timings."""
    backbone.configure(runtime=runtime, cache_dir=settings.TRAINING_MODEL_CACHE)
    backbone.forward(warm)
    assert backbone.runtime_in_use() == runtime, f"{runtime} is not available"


def breakdown(runtime: str, timed: dict, total: float, n: int) -> None:
    parts = dict(timed)
    overlapped = {k: parts.pop(k, 0.0) for k in ("decode + preprocess", "of which preprocess")}
    parts["database, float16, waits"] = total - sum(parts.values())
    print(
        f"{runtime} pipeline: forward share of its own time {parts['forward'] / total:.2f} "
        "(measured within each run, so not affected by a busy machine); ms per image:"
    )
    for label, value in parts.items():
        print(f"  {label:26s} {1000 * value / n:7.2f} ms  {value / total:6.1%}")
    for label, value in overlapped.items():
        print(f"  {label:26s} {1000 * value / n:7.2f} ms  (prefetch thread, overlapped)")


if __name__ == "__main__":
    main()
