"""Embedding throughput: images per second through ``embeddings_compute``, against the limit.

The limit is the bare backbone: ``training.ml.backbone.forward`` on already preprocessed
tensors of the same images, in batches of the same size (32). The pipeline around it opens
each stored file, decodes and resizes it, runs the forward pass, converts to float16 and
writes one ``Embedding`` row per input, a batch per transaction.

    .venv/bin/python bench/embedding.py [--count 960] [--rounds 6] [--source digits|jpeg] \\
        [--size 640x480]

``digits`` are scikit-learn's 8x8 digit PNGs (the demo data, ``labeling.demo.digit_png``);
``jpeg`` are generated noisy photos-like JPEGs of ``--size``, where decoding costs more.
Images enter through ``input_ingest``. Runs in a throw-away data dir (SQLite unless
DATABASE_URL is set). The machine may be shared, so the two measurements alternate over
``--rounds`` projects of count/rounds images each. The breakdown comes from timers wrapped
around the pipeline's own functions (``_decode``, ``backbone.preprocess``, ``backbone.forward``);
decoding and preprocessing run in the pipeline's prefetch thread, beside the forward pass, so
their time is shown but not counted in the wall time; the rest is the database, the float16
conversion and any wait for the prefetch thread.
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
from training.ml import backbone  # noqa: E402
from training.ml.features import image_open  # noqa: E402
from training.models import Embedding  # noqa: E402
from training.services import embeddings  # noqa: E402

BATCH = 32


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

    warm = image_open(media_path(rounds[0][1][0].file))
    backbone.forward(backbone.preprocess([warm] * BATCH))
    limit: dict[str, float] = defaultdict(float)
    timers = Timers()
    total, ratios = 0.0, []
    print("round  images  bare img/s  pipeline img/s  ratio")
    for r, (project, inputs) in enumerate(rounds):
        if r % 2 == 0:  # alternate which goes first
            steps = bare(inputs)
            elapsed = pipeline(project.id, timers)
        else:
            elapsed = pipeline(project.id, timers)
            steps = bare(inputs)
        ratios.append(steps["forward"] / elapsed)
        for key, value in steps.items():
            limit[key] += value
        total += elapsed
        print(
            f"{r:5d}  {len(inputs):6d}  {len(inputs) / steps['forward']:10.1f}  "
            f"{len(inputs) / elapsed:14.1f}  {steps['forward'] / elapsed:5.2f}"
        )
    assert Embedding.objects.filter(error="").exclude(vector=b"").count() == n

    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {machine()}, torch threads {torch.get_num_threads()}")
    print(f"db {engine}; {n} {what} ({megabytes:.1f} MB); batch {BATCH}; {args.rounds} rounds")
    print(f"limit    (bare forward on preprocessed tensors): {n / limit['forward']:7.1f} images/s")
    print(f"pipeline (embeddings_compute, end to end):      {n / total:7.1f} images/s")
    print(
        f"ratio pipeline / limit: {limit['forward'] / total:.2f} over all rounds, "
        f"median of rounds {statistics.median(ratios):.2f} (goal >= 0.90)"
    )
    parts = dict(timers.seconds)
    overlapped = {k: parts.pop(k, 0.0) for k in ("decode + preprocess", "of which preprocess")}
    parts["database, float16, waits"] = total - sum(parts.values())
    print(
        f"forward share of the pipeline's own time: {parts['forward'] / total:.2f} "
        "(the same ratio measured within one run, so not affected by a busy machine)"
    )
    print("pipeline breakdown (ms per image, share):")
    for label, seconds in parts.items():
        print(f"  {label:26s} {1000 * seconds / n:7.2f} ms  {seconds / total:6.1%}")
    for label, seconds in overlapped.items():
        print(f"  {label:26s} {1000 * seconds / n:7.2f} ms  (prefetch thread, overlapped)")
    print(
        "bare loop, each step (ms per image): "
        + ", ".join(f"{k} {1000 * v / n:.2f}" for k, v in limit.items())
    )


if __name__ == "__main__":
    main()
