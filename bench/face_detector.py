"""Face detector throughput: images per second through ``training.ml.faces.detect_faces``
on scikit-image's photographs at their own size, one call per image and in batches of
same-size copies, beside facenet-pytorch's own ``MTCNN`` on the same images (the reference:
the same three networks and weights, its own cascade code; measured only here, the portal
never runs it).

    .venv/bin/python bench/face_detector.py [--rounds 5] [--batch 8] [--threads 2]

Each figure is the median over ``--rounds`` of the time for all images; the first call
(loading the weights and torchvision's ops) is made before timing and reported apart.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("PORTAL_DATA_DIR", tempfile.mkdtemp(prefix="bench-faces-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from skimage import data  # noqa: E402

django.setup()

from common import machine  # noqa: E402

from training.ml.faces import detect_faces  # noqa: E402

PHOTOS = ("astronaut", "camera", "coffee", "chelsea", "rocket", "immunohistochemistry")


def timed(run, rounds: int) -> float:
    """Median seconds of ``run()`` over ``rounds``."""
    seconds = []
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def reference_detector():
    """facenet-pytorch's MTCNN returning every face, or None when it cannot be imported."""
    try:
        from facenet_pytorch import MTCNN
    except ImportError:
        return None
    return MTCNN(keep_all=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8, help="copies per batched call")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    images = {name: Image.fromarray(getattr(data, name)()).convert("RGB") for name in PHOTOS}
    start = time.perf_counter()
    detect_faces([images["astronaut"]])
    first = time.perf_counter() - start
    reference = reference_detector()
    if reference is not None:
        reference.detect(images["astronaut"])

    print(f"date: {datetime.now(UTC):%Y-%m-%d}; machine: {machine()}")
    print(f"torch {torch.__version__}, {args.threads} threads; first call {first:.2f} s")
    print()
    print(
        "| photo | size | faces | one at a time | batch of "
        f"{args.batch} | facenet-pytorch MTCNN, one at a time |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    totals = {"alone": 0.0, "batched": 0.0, "reference": 0.0}
    for name, image in images.items():
        [(boxes, _)] = detect_faces([image])
        alone = timed(lambda image=image: detect_faces([image]), args.rounds)
        copies = [image] * args.batch
        batched = timed(lambda copies=copies: detect_faces(copies), args.rounds) / args.batch
        totals["alone"] += alone
        totals["batched"] += batched
        row = (
            f"| {name} | {image.width}x{image.height} | {len(boxes)} | "
            f"{1 / alone:.1f} img/s | {1 / batched:.1f} img/s |"
        )
        if reference is not None:
            ref = timed(lambda image=image: reference.detect(image), args.rounds)
            totals["reference"] += ref
            row += f" {1 / ref:.1f} img/s |"
        else:
            row += " (not installed) |"
        print(row)
    count = len(images)
    line = (
        f"| all {count} | | | {count / totals['alone']:.1f} img/s | "
        f"{count / totals['batched']:.1f} img/s |"
    )
    if reference is not None:
        line += f" {count / totals['reference']:.1f} img/s |"
    print(line)


if __name__ == "__main__":
    main()
