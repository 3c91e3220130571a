"""The skeleton side of the model (backbone + Neuron head, up to the six step embeddings) on ONNX Runtime.

Only the part that runs per window is exported: windows (N, 3, T, 25, M) -> embeddings (N, 6, D).
Class embeddings stay outside the graph, so adding a label never touches it; the recogniser compares
the embeddings with its cached label prototypes exactly as on the PyTorch path.

Persons: the PyTorch model skips absent (all-zero) person slots with a data-dependent branch, which an
exported graph cannot hold. The graph (:mod:`neuron_core.export_graph`) instead computes every slot
it is given and averages the present ones with a mask, which gives the same numbers; to keep the
saving, the graph has a dynamic person axis (1..M) and :meth:`OnnxEmbedder.embed` moves each sample's
present persons to the front and cuts the slots no sample uses. A live window (one person, the second
slot empty) thus runs as a one-person graph. The batch axis is dynamic too; the window length is fixed
(the model's).

Graphs are cached in the user cache (``$NEURON_LIVE_CACHE``, else
``~/.cache/neuron-live``, as for the pose bundle) under a hash of the weights and config: the app
exports once per model, and the same weights in two files share one graph. Only the most recently
used graphs are kept, so trying many checkpoints does not fill the disk.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neuron_base import paths
from neuron_base.atomic import atomic_path
from neuron_base.devices import parse_device
from neuron_core.errors import BackendError, ModelError, one_line

if TYPE_CHECKING:  # torch is imported only to export: running a cached graph needs ONNX Runtime alone
    from neuron_core.model import NeuronModel

log = logging.getLogger(__name__)

OPSET = 18
# Bump when the exported graph (neuron_core.export_graph) changes: cached graphs of older versions are
# ignored. 2: built from the weights with the constants folded instead of traced by torch.onnx.export.
EXPORT_VERSION = 2
INPUT_NAME, OUTPUT_NAME = "windows", "embeddings"
KEEP_GRAPHS = 8  # cached graphs kept (most recently used first); each is a few MB
OPTIMIZATION_LEVELS = ("disable", "basic", "extended", "all")


def export_onnx(model: NeuronModel, path: str | os.PathLike[str]) -> Path:
    """Write the skeleton side of ``model`` as an ONNX graph with dynamic batch and person axes.

    The graph is built from the weights by :mod:`neuron_core.export_graph` (an inference-only form of
    the same function, with the constants folded), not traced from the training modules. The file is
    written atomically (``neuron_base.atomic``), so a crash or a concurrent export never leaves a
    half-written graph. BackendError (one line) when it cannot be built or written.
    """
    import onnx

    from neuron_core.export_graph import build_graph

    path = Path(path)
    try:
        graph = build_graph(copy.deepcopy(model).cpu().eval(), INPUT_NAME, OUTPUT_NAME, OPSET)
        with atomic_path(path) as tmp:
            onnx.save(graph, str(tmp))
    except Exception as exc:  # a model the builder does not know, a full disk: all mean "no graph"
        raise BackendError(f"cannot export the model to ONNX ({path}): {one_line(exc)}") from exc
    log.info("exported the model to %s", path)
    return path


def _digest(config: dict[str, Any], weights: Iterable[tuple[str, str, tuple[int, ...], bytes]]) -> str:
    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode())
    for name, dtype, shape, data in weights:
        digest.update(f"{name}:{dtype}:{shape}".encode())
        digest.update(data)
    return digest.hexdigest()[:20]


def model_digest(model: NeuronModel) -> str:
    """A short hash of the config and every weight: what the exported graph depends on."""
    import torch

    def weights() -> Iterator[tuple[str, str, tuple[int, ...], bytes]]:
        for name, tensor in model.state_dict().items():
            value = tensor.detach().cpu().contiguous()
            data = value.flatten().view(torch.uint8).numpy().tobytes()
            yield name, str(value.dtype), tuple(value.shape), data

    return _digest(model.config.to_dict(), weights())


def arrays_digest(config: dict[str, Any], state: Mapping[str, np.ndarray]) -> str:
    """``model_digest`` of the model that ``state`` (numpy weights in the model's order and dtypes)
    and ``config`` (``ModelConfig.to_dict()``) make, computed without torch."""
    weights = (
        (name, f"torch.{value.dtype.name}", tuple(value.shape), np.ascontiguousarray(value).tobytes())
        for name, value in state.items()
    )
    return _digest(config, weights)


def graph_path(digest: str, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the graph of the model with this digest is (or will be) cached."""
    directory = Path(cache_dir).expanduser() if cache_dir is not None else paths.cache_dir()
    return directory / "onnx" / f"neuron-{digest}-opset{OPSET}-v{EXPORT_VERSION}.onnx"


def cached_onnx_path(model: NeuronModel, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the graph of ``model`` is (or will be) cached."""
    return graph_path(model_digest(model), cache_dir)


class UnusableGraph(BackendError):
    """A graph file that ONNX Runtime cannot load, or not one of ours: export it again."""


def prune_cache(directory: Path, keep: int = KEEP_GRAPHS) -> list[Path]:
    """Delete all but the ``keep`` most recently used cached graphs in ``directory``; returns the
    deleted paths. A graph another process is using stays readable until it closes it (POSIX)."""

    def last_used(path: Path) -> float:
        try:
            return path.stat().st_mtime
        except OSError:  # deleted meanwhile by another process
            return 0.0

    graphs = sorted(directory.glob("neuron-*.onnx"), key=last_used, reverse=True)
    removed = []
    for path in graphs[keep:]:
        with contextlib.suppress(OSError):
            path.unlink()
            removed.append(path)
    return removed


def _import_ort():
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise BackendError(f"ONNX Runtime is not installed: {one_line(exc)}") from exc
    # Warnings such as "some nodes were not assigned to the preferred execution providers" (shape ops
    # on the CPU beside CUDA) are expected; errors still show.
    ort.set_default_logger_severity(3)
    return ort


def session_options(threads: int, optimization: str = "all", spinning: bool = False) -> Any:
    """ONNX Runtime options for one sequential session: ``threads`` intra-op threads, the graph
    optimisation level (one of OPTIMIZATION_LEVELS), and idle threads spinning or not."""
    ort = _import_ort()
    if optimization not in OPTIMIZATION_LEVELS:
        levels = ", ".join(OPTIMIZATION_LEVELS)
        raise BackendError(f"unknown graph optimisation {optimization!r}: use {levels}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, int(threads))
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[optimization]
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    return options


def cpu_session(path: str | os.PathLike[str], threads: int, optimization: str = "all") -> Any:
    """An ONNX Runtime session of ``path`` on the CPU provider (no spinning: it shares the cores)."""
    ort = _import_ort()
    options = session_options(threads, optimization)
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _cuda_index(device: str) -> int | None:
    """None for the CPU, the GPU index for ``cuda`` / ``cuda:N``."""
    try:
        kind, index = parse_device(device)
    except ValueError:
        kind, index = "unknown", None
    if kind == "cpu":
        return None
    if kind != "cuda":
        raise BackendError(f"unknown device {device!r} for ONNX Runtime: use cpu, cuda or cuda:<index>")
    return index or 0


class OnnxEmbedder:
    """Runs an exported graph: ``embed(windows (N, 3, T, 25, M)) -> (N, 6, D)`` float32.

    ``device`` "cpu" uses the CPU provider; "cuda[:N]" the CUDA provider, and BackendError when ONNX
    Runtime cannot start CUDA here (its CUDA/cuDNN libraries did not load), never a silent CPU run.
    ``threads`` sets the intra-op threads (default: ``torch.get_num_threads()``, so one setting governs
    both backends); ``spinning`` lets idle threads spin, which is faster alone but takes CPU from the
    pose thread beside it, hence off by default. ``optimization`` is ONNX Runtime's graph level.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        device: str = "cpu",
        threads: int | None = None,
        optimization: str = "all",
        spinning: bool = False,
    ) -> None:
        ort = _import_ort()
        self.path = Path(path)
        gpu = _cuda_index(device)
        if threads:
            self.threads = int(threads)
        else:
            import torch

            self.threads = torch.get_num_threads()  # the callers that care pass ``threads``
        options = session_options(self.threads, optimization, spinning)
        providers: list = ["CPUExecutionProvider"]
        if gpu is not None:
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise BackendError("this ONNX Runtime has no CUDA provider (install onnxruntime-gpu)")
            with contextlib.suppress(Exception):  # CUDA/cuDNN from the nvidia-* wheels, where present
                ort.preload_dlls()
            providers = [("CUDAExecutionProvider", {"device_id": gpu}), "CPUExecutionProvider"]
            # A CUDA provider that fails to load logs a long error itself; ours below says it in one line.
            ort.set_default_logger_severity(4)
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=providers)
        except Exception as exc:
            raise UnusableGraph(f"ONNX Runtime cannot load {self.path}: {one_line(exc)}") from exc
        finally:
            ort.set_default_logger_severity(3)
        if gpu is not None and self.session.get_providers()[0] != "CUDAExecutionProvider":
            raise BackendError("ONNX Runtime cannot use CUDA here (its CUDA or cuDNN libraries did not load)")
        self.device = "cpu" if gpu is None else f"cuda:{gpu}"
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if [i.name for i in inputs] != [INPUT_NAME] or [o.name for o in outputs] != [OUTPUT_NAME]:
            raise UnusableGraph(f"{self.path} is not a Neuron Live skeleton graph (inputs/outputs differ)")
        shape = inputs[0].shape
        self.channels, self.window, self.joints = shape[1], shape[2], shape[3]
        self.dim = outputs[0].shape[2]
        self.reused = False  # set by for_model: whether a cached graph was found

    @property
    def providers(self) -> list[str]:
        return list(self.session.get_providers())

    @classmethod
    def for_model(
        cls,
        model: NeuronModel,
        device: str = "cpu",
        threads: int | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        **options: object,
    ) -> OnnxEmbedder:
        """The embedder of ``model``, exported on first use and cached; ``reused`` says whether the
        cached graph was found. A cached graph that no longer loads is exported again."""
        digest = model_digest(model)
        embedder = cls.for_digest(digest, device, threads, cache_dir, **options)
        if embedder is not None:
            return embedder
        path = graph_path(digest, cache_dir)
        export_onnx(model, path)
        prune_cache(path.parent, keep=KEEP_GRAPHS)
        embedder = cls(path, device=device, threads=threads, **options)
        embedder.reused = False
        return embedder

    @classmethod
    def for_digest(
        cls,
        digest: str,
        device: str = "cpu",
        threads: int | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        **options: object,
    ) -> OnnxEmbedder | None:
        """The embedder of the cached graph of the model with this digest (``model_digest`` or
        ``arrays_digest``), or None when there is none or it no longer loads (export it again)."""
        path = graph_path(digest, cache_dir)
        if not path.is_file():
            return None
        try:
            embedder = cls(path, device=device, threads=threads, **options)
        except UnusableGraph as exc:
            log.warning("cached ONNX graph %s is unusable (%s); exporting it again", path, exc)
            return None
        embedder.reused = True
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: kept by prune_cache
        return embedder

    def embed(self, windows: np.ndarray) -> np.ndarray:
        """(N, 6, D) unit step embeddings of windows (N, 3, T, 25, M) or one window (3, T, 25, M)."""
        x = np.asarray(windows, dtype=np.float32)
        if x.ndim == 4:
            x = x[None]
        if x.ndim != 5 or (x.shape[1], x.shape[2], x.shape[3]) != (self.channels, self.window, self.joints):
            raise ModelError(
                f"expected windows (N, {self.channels}, {self.window}, {self.joints}, M), got {x.shape}"
            )
        return self.session.run([OUTPUT_NAME], {INPUT_NAME: pack_present(x)})[0]


def pack_present(x: np.ndarray) -> np.ndarray:
    """Windows (N, C, T, V, M) with each sample's present persons first and the slots that no sample
    needs cut (at least one kept): the graph then computes only persons that exist."""
    present = np.abs(x).max(axis=(1, 2, 3)) > 0  # (N, M)
    keep = max(1, int(present.sum(axis=1).max(initial=0)))
    if not present[:, keep:].any():  # the usual case: the present persons already come first
        return np.ascontiguousarray(x[..., :keep])
    order = np.argsort(~present, axis=1, kind="stable")[:, :keep]
    return np.ascontiguousarray(np.take_along_axis(x, order[:, None, None, None, :], axis=4))
