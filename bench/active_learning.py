"""Active-learning efficiency and automatic-label precision on scikit-learn's digits.

Uses the real EfficientNet-Lite0 embeddings of the 1,797 digits (the demo's PNGs through
``training.ml.backbone.embed``; computed once and cached as .npy) and the portal's own model
code: ``train_head`` with the layout of a 10-option exclusive group, ``evaluate``,
``training.ml.active.priorities``, ``tune_threshold`` and ``route``. No database.

1. Labels needed: a fixed, stratified 30 % eval set; the rest is the pool. The loop starts
   from one label per class, trains the head, measures accuracy on the eval set, and asks
   the oracle (the true labels) for the next 10 inputs, chosen at random or by the portal's
   priorities ('uncertainty', 'diversity'), until the accuracy reaches 95 % of what the head
   reaches on the whole pool. Mean over seeds (the seed picks the first labels and the
   random batches). Goal: >= 2.5x fewer labels than random.
2. Automatic labels: the head trained on the whole pool; thresholds tuned to precision 0.99
   on one half of the eval set, ``route`` (band 0.2) on the other half (the remaining
   inputs), over ``--splits`` random halvings (a half is only 270 digits). Prints the share
   labeled automatically and the precision of those labels against the true digits, pooled
   over the splits. Goal: precision >= 0.98.

A third order is shown for reference, not offered by the portal: ``margin``, the 10 smallest
margins (``training.ml.active.margins``) without the spread over clusters. The head trains
with the portal's defaults (``--steps`` lowers the steps); torch uses one thread for the
loop's hundreds of small trainings (``--torch-threads 0``: one per core).

    .venv/bin/python bench/active_learning.py [--seeds 3] [--splits 20] [--steps 300] \\
        [--torch-threads 1]
"""

import argparse
import io
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("PORTAL_DATA_DIR", tempfile.mkdtemp(prefix="bench-active-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django  # noqa: E402

django.setup()  # for labeling.demo's digit_png; nothing here touches the database

import numpy as np  # noqa: E402
import torch  # noqa: E402
from common import machine  # noqa: E402
from django.conf import settings  # noqa: E402
from PIL import Image  # noqa: E402

from labeling.demo import digit_png  # noqa: E402
from training.ml import backbone  # noqa: E402
from training.ml.active import DIVERSITY, RANDOM, UNCERTAINTY, margins, priorities  # noqa: E402
from training.ml.head import HeadParams, decision_scores, train_head  # noqa: E402
from training.ml.layout import Layout  # noqa: E402
from training.ml.metrics import evaluate  # noqa: E402
from training.ml.routing import AUTO, DOUBT, route  # noqa: E402
from training.ml.thresholds import tune_threshold  # noqa: E402

CLASSES, BATCH = 10, 10
MARGIN = "margin"  # reference only: smallest margins, no clusters
LAYOUT = Layout.from_choices((d, 1) for d in range(CLASSES))  # one exclusive group
CACHE = Path(tempfile.gettempdir()) / "portal-bench" / "digits-efficientnet_lite0.npy"


def digit_features(cache: Path) -> tuple[np.ndarray, np.ndarray, float | None]:
    """(features, targets, seconds spent embedding or None when cached)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    if cache.exists():
        features = np.load(cache)
        if features.shape == (len(digits.target), backbone.DIM):
            return features, digits.target, None
    start = time.perf_counter()
    parts = []
    for i in range(0, len(digits.data), 32):
        images = [Image.open(io.BytesIO(digit_png(p))) for p in digits.data[i : i + 32]]
        parts.append(backbone.embed(images))
    features = np.concatenate(parts)
    # stored as the portal stores them (float16), read back as float32
    features = features.astype(np.float16).astype(np.float32)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, features)
    return features, digits.target, time.perf_counter() - start


def split(targets: np.ndarray, eval_share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified: (pool indexes, eval indexes)."""
    rng = np.random.default_rng(seed)
    pool, held = [], []
    for c in range(CLASSES):
        members = rng.permutation(np.flatnonzero(targets == c))
        cut = int(round(len(members) * eval_share))
        held.extend(members[:cut])
        pool.extend(members[cut:])
    return np.array(sorted(pool)), np.array(sorted(held))


def targets_of(classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return LAYOUT.targets([{int(c)} for c in classes])


def fit(features, classes, params):
    y, known = targets_of(classes)
    return train_head(features, y, known, LAYOUT, params)


def accuracy(head, features, classes) -> float:
    probs = head.probabilities(features)
    y, known = targets_of(classes)
    return evaluate(probs, decision_scores(probs, LAYOUT), y, known, LAYOUT)["accuracy"]


def labels_needed(strategy, x, t, pool, held, target, params, seed) -> tuple[int, list]:
    """Labels in hand when the eval accuracy first reaches ``target`` (the pool size if never),
    and the curve [(labels, accuracy)]."""
    rng = np.random.default_rng(seed)
    labeled = [int(rng.choice(pool[t[pool] == c])) for c in range(CLASSES)]
    curve = []
    while True:
        head = fit(x[labeled], t[labeled], params)
        acc = accuracy(head, x[held], t[held])
        curve.append((len(labeled), acc))
        taken = set(labeled)
        rest = np.array([i for i in pool if i not in taken])
        if acc >= target or not len(rest):
            return len(labeled), curve
        if strategy == RANDOM:
            batch = rng.choice(rest, min(BATCH, len(rest)), replace=False)
        elif strategy == MARGIN:
            margin = margins(head.probabilities(x[rest]), LAYOUT)
            batch = rest[np.argsort(margin, kind="mergesort")[:BATCH]]
        else:
            probs = head.probabilities(x[rest]) if strategy == UNCERTAINTY else None
            score = priorities(strategy, x[rest], probs, LAYOUT if probs is not None else None)
            batch = rest[np.argsort(-score, kind="mergesort")[:BATCH]]
        labeled.extend(int(i) for i in batch)


def auto_labels(head, x, t, held, seed, target_precision=0.99, band=0.2) -> dict:
    """Tune on a random half of the eval set, route the other half."""
    rng = np.random.default_rng(1000 + seed)
    order = rng.permutation(held)
    tune, rest = order[: len(order) // 2], order[len(order) // 2 :]
    probs = head.probabilities(x[tune])
    scores = decision_scores(probs, LAYOUT)
    y, _ = targets_of(t[tune])
    thresholds = [
        tune_threshold(
            scores[:, c], y[:, c], target_precision, min_kept=settings.TRAINING_THRESHOLD_MIN_KEPT
        ).threshold
        for c in range(CLASSES)
    ]
    bands, labels = route(head.probabilities(x[rest]), LAYOUT, thresholds, band)
    auto = bands == AUTO
    right = int((labels[auto].argmax(axis=1) == t[rest][auto]).sum())
    return {
        "n": len(rest),
        "auto": int(auto.sum()),
        "doubt": int((bands == DOUBT).sum()),
        "right": right,
        "unreachable": sum(th is None for th in thresholds),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--splits", type=int, default=20, help="eval halvings for part 2")
    parser.add_argument("--steps", type=int, default=HeadParams().steps, help="head steps")
    parser.add_argument("--eval-share", type=float, default=0.3)
    parser.add_argument("--goal-share", type=float, default=0.95, help="of full-pool accuracy")
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument(
        "--torch-threads", type=int, default=1, help="for the loop; 0: one per core"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    x, t, embedded = digit_features(args.cache)  # with torch's default threads
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)  # the head's small matmuls gain nothing
    params = HeadParams(steps=args.steps)
    pool, held = split(t, args.eval_share, seed=0)

    full = fit(x[pool], t[pool], params)
    full_acc = accuracy(full, x[held], t[held])
    target = args.goal_share * full_acc
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {machine()}, torch threads {torch.get_num_threads()}")
    how = f"embedded in {embedded:.0f} s" if embedded else "cached"
    print(f"digits: {len(t)} images, EfficientNet-Lite0 features ({how}: {args.cache})")
    print(f"pool {len(pool)}, eval {len(held)}; head {params}")
    print(
        f"full-pool accuracy {full_acc:.4f}; goal accuracy {target:.4f} "
        f"({args.goal_share:.0%} of it)"
    )

    print("\n1. labels needed to reach the goal accuracy (start: 1 per class, batches of 10)")
    needed: dict[str, list[int]] = {}
    for strategy in (RANDOM, UNCERTAINTY, DIVERSITY, MARGIN):
        needed[strategy] = []
        for seed in range(args.seeds):
            count, curve = labels_needed(strategy, x, t, pool, held, target, params, seed)
            needed[strategy].append(count)
            path = " ".join(f"{n}:{a:.3f}" for n, a in curve[:: max(1, len(curve) // 6)])
            print(f"  {strategy:11s} seed {seed}: {count:4d} labels  ({path} ...)")
    base = np.mean(needed[RANDOM])
    print(f"\n  {'strategy':11s}  labels (mean)  per seed           random / strategy")
    for strategy, counts in needed.items():
        mean = np.mean(counts)
        note = "  (reference, not a portal strategy)" if strategy == MARGIN else ""
        print(f"  {strategy:11s}  {mean:13.1f}  {str(counts):18s} {base / mean:5.2f}x{note}")
    best = max((UNCERTAINTY, DIVERSITY), key=lambda s: base / np.mean(needed[s]))
    gain = base / np.mean(needed[best])
    print(
        f"  goal >= 2.5x fewer labels than random: best is {best} at {gain:.2f}x "
        f"({gain / 2.5:.2f} of the goal)"
    )

    print("\n2. automatic labels: tuned at precision 0.99 on half the eval set, band 0.2")
    rows = [auto_labels(full, x, t, held, seed) for seed in range(args.splits)]
    shares = [r["auto"] / r["n"] for r in rows]
    precisions = [r["right"] / max(r["auto"], 1) for r in rows]
    print(
        f"  {len(rows)} random halvings of {rows[0]['n']} + {len(held) - rows[0]['n']}: auto share "
        f"{min(shares):.1%} to {max(shares):.1%}, precision {min(precisions):.4f} to "
        f"{max(precisions):.4f}, doubt {np.mean([r['doubt'] / r['n'] for r in rows]):.1%} "
        f"on average, digits never auto: {sum(r['unreachable'] for r in rows)} in all"
    )
    auto, right, n = (sum(r[k] for r in rows) for k in ("auto", "right", "n"))
    precision = right / max(auto, 1)
    print(
        f"  pooled: {auto / n:.1%} of the remaining inputs labeled automatically, precision "
        f"{precision:.4f} ({auto - right} wrong of {auto}); goal >= 0.98: "
        f"{'met' if precision >= 0.98 else 'missed'}"
    )
    print(f"\nran in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
