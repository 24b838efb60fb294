"""What dynamic int8 quantization of the backbone changes, on scikit-learn's digits.

The 1,797 digits (the demo's PNGs) go through the ONNX backbone in float
(``efficientnet_lite0``) and int8 (``efficientnet_lite0_int8``), batch by batch, the two
taking turns, the vectors stored as the portal stores them (float16). Then:

1. the vectors: cosine of each int8 vector to its float one;
2. the context classifier (``train_head`` with the portal's defaults, one exclusive group of
   10) trained on each kind of vector, on the same stratified 70 % (``--seeds`` splits), and
   its accuracy on the other 30 %; how often the two heads predict the same digit; and the
   float head applied to int8 vectors (what routing does after switching, until a retrain);
3. the bare forward pass of each, images per second on the same batches.

    .venv/bin/python bench/quantization.py [--seeds 3]
"""

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("PORTAL_DATA_DIR", tempfile.mkdtemp(prefix="bench-quantization-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django  # noqa: E402

django.setup()  # for labeling.demo's digit_png and the export cache; no database

import numpy as np  # noqa: E402
import onnxruntime  # noqa: E402
from active_learning import accuracy, fit, split  # noqa: E402
from common import machine  # noqa: E402

from labeling.demo import digit_png  # noqa: E402
from training.ml import backbone, backbone_onnx  # noqa: E402
from training.ml.features import image_open  # noqa: E402
from training.ml.head import HeadParams  # noqa: E402

BATCH = 32
KINDS = {"float": backbone.forward, "int8": backbone.forward_int8}


def embed_both(data: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Vectors (float16 round trip) and forward seconds of each kind, same batches."""
    vectors: dict[str, list] = {kind: [] for kind in KINDS}
    seconds = dict.fromkeys(KINDS, 0.0)
    for i, start in enumerate(range(0, len(data), BATCH)):
        images = [image_open(io.BytesIO(digit_png(p))) for p in data[start : start + BATCH]]
        batch = backbone.preprocess(images)
        order = list(KINDS) if i % 2 == 0 else list(reversed(KINDS))
        for kind in order:
            t0 = time.perf_counter()
            out = KINDS[kind](batch)
            seconds[kind] += time.perf_counter() - t0
            vectors[kind].append(out.astype(np.float16).astype(np.float32))
    return {kind: np.concatenate(v) for kind, v in vectors.items()}, seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--eval-share", type=float, default=0.3)
    args = parser.parse_args()
    from sklearn.datasets import load_digits

    digits = load_digits()
    t = digits.target
    warm = backbone.preprocess([image_open(io.BytesIO(digit_png(digits.data[0])))] * BATCH)
    for kind, forward in KINDS.items():  # export (once) outside the timings
        forward(warm)
        assert backbone.runtime_in_use(int8=kind == "int8") == "onnx", f"no ONNX {kind}"
    x, seconds = embed_both(digits.data)

    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"machine: {machine()}, onnxruntime {onnxruntime.__version__} "
        f"threads {backbone_onnx.threads_default()}"
    )
    print(f"digits: {len(t)} images; head {HeadParams()}; eval share {args.eval_share}")
    a, b = x["float"], x["int8"]
    cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    print(
        f"1. int8 vs float vectors: cosine min {cosine.min():.4f}, median "
        f"{np.median(cosine):.4f}, mean {cosine.mean():.4f}; largest difference "
        f"{np.abs(a - b).max():.3f} (values up to {np.abs(a).max():.2f})"
    )
    rows = []
    for seed in range(args.seeds):
        pool, held = split(t, args.eval_share, seed=seed)
        heads = {kind: fit(x[kind][pool], t[pool], HeadParams()) for kind in KINDS}
        guesses = {k: h.probabilities(x[k][held]).argmax(1) for k, h in heads.items()}
        rows.append(
            {
                "float": accuracy(heads["float"], x["float"][held], t[held]),
                "int8": accuracy(heads["int8"], x["int8"][held], t[held]),
                "float head on int8": accuracy(heads["float"], x["int8"][held], t[held]),
                "agreement": float((guesses["float"] == guesses["int8"]).mean()),
            }
        )
        print(f"   seed {seed}: " + ", ".join(f"{k} {v:.4f}" for k, v in rows[-1].items()))
    print("2. eval accuracy (mean over seeds):")
    for key in rows[0]:
        print(f"   {key:20s} {statistics.mean(r[key] for r in rows):.4f}")
    change = statistics.mean(r["int8"] - r["float"] for r in rows)
    print(f"   int8 - float: {change:+.4f}")
    print("3. bare forward, same batches of 32, taking turns:")
    for kind in KINDS:
        print(f"   {kind:5s} {len(t) / seconds[kind]:7.1f} img/s")
    print(f"   int8 / float: {seconds['float'] / seconds['int8']:.2f}")


if __name__ == "__main__":
    main()
