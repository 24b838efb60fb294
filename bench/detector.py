"""The object detector on the synthetic digits set: training time, mAP, inference rate.

Trains ``train_detector`` on N synthetic images (handwritten digits pasted on scikit-image's
sample photos, ``training.ml.synthetic``; seed 1) and evaluates on M others (seed 2) with
pycocotools, once with the pretrained stages frozen and once with the last stages unfrozen.
Inference is timed twice on the eval images: ``Detector.predict`` end to end (letterbox,
normalise, network, decoding, NMS, back to normalised boxes), and the bare network (backbone,
pyramid and head on ready-made input tensors) as the limit.

    .venv/bin/python bench/detector.py [--train 300] [--eval 100] [--classes 3] \\
        [--image-size 320] [--epochs N] [--unfreeze 0,2] [--learning-rate R] \\
        [--torch-threads 2]

Goal: mAP@0.5 >= 0.90 on the eval images. The default is 3 classes (digits 0-2, as the demo
project): on 2 cores it reaches 0.94 with the defaults (12 epochs, about 4 minutes); with all
10 digits the same schedule gave 0.46 (telling ten blurry 8x8 glyphs apart needs more than
76 examples a class and 12 epochs). Pure ML: no Django, no database.
"""

import argparse
import os
import platform
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from training.ml.detection_eval import evaluate_detections  # noqa: E402
from training.ml.detector import DetectorParams, letterbox, train_detector  # noqa: E402
from training.ml.synthetic import make_digits_set  # noqa: E402

GOAL = 0.90


def machine() -> str:
    # bench/common.py has the same line but needs Django set up; this bench does not.
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next(ln.split(":", 1)[1].strip() for ln in lscpu.splitlines() if "Model name" in ln)
    except (OSError, StopIteration):
        model = platform.processor() or platform.machine()
    return f"{model}, {os.cpu_count()} cores, python {platform.python_version()}"


def bare_rate(detector, images, batch_size: int = 16) -> float:
    """Images per second through backbone, pyramid and head alone (inputs prepared first)."""
    size = detector.params.image_size
    pixels = np.stack([letterbox(image, size).pixels for image in images])
    batch = torch.from_numpy(pixels).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)
    model = detector.model.eval()
    with torch.inference_mode():
        model.head(list(model.backbone(batch[:2]).values()))  # warm up
        start = time.perf_counter()
        for i in range(0, len(batch), batch_size):
            model.head(list(model.backbone(batch[i : i + batch_size]).values()))
        return len(batch) / (time.perf_counter() - start)


def run(label: str, params: DetectorParams, train, held_out, classes: int) -> None:
    start = time.perf_counter()
    detector = train_detector(train.images, train.targets(), params, num_classes=classes)
    trained = time.perf_counter() - start
    detector.predict(held_out.images[:2])  # warm up
    start = time.perf_counter()
    predictions = detector.predict(held_out.images)
    predict_rate = len(held_out.images) / (time.perf_counter() - start)
    limit = bare_rate(detector, held_out.images)
    metrics = evaluate_detections(held_out.targets(), predictions, classes, score_threshold=0.5)
    verdict = "reached" if metrics["map50"] >= GOAL else "NOT reached"
    print(f"\n{label}: {params}")
    print(
        f"  training {trained:.1f} s ({trained / params.epochs:.1f} s an epoch), "
        f"loss by epoch {' '.join(f'{v:.2f}' for v in detector.losses)}"
    )
    print(
        f"  mAP@0.5 {metrics['map50']:.3f} (goal >= {GOAL}: {verdict}), "
        f"mAP@[.5:.95] {metrics['map']:.3f}"
    )
    ap50 = [row["ap50"] for row in metrics["per_class"]]
    print("  per class AP@0.5 " + " ".join("-" if a is None else f"{a:.2f}" for a in ap50))
    at = [(row["precision"] or 0.0, row["recall"] or 0.0) for row in metrics["per_class"]]
    print(
        f"  at score >= 0.5: mean precision {np.mean([p for p, _ in at]):.3f}, "
        f"mean recall {np.mean([r for _, r in at]):.3f}"
    )
    print(
        f"  inference: predict {predict_rate:.1f} img/s, bare network {limit:.1f} img/s "
        f"({predict_rate / limit:.2f} of it)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train", type=int, default=300, help="training images")
    parser.add_argument("--eval", type=int, default=100, help="evaluation images")
    parser.add_argument("--classes", type=int, default=3, help="digits 0 .. classes-1")
    parser.add_argument("--image-size", type=int, default=DetectorParams.image_size)
    parser.add_argument("--epochs", type=int, default=DetectorParams.epochs)
    parser.add_argument(
        "--unfreeze", default="0,2", help="one run per value: stages unfrozen (0: frozen)"
    )
    parser.add_argument("--learning-rate", type=float, default=DetectorParams.learning_rate)
    parser.add_argument("--torch-threads", type=int, default=2, help="0: torch's default")
    args = parser.parse_args()
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {machine()}, torch threads {torch.get_num_threads()}, device cpu")
    start = time.perf_counter()
    train = make_digits_set(args.train, classes=args.classes, seed=1)
    held_out = make_digits_set(args.eval, classes=args.classes, seed=2)
    boxes = sum(len(c) for c in train.classes), sum(len(c) for c in held_out.classes)
    print(
        f"data: {args.train} train images ({boxes[0]} digits), {args.eval} eval images "
        f"({boxes[1]} digits), {args.classes} classes, made in "
        f"{time.perf_counter() - start:.1f} s (not counted)"
    )
    params = DetectorParams(
        image_size=args.image_size, epochs=args.epochs, learning_rate=args.learning_rate
    )
    for stages in (int(v) for v in args.unfreeze.split(",")):
        label = f"last {stages} stages unfrozen" if stages else "frozen backbone"
        run(label, replace(params, unfreeze_stages=stages), train, held_out, args.classes)


if __name__ == "__main__":
    main()
