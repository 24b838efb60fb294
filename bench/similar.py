""" "Find similar" at scale: the project's search index at N vectors (default 1,000,000).

Vectors: synthetic, clustered, 1280-d, stored as float16 like the portal's embeddings
(``--clusters`` centres, ten sub-centres each, noise on top), written straight to the index
builder the worker uses (``vector_index.index_train`` on a sample, ``index_add`` in chunks
of ``search_index.CHUNK``) and saved with ``search_index_save`` as the project's index.
Build time is timed.

Queries: the portal's own query path, ``training.similar.nearest_input_ids`` (read the
index record, the memory-mapped index opened once per process, the nearest lists scanned,
the embeddings newer than the index searched exactly beside it: a database query), k = 12,
in a fresh process that holds nothing else (as a web process would). Half the queries are
stored vectors ("find similar" on an input), half new ones ("search by image"). Reported:
p50 / p95 latency, recall@12 against exact search (numpy over all N vectors), and the query
process's memory growth from before the first query to after the last: private
(``RssAnon``) and mapped file pages (``RssFile``: the index's pages that queries touched,
shared by every process and dropped by the kernel under pressure).

    .venv/bin/python bench/similar.py [--n 1000000] [--queries 400] [--nprobe 32] \\
        [--reuse]  # with PORTAL_DATA_DIR of an earlier run: its index, vectors and answers
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("PORTAL_DATA_DIR", tempfile.mkdtemp(prefix="bench-similar-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from common import machine  # noqa: E402

DIM = 1280
K = 12
PROJECT_ID = 1  # no rows needed: the index files are keyed by project id


def memory() -> dict[str, int]:
    """This process's resident memory by kind, in bytes (from /proc/self/status)."""
    found = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile"):
            found[key] = int(value.split()[0]) * 1024
    return found


class Synthetic:
    """Clustered vectors, made chunk by chunk from a seed (the same chunk every time)."""

    def __init__(self, n: int, clusters: int, seed: int = 0, noise: float = 0.8):
        rng = np.random.default_rng(seed)
        self.n, self.noise = n, noise
        self.centres = rng.normal(size=(clusters, DIM)).astype(np.float32)
        self.subs = 0.6 * rng.normal(size=(clusters * 10, DIM)).astype(np.float32)
        self.seed = seed

    def draw(self, count: int, rng) -> np.ndarray:
        sub = rng.integers(0, len(self.subs), count)
        x = self.centres[sub // 10] + self.subs[sub] + self.noise * rng.normal(size=(count, DIM))
        return x.astype(np.float16)

    def chunk(self, start: int, size: int) -> np.ndarray:
        return self.draw(size, np.random.default_rng([self.seed, start]))


def build(data: Synthetic, store: Path) -> dict:
    """Train, add chunk by chunk, save; times the index work only (not making the data)."""
    from training.ml import vector_index
    from training.services import search_index

    nlist = vector_index.list_count(data.n)
    sample = data.draw(vector_index.train_size(nlist), np.random.default_rng(99))
    started = time.perf_counter()
    index = vector_index.index_train(sample, data.n)
    train_s = time.perf_counter() - started
    add_s = 0.0
    vectors = np.lib.format.open_memmap(store, mode="w+", dtype=np.float16, shape=(data.n, DIM))
    for start in range(0, data.n, search_index.CHUNK):
        chunk = data.chunk(start, min(search_index.CHUNK, data.n - start))
        vectors[start : start + len(chunk)] = chunk
        ids = np.arange(start + 1, start + len(chunk) + 1)  # input ids from 1
        started = time.perf_counter()
        vector_index.index_add(index, ids, chunk)
        add_s += time.perf_counter() - started
    vectors.flush()
    started = time.perf_counter()
    record = search_index.search_index_save(
        PROJECT_ID, index, data.n, trained_for=data.n, rows=(data.n, data.n)
    )
    save_s = time.perf_counter() - started
    size = (search_index.index_dir() / record.file).stat().st_size
    return {"nlist": nlist, "bytes": size, "train_s": train_s, "add_s": add_s, "save_s": save_s}


def exact(vectors: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Input ids (row + 1) of the exact K nearest of each query, by cosine."""
    from training.ml.vector_index import unit_rows

    q = unit_rows(queries)
    best_s = np.full((len(q), K), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(q), K), dtype=np.int64)
    for start in range(0, len(vectors), 50_000):
        block = unit_rows(vectors[start : start + 50_000])
        sims = q @ block.T
        s = np.concatenate([best_s, sims], axis=1)
        i = np.concatenate(
            [best_i, np.arange(start, start + len(block))[None, :].repeat(len(q), 0)], axis=1
        )
        top = np.argpartition(-s, K - 1, axis=1)[:, :K]
        best_s, best_i = np.take_along_axis(s, top, 1), np.take_along_axis(i, top, 1)
    return best_i + 1


def query_process(queries_file: str, out_file: str, nprobe: int) -> None:
    """Run in a fresh process: the portal's query path, timed, with its memory growth."""
    from django.conf import settings

    from training.similar import nearest_input_ids

    settings.TRAINING_SEARCH_NPROBE = nprobe
    queries = np.load(queries_file)
    start = memory()
    import faiss  # noqa: F401 (the library's code pages: once per process, shared)

    before = memory()
    library = before["VmRSS"] - start["VmRSS"]
    first = time.perf_counter()
    nearest_input_ids(PROJECT_ID, queries[0], K)  # opens (maps) the index
    open_s = time.perf_counter() - first
    passes = []
    for _ in range(2):  # the first from disk, as pages come in; the second from memory
        times, found = [], []
        for query in queries:
            started = time.perf_counter()
            rows = nearest_input_ids(PROJECT_ID, query, K)
            times.append(time.perf_counter() - started)
            found.append([i for i, _ in rows])
        passes.append(times)
    after = memory()
    Path(out_file).write_text(
        json.dumps(
            {
                "cold": passes[0],
                "times": passes[1],
                "found": found,
                "open_s": open_s,
                "library": library,
                "growth": {key: after[key] - before[key] for key in before},
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--clusters", type=int, default=2000)
    parser.add_argument("--noise", type=float, default=0.8, help="more: harder to search")
    parser.add_argument("--nprobe", type=int, nargs="+", default=[32])
    parser.add_argument(
        "--reuse", action="store_true", help="query the index and vectors a run left here"
    )
    parser.add_argument("--query-process", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.query_process:
        queries_file, out_file, nprobe = args.query_process
        query_process(queries_file, out_file, int(nprobe))
        return

    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"],
        cwd=Path(__file__).resolve().parents[1],
        check=True,
    )
    work = Path(os.environ["PORTAL_DATA_DIR"])
    data = Synthetic(args.n, args.clusters, noise=args.noise)
    if args.reuse:
        built = json.loads((work / "built.json").read_text())
    else:
        built = build(data, work / "vectors.npy")
        (work / "built.json").write_text(json.dumps(built))
    build_s = built["train_s"] + built["add_s"] + built["save_s"]
    vectors = np.load(work / "vectors.npy", mmap_mode="r")
    rng = np.random.default_rng(7)
    half = args.queries // 2
    stored = vectors[np.sort(rng.choice(args.n, half, replace=False))].astype(np.float32)
    queries = np.concatenate([stored, data.draw(args.queries - half, rng).astype(np.float32)])
    np.save(work / "queries.npy", queries)
    if args.reuse and (work / "truth.npz").exists():
        saved = np.load(work / "truth.npz")
        truth, exact_s = saved["truth"], float(saved["seconds"])
    else:
        started = time.perf_counter()
        truth = exact(vectors, queries)
        exact_s = (time.perf_counter() - started) / len(queries)
        np.savez(work / "truth.npz", truth=truth, seconds=exact_s)

    print(
        f"{args.n:,} vectors of {DIM} (float16), {built['nlist']} lists, index file "
        f"{built['bytes'] / 1e9:.2f} GB; built in {build_s:.0f} s "
        f"(k-means {built['train_s']:.0f} s, adding {built['add_s']:.0f} s, "
        f"writing {built['save_s']:.0f} s); exact numpy search {exact_s * 1000:.0f} ms/query"
    )
    print(f"machine: {machine()}; date {datetime.now(UTC):%Y-%m-%d}")
    for nprobe in args.nprobe:
        out = work / f"found-{nprobe}.json"
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--query-process",
                str(work / "queries.npy"),
                str(out),
                str(nprobe),
            ],
            check=True,
        )
        result = json.loads(out.read_text())
        times = np.array(result["times"]) * 1000
        cold = np.array(result["cold"]) * 1000
        recall = np.mean(
            [len(set(f) & set(t.tolist())) / K for f, t in zip(result["found"], truth, strict=True)]
        )
        growth = {key: value / 1e6 for key, value in result["growth"].items()}
        print(
            f"nprobe {nprobe}: {len(times)} queries, p50 {np.percentile(times, 50):.1f} ms, "
            f"p95 {np.percentile(times, 95):.1f} ms (first pass, pages read from disk: p50 "
            f"{np.percentile(cold, 50):.1f} ms, p95 {np.percentile(cold, 95):.1f} ms), "
            f"recall@{K} {recall:.3f}; first query "
            f"(maps the index) {result['open_s'] * 1000:.0f} ms; memory growth: private "
            f"{growth['RssAnon']:.0f} MB, mapped index pages {growth['RssFile']:.0f} MB (after "
            f"loading faiss itself: {result['library'] / 1e6:.0f} MB)"
        )


if __name__ == "__main__":
    main()
