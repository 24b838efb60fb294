"""The deep classifier against the context classifier on the demo's digits, same split.

Every digit of scikit-learn's set becomes the demo's 8x8 PNG (``labeling.demo.digit_png``),
deduplicated by sha256 and split as ingest splits it (``split_for_hash``, 20 % eval), so both
models see the demo project's train and eval inputs. The context classifier: EfficientNet-Lite0
embeddings at 224 px, then the head with its default parameters (``train_head``). The deep
classifier: ``train_deep`` with the parameters given here, early stopping on the eval split
(as the model loop runs it). Reports eval accuracy and macro F1 (``metrics.evaluate``, as the
version page shows them) and wall-clock times.

    .venv/bin/python bench/deep_classifier.py [--image-size 64] [--epochs 8] \\
        [--batch-size 32] [--threads 2] [--freeze-stages 0]

No database: the data are built in memory.
"""

import argparse
import hashlib
import io
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
import torch  # noqa: E402
from common import machine  # noqa: E402
from PIL import Image  # noqa: E402

from labeling.demo import digit_png  # noqa: E402
from labeling.ingest.splits import split_for_hash  # noqa: E402
from training.ml import backbone  # noqa: E402
from training.ml.deep import DeepParams, Labeled, train_deep  # noqa: E402
from training.ml.head import decision_scores, train_head  # noqa: E402
from training.ml.layout import Layout  # noqa: E402
from training.ml.metrics import evaluate  # noqa: E402


def demo_split():
    """(train, eval) lists of (PIL image, digit), as the demo project splits them."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    seen, parts = set(), {"train": [], "eval": []}
    for pixels, target in zip(digits.data, digits.target, strict=True):
        data = digit_png(pixels)
        sha = hashlib.sha256(data).hexdigest()
        if sha in seen:
            continue
        seen.add(sha)
        image = Image.open(io.BytesIO(data))
        image.load()
        parts[split_for_hash(sha, 0.2)].append((image, int(target)))
    return parts["train"], parts["eval"]


def scores(probs, targets, layout):
    y, known = layout.targets([{t} for t in targets])
    report = evaluate(probs, decision_scores(probs, layout), y, known, layout)
    return report["accuracy"], report["macro_f1"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--freeze-stages", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    train, evaluation = demo_split()
    layout = Layout.from_choices([(d, 100) for d in range(10)])
    labeled = {
        name: Labeled([i for i, _ in part], *layout.targets([{t} for _, t in part]))
        for name, part in (("train", train), ("eval", evaluation))
    }
    eval_targets = [t for _, t in evaluation]
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: {machine()}")
    print(f"train {len(train)} / eval {len(evaluation)} digits; torch threads {args.threads}")

    started = time.perf_counter()
    features = {
        k: np.concatenate(
            [backbone.embed(v.images[i : i + 64]) for i in range(0, len(v.images), 64)]
        )
        for k, v in labeled.items()
    }
    embedded = time.perf_counter() - started
    head = train_head(features["train"], labeled["train"].y, labeled["train"].known, layout)
    head_time = time.perf_counter() - started - embedded
    accuracy, f1 = scores(head.probabilities(features["eval"]), eval_targets, layout)
    print(
        f"context classifier: eval accuracy {accuracy:.4f}, macro F1 {f1:.4f}; "
        f"embedding {embedded:.1f} s + head {head_time:.1f} s"
    )

    params = DeepParams(
        image_size=args.image_size,
        epochs=args.epochs,
        batch_size=args.batch_size,
        freeze_stages=args.freeze_stages,
    )
    started = time.perf_counter()
    epochs_seen = set()

    def progress(fraction: float, detail: str) -> None:
        epoch = detail.split(",")[0]
        if epoch not in epochs_seen:  # one line per epoch, with the time left
            epochs_seen.add(epoch)
            print(f"  {detail} ({time.perf_counter() - started:.0f} s in)", flush=True)

    model = train_deep(
        labeled["train"],
        layout,
        params,
        evaluation=labeled["eval"],
        progress=progress,
        device="cpu",
    )
    took = time.perf_counter() - started
    accuracy, f1 = scores(model.probabilities(labeled["eval"].images), eval_targets, layout)
    curves = model.curves
    print(
        f"deep classifier ({params.image_size} px, {len(curves.epoch)} epochs, best "
        f"{curves.best_epoch}{', stopped early' if curves.stopped_early else ''}): "
        f"eval accuracy {accuracy:.4f}, macro F1 {f1:.4f}; training {took:.0f} s "
        f"({took / len(curves.epoch):.0f} s an epoch)"
    )
    print("eval F1 per epoch:", curves.eval_f1)
    print("train loss per epoch:", curves.train_loss)


if __name__ == "__main__":
    main()
