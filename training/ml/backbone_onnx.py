"""The backbone exported to ONNX and run with ONNX Runtime on the CPU (3x torch's speed here).

torch stays the source of truth: the network is exported from the torch model
(``backbone.load``) with the legacy TorchScript exporter (no onnxscript needed, works
offline), then checked against torch on a fixed probe batch before it is used. The file is
kept per weights file in a cache folder (``<cache>/efficientnet_lite0-<sha256 of the
weights>-fp32.onnx``), written atomically (a temporary file, then ``os.replace``), with the
probe's vectors beside it (``.probe.npy``): a process that finds the file runs the probe
again and compares, so a process without torch (the web server) can use a file a worker
exported and checked, and a stale or damaged file is never trusted.

``int8``: dynamic quantization (``onnxruntime.quantization.quantize_dynamic``) of the
pointwise (1x1) convolutions, weights as signed 8-bit. The depthwise and 3x3 convolutions
stay float: quantizing them too pulls the vectors far from torch's (cosine 0.71 on photos).
Its vectors differ from torch's more than float16 storage does (cosine about 0.98), so the
check at export is a cosine bound, and its embeddings are stored under their own backbone
name (``efficientnet_lite0_int8``): switching re-embeds every input.

Nothing here imports Django; nothing here imports torch unless it must export.
"""

import hashlib
import logging
import os
import tempfile
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

# Part of the file name: bump it when the export itself changes (opset, names, quantization).
FORMAT = 1
OPSET = 17
INPUT, OUTPUT = "pixels", "features"
# fp32: the largest difference from torch allowed on the probe (seen: 2e-5 on values up
# to 5); int8: the smallest cosine of a probe vector to torch's (seen: 0.98).
FP32_MAX_ABS = 1e-3
INT8_MIN_COSINE = 0.95
# The same file run again must give the vectors it gave when it was checked.
RELOAD_MAX_ABS = 1e-4


class ExportFailed(RuntimeError):
    """The ONNX file could not be made, loaded or trusted; the caller runs torch instead."""


def probe_batch(size: int = 224) -> np.ndarray:
    """(3, 3, size, size) float32 in [-1, 1]: a colour gradient, stripes and a checkerboard
    with a disc, computed (no randomness, no files), so every process builds the same."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / (size - 1)
    gradient = np.stack([x, y, 1 - x * y])
    stripes = np.stack([np.sin(20 * x), np.cos(13 * y), np.sin(7 * (x + y))])
    disc = ((x - 0.4) ** 2 + (y - 0.6) ** 2 < 0.08).astype(np.float32)
    checker = ((np.floor(x * 8) + np.floor(y * 8)) % 2).astype(np.float32)
    shapes = np.stack([checker, disc, 0.5 * checker + 0.5 * disc])
    batch = np.stack([gradient * 2 - 1, stripes, shapes * 2 - 1]).astype(np.float32)
    return np.clip(batch, -1.0, 1.0)


@lru_cache(maxsize=4)
def weights_digest(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def model_path(cache_dir: Path, name: str, weights: str, int8: bool) -> Path:
    kind = "int8" if int8 else "fp32"
    return Path(cache_dir) / f"{name}-{weights_digest(weights)}-v{FORMAT}-{kind}.onnx"


def _probe_path(model: Path) -> Path:
    return model.with_suffix(".probe.npy")


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide it from a web server's user
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def threads_default() -> int:
    """The cores this process may use (the container's, not the host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class Session:
    """One ONNX Runtime session: ``run`` takes (n, 3, 224, 224) float32, gives (n, 1280)."""

    def __init__(self, model: bytes | str, threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or threads_default()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])

    def run(self, batch: np.ndarray) -> np.ndarray:
        return self._session.run([OUTPUT], {INPUT: np.ascontiguousarray(batch)})[0]


def export_fp32(net) -> bytes:
    """The torch module as ONNX bytes, batch size free (legacy TorchScript exporter)."""
    import io
    import warnings

    import torch

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
        torch.onnx.export(
            net,
            (torch.zeros(1, 3, 224, 224),),
            buffer,
            dynamo=False,
            opset_version=OPSET,
            input_names=[INPUT],
            output_names=[OUTPUT],
            dynamic_axes={INPUT: {0: "n"}, OUTPUT: {0: "n"}},
        )
    return buffer.getvalue()


def quantize_int8(fp32: bytes) -> bytes:
    """Dynamic int8 quantization of the pointwise convolutions of an fp32 export."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load_from_string(fp32)
    keep_float = [
        node.name for node in model.graph.node if node.op_type == "Conv" and _kernel(node) != [1, 1]
    ]
    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / "fp32.onnx", Path(folder) / "int8.onnx"
        source.write_bytes(fp32)
        quantize_dynamic(source, target, weight_type=QuantType.QInt8, nodes_to_exclude=keep_float)
        return target.read_bytes()


def _kernel(node) -> list[int]:
    from onnx import helper

    for attribute in node.attribute:
        if attribute.name == "kernel_shape":
            return list(helper.get_attribute_value(attribute))
    return []


def agreement_check(onnx_out: np.ndarray, torch_out: np.ndarray, int8: bool) -> None:
    """Raise ExportFailed unless the exported network gives torch's vectors (fp32: to
    within ``FP32_MAX_ABS``; int8: each vector at cosine >= ``INT8_MIN_COSINE``)."""
    if onnx_out.shape != torch_out.shape or not np.isfinite(onnx_out).all():
        raise ExportFailed(f"ONNX gave {onnx_out.shape} vectors, torch {torch_out.shape}.")
    if int8:
        cosine = (onnx_out * torch_out).sum(axis=1) / (
            np.linalg.norm(onnx_out, axis=1) * np.linalg.norm(torch_out, axis=1) + 1e-12
        )
        if cosine.min() < INT8_MIN_COSINE:
            raise ExportFailed(f"int8 vectors at cosine {cosine.min():.3f} of torch's.")
        return
    worst = float(np.abs(onnx_out - torch_out).max())
    if worst > FP32_MAX_ABS:
        raise ExportFailed(f"ONNX vectors differ from torch's by up to {worst:.2e}.")


def session_open(
    *,
    cache_dir: Path | None,
    name: str,
    weights: str,
    int8: bool,
    torch_forward: Callable[[np.ndarray], np.ndarray] | None,
    net_load: Callable | None,
    threads: int | None = None,
) -> Session:
    """A checked session for the backbone: from the cache when a file is there and still
    gives its probe vectors, else exported now (needs ``net_load``, the torch module, and
    ``torch_forward``, to compare), checked against torch, then cached. Without a cache
    folder the export lives in memory for this process only. Raises ExportFailed (or the
    error underneath) when there is no trustworthy session; never returns a wrong one."""
    import onnxruntime  # noqa: F401  (missing: fail now, before any export)

    probe = probe_batch()
    path = model_path(cache_dir, name, weights, int8) if cache_dir else None
    session = _cached(path, probe, threads) if path is not None else None
    if session is not None:
        return session
    if net_load is None or torch_forward is None:
        raise ExportFailed("No checked ONNX export is cached and torch is not at hand.")
    data = export_fp32(net_load())
    if int8:
        data = quantize_int8(data)
    session = Session(data, threads)
    got = session.run(probe)
    agreement_check(got, torch_forward(probe), int8)
    if path is not None:
        _write_atomically(_probe_path(path), _npy(got))
        _write_atomically(path, data)  # last: the model file's presence means "checked"
        logger.info("Exported the backbone to %s", path)
    return session


def _cached(path: Path, probe: np.ndarray, threads: int | None) -> Session | None:
    """The cached export at ``path`` if it is there and still gives its probe vectors."""
    if not (path.is_file() and _probe_path(path).is_file()):
        return None
    try:
        session = Session(str(path), threads)
        difference = np.abs(session.run(probe) - np.load(_probe_path(path))).max()
    except Exception as exc:  # a damaged file is exported again, whatever the error
        logger.warning("The cached ONNX backbone %s is unusable (%s).", path, exc)
        return None
    if difference > RELOAD_MAX_ABS:
        logger.warning("The cached ONNX backbone %s gives other vectors than it did.", path)
        return None
    return session


def cached_session(
    *, cache_dir: Path | None, name: str, weights: str, int8: bool, threads: int | None = None
) -> Session | None:
    """A session from a checked cached export, without torch (the web process); None when
    there is none yet (a worker exports it on its first embedding)."""
    if cache_dir is None or not model_path(cache_dir, name, weights, int8).is_file():
        return None
    try:
        return session_open(
            cache_dir=cache_dir,
            name=name,
            weights=weights,
            int8=int8,
            torch_forward=None,
            net_load=None,
            threads=threads,
        )
    except Exception as exc:
        logger.warning("No ONNX backbone for this process (%s).", exc)
        return None


def _npy(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()
