"""Zero-shot recognition of skeleton windows against a label set the user can change at any time.

The model turns each window into six step embeddings once; labels only cost a text encoding, done once
per label and cached (as the mean of each granularity's unit text vectors), so adding a label never
rebuilds or re-runs anything else. Scores are the softmax over labels of the fused fine-step logits.

The window embeddings come from PyTorch or, with ``backend="onnx"``, from the same model exported to
ONNX Runtime (faster on a CPU; see :mod:`neuron_core.onnx_runtime`). ``"auto"`` takes ONNX Runtime when
the export and a session work and falls back to PyTorch with a logged reason.

Scoring is numpy (:mod:`neuron_core.scoring`), so a recogniser on ONNX Runtime runs without torch:
``from_checkpoint`` on the CPU reads the checkpoint without torch (:func:`read_stored_model`) and, when
the model's graph is cached, never imports it (a lean start: torch alone is about 500 MB resident and
a second or more of import). The torch model is built on first use of ``model`` otherwise.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from neuron_base.devices import BACKEND_CHOICES, check_device, parse_device
from neuron_core import scoring
from neuron_core.calibration import needs_reference
from neuron_core.checkpoint import (
    DEFAULT_CHECKPOINT,
    CheckpointMeta,
    StoredModel,
    load_checkpoint,
    read_stored_model,
)
from neuron_core.errors import BackendError, ModelError, NeuronCoreError, TextEncoderError, one_line
from neuron_core.examples import EXAMPLE_BASELINE, EXAMPLE_WEIGHT, combine, example_prototype, fused_cosines
from neuron_core.labels import MAX_LABELS, LabelSet, label_key, normalize_label
from neuron_core.laterality import mirror_pairs, resolve_sides
from neuron_core.prompts import Descriptions, class_text_embeddings, unreadable_label
from neuron_core.text_encoders import TextEncoder, get_text_encoder

if TYPE_CHECKING:
    import torch

    from neuron_core.model import NeuronModel

log = logging.getLogger(__name__)

BACKENDS = BACKEND_CHOICES


def no_gpu_driver() -> bool:
    """True on Linux when no GPU driver is there (no NVIDIA or ROCm device): no GPU can be used, which
    is known without importing torch. False means "ask torch"."""
    if not sys.platform.startswith("linux"):
        return False
    dev = Path("/dev")
    return not (
        Path("/proc/driver/nvidia").exists() or any(dev.glob("nvidia[0-9]*")) or (dev / "kfd").exists()
    )


def resolve_device(spec: str | torch.device = "auto") -> str:
    """``"auto"`` -> ``"cuda"`` when a GPU is usable, else ``"cpu"``; ``"cuda[:N]"`` must exist."""
    try:
        kind, index = parse_device(spec)
    except ValueError as exc:
        raise NeuronCoreError(str(exc)) from None
    if kind == "cpu" or (kind == "auto" and no_gpu_driver()):
        return "cpu"
    import torch

    if kind == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    text = check_device(spec)
    if not torch.cuda.is_available():
        raise NeuronCoreError(f"device {text!r} was requested but no CUDA GPU is available")
    if index is not None and index >= torch.cuda.device_count():
        raise NeuronCoreError(f"device {text!r} does not exist ({torch.cuda.device_count()} CUDA GPUs found)")
    return text


class ZeroShotRecognizer:
    """Scores skeleton windows (N, 3, T, 25, M) against the current labels.

    Thread-safe for one scoring thread beside one thread that edits labels: edits encode outside the
    lock and swap the label table in at the end, so scoring never waits for a text encoder.

    ``model`` is the torch model, or a :class:`StoredModel` (read without torch): then the torch model
    is built only when needed (the torch backend, an ONNX export, or ``model`` asked for).
    """

    def __init__(
        self,
        model: NeuronModel | StoredModel,
        meta: CheckpointMeta,
        encoder: TextEncoder,
        device: str = "cpu",
        descriptions: Descriptions | None = None,
        k: int | None = None,
        max_labels: int = MAX_LABELS,
        backend: str = "torch",
        threads: int | None = None,
        onnx_cache_dir: str | os.PathLike[str] | None = None,
        live_reference: bool = True,
    ) -> None:
        if encoder.name != meta.text_encoder:
            raise TextEncoderError(
                f"the model was trained with text encoder {meta.text_encoder!r}, not {encoder.name!r}"
            )
        self.config = model.config
        if encoder.dim != self.config.text_dim:
            raise TextEncoderError(
                f"text encoder {encoder.name!r} gives {encoder.dim}-d vectors, the model expects "
                f"{self.config.text_dim}"
            )
        self.device = resolve_device(device)
        if isinstance(model, StoredModel):
            self._stored, self._model = model, None
        else:
            self._stored, self._model = None, model.to(self.device).eval()
        self.meta = meta
        # For the "prior" calibration: the live windows' mean where the checkpoint has one and the
        # windows come from the pose backend (``live_reference``), else the training windows'.
        live = meta.live_reference_array() if live_reference else None
        self.reference_source = "live" if live is not None else "training"
        self._reference = live if live is not None else meta.reference_array()
        if needs_reference(self.config.calibration) and self._reference is None:
            raise ModelError(
                f"the model scores with calibration {self.config.calibration!r}, which needs the reference "
                "embedding its checkpoint carries; this metadata has none"
            )
        self.encoder = encoder
        self.descriptions = descriptions
        self.k = k if k is not None else meta.text.prompts_per_granularity  # the checkpoint's contract
        self.max_labels = max_labels
        self._labels = LabelSet(max_labels=max_labels)
        self._cache: dict[str, np.ndarray] = {}  # label key -> (6, D) class prototypes
        self._classes: np.ndarray | None = None  # (C, 6, D) for the current labels, built lazily
        self._examples: dict[str, tuple[np.ndarray, int]] = {}  # label key -> ((6, D) prototype, count)
        self._warned: set[str] = set()  # label keys already warned about (unreadable to the encoder)
        self.example_weight = EXAMPLE_WEIGHT
        self.example_baseline = EXAMPLE_BASELINE
        self._lock = threading.Lock()
        self._model_lock = threading.Lock()  # the torch model is built once, whichever thread asks first
        self._onnx = None  # OnnxEmbedder when the ONNX Runtime backend runs
        self.backend, self.backend_reason = self._start_backend(backend, threads, onnx_cache_dir)

    @property
    def model(self) -> NeuronModel:
        """The torch model (built from the checkpoint on first use when the recogniser started without it)."""
        with self._model_lock:
            if self._model is None:
                assert self._stored is not None
                log.info("building the torch model of %s", self._stored.path)
                self._model = self._stored.load(self.device)
            return self._model

    @property
    def logit_scale(self) -> float:
        """The temperature multiplying cosines: the torch model's when it is built, else the stored one's."""
        if self._model is not None:
            return float(self._model.logit_scale.detach())
        assert self._stored is not None
        return self._stored.logit_scale

    def _start_backend(
        self, backend: str, threads: int | None, cache_dir: str | os.PathLike[str] | None
    ) -> tuple[str, str]:
        """Set up the requested backend; returns (backend used, why)."""
        if backend not in BACKENDS:
            raise NeuronCoreError(f"unknown backend {backend!r}: use {', '.join(BACKENDS)}")
        if backend == "torch":
            self.model  # noqa: B018 (built now, not at the first window)
            return "torch", "requested"
        try:
            from neuron_core.onnx_runtime import OnnxEmbedder, arrays_digest

            if self._stored is not None:  # the cached graph of these weights, found without torch
                digest = arrays_digest(self.config.to_dict(), self._stored.state)
                self._onnx = OnnxEmbedder.for_digest(digest, self.device, threads, cache_dir)
        except Exception as exc:  # auto falls back on any failure: PyTorch still works
            return self._no_onnx(backend, exc)
        if self._onnx is None:  # export (or find the graph by the torch model's digest)
            model = self.model  # a checkpoint torch cannot load fails on every backend: not caught
            try:
                self._onnx = OnnxEmbedder.for_model(model, self.device, threads, cache_dir)
            except Exception as exc:
                return self._no_onnx(backend, exc)
        how = "cached graph" if self._onnx.reused else "exported now"
        reason = f"{how}: {self._onnx.path} ({', '.join(self._onnx.providers)})"
        log.info("model backend: ONNX Runtime, %s", reason)
        return "onnx", reason

    def _no_onnx(self, backend: str, exc: Exception) -> tuple[str, str]:
        """ONNX Runtime failed: "onnx" raises (one line), "auto" falls back to PyTorch with the reason."""
        reason = str(exc) if isinstance(exc, NeuronCoreError) else one_line(exc)
        if backend == "onnx":
            if isinstance(exc, NeuronCoreError):
                raise exc
            raise BackendError(reason) from exc
        log.warning("ONNX Runtime backend unavailable, using PyTorch: %s", reason)
        self._onnx = None
        self.model  # noqa: B018 (built now, not at the first window)
        return "torch", f"ONNX Runtime unavailable: {reason}"

    @classmethod
    def from_checkpoint(
        cls,
        path: str | os.PathLike[str] = DEFAULT_CHECKPOINT,
        device: str = "auto",
        encoder: TextEncoder | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        descriptions: Descriptions | None = None,
        backend: str = "torch",
        threads: int | None = None,
        onnx_cache_dir: str | os.PathLike[str] | None = None,
        live_reference: bool = True,
    ) -> ZeroShotRecognizer:
        """Load a checkpoint and pair it with ``encoder``, or with the text encoder the checkpoint names.

        ``backend`` is "torch", "onnx" or "auto"; ``threads`` the ONNX Runtime intra-op threads
        (default: torch's); ``onnx_cache_dir`` where exported graphs are cached. ``live_reference``
        False scores with the training windows' mean even where the checkpoint has a live one (windows
        not made by the pose backend: replayed skeleton files, the built-in demo's synthetic body).
        """
        device = resolve_device(device)
        expect = encoder.name if encoder is not None else None
        # On the CPU with ONNX Runtime, read the checkpoint without torch: a cached graph then needs none.
        stored = read_stored_model(path, expect) if backend != "torch" and device == "cpu" else None
        model: NeuronModel | StoredModel
        if stored is not None:
            model, meta = stored
        else:
            model, meta = load_checkpoint(Path(path), device=device, expect_text_encoder=expect)
        if encoder is None:
            encoder = get_text_encoder(meta.text_encoder, device=device, cache_dir=cache_dir)
        return cls(
            model,
            meta,
            encoder,
            device=device,
            descriptions=descriptions,
            backend=backend,
            threads=threads,
            onnx_cache_dir=onnx_cache_dir,
            live_reference=live_reference,
        )

    # ----- labels -----------------------------------------------------------------------------------

    @property
    def labels(self) -> list[str]:
        with self._lock:
            return self._labels.list()

    def _encode_missing(self, labels: Sequence[str]) -> None:
        """Encode, in a single encoder call, the labels whose class embeddings are not cached yet."""
        with self._lock:
            missing = [label for label in labels if label_key(label) not in self._cache]
        if not missing:
            return
        self._warn_unreadable(missing)
        # slow: outside the lock
        emb = class_text_embeddings(self.encoder, missing, self.meta.text.source, self.descriptions, self.k)
        protos = scoring.class_prototypes(emb)
        with self._lock:
            self._cache.update((label_key(label), p) for label, p in zip(missing, protos, strict=True))

    def _warn_unreadable(self, labels: Sequence[str]) -> None:
        """Warn, once per label, about a label the text encoder cannot read: scored, but as noise."""
        for label in labels:
            key = label_key(label)
            why = unreadable_label(label, self.encoder.name)
            if why is None or key in self._warned:
                continue
            self._warned.add(key)
            log.warning("%s", why)

    def _forget_unused(self) -> None:
        """Keep the cache bounded: drop the oldest entries of labels no longer in the set."""
        limit = 4 * self.max_labels
        if len(self._cache) > limit:
            current = {label_key(label) for label in self._labels}
            for key in [k for k in self._cache if k not in current][: len(self._cache) - limit]:
                del self._cache[key]

    def prepare_labels(self, labels: Sequence[str]) -> None:
        """Encode ``labels`` (validated) without changing the active set, so that a later
        ``set_labels`` with them is instant: the app encodes on one thread while another scores."""
        self._encode_missing(LabelSet(labels, max_labels=self.max_labels).list())

    def set_labels(self, labels: Sequence[str]) -> list[str]:
        """Replace all labels (validated first; nothing changes on error). Returns them normalised."""
        new = LabelSet(labels, max_labels=self.max_labels)
        self._encode_missing(new.list())
        with self._lock:
            self._labels = new
            self._classes = None
            self._forget_unused()
            return new.list()

    def add_label(self, label: str) -> str:
        """Add one label (an examples folder's label joining the active ones): one text-encoder call
        for its prompts unless it was encoded before."""
        candidate = normalize_label(label)
        with self._lock:  # refuse duplicates and overflow before paying for the encoding
            LabelSet([*self._labels.list(), candidate], max_labels=self.max_labels)
        self._encode_missing([candidate])
        with self._lock:
            stored = self._labels.add(candidate)
            self._classes = None
            return stored

    def _snapshot(self) -> tuple[list[str], np.ndarray | None]:
        with self._lock:
            labels = self._labels.list()
            if labels and self._classes is None:
                self._classes = np.stack([self._cache[label_key(label)] for label in labels])
            return labels, self._classes

    # ----- examples (teaching by example: see neuron_core.examples) -------------------------------

    def set_examples(self, label: str, windows: np.ndarray | None) -> int:
        """Make ``windows`` (N, 3, T, 25, M) the examples of ``label``; None or none at all forgets them.

        The label need not be active yet: its examples count from when it is. Embedding happens outside
        the lock (one model call), so scoring never waits for it. Returns how many examples it has.
        """
        key = label_key(normalize_label(label))
        if windows is None or len(windows) == 0:
            with self._lock:
                self._examples.pop(key, None)
            return 0
        emb = self.embed(windows)
        proto = example_prototype(emb)
        with self._lock:
            self._examples[key] = (proto, len(emb))
        return len(emb)

    def clear_examples(self) -> None:
        """Forget every label's examples: scoring is by names alone again."""
        with self._lock:
            self._examples.clear()

    def example_counts(self) -> dict[str, int]:
        """How many examples each active label has (0 for a label known by its name alone)."""
        with self._lock:
            return {label: self._examples.get(label_key(label), (None, 0))[1] for label in self._labels}

    def _example_table(self, labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray] | None:
        """(C, 6, D) example prototypes and (C,) which labels have any; None when none has."""
        with self._lock:
            found = [self._examples.get(label_key(label)) for label in labels]
        if not any(found):
            return None
        dim = next(f[0] for f in found if f is not None).shape
        protos = np.stack([np.zeros(dim, np.float32) if f is None else f[0] for f in found])
        return protos, np.array([f is not None for f in found])

    # ----- scoring ----------------------------------------------------------------------------------

    def _as_batch(self, windows: np.ndarray) -> np.ndarray:
        array = np.asarray(windows, dtype=np.float32)
        if array.ndim == 4:
            array = array[None]
        cfg = self.config
        if array.ndim != 5 or array.shape[1] != cfg.in_channels or array.shape[3] != cfg.num_joints:
            raise ModelError(
                f"expected windows ({cfg.in_channels}, T, {cfg.num_joints}, M) or (N, {cfg.in_channels}, T, "
                f"{cfg.num_joints}, M), got {array.shape}"
            )
        if not np.isfinite(array).all():
            raise ModelError("windows contain NaN or infinite values")
        return np.ascontiguousarray(array)

    def embed(self, windows: np.ndarray) -> np.ndarray:
        """(N, 6, D) float32 step embeddings of windows from the active backend."""
        x = self._as_batch(windows)
        if self._onnx is not None:
            return self._onnx.embed(x)
        import torch

        with torch.inference_mode():
            return self.model(torch.from_numpy(x).to(self.device)).float().cpu().numpy()

    def step_logits(self, windows: np.ndarray) -> tuple[list[str], np.ndarray]:
        """The labels and the per-step text logits (N, 6, C) before fusion (for inspection and evaluation)."""
        return self._text_logits(self.embed(windows))

    def _text_logits(self, emb: np.ndarray) -> tuple[list[str], np.ndarray]:
        labels, classes = self._snapshot()
        if classes is None:
            return labels, np.zeros((emb.shape[0], 6, 0), np.float32)
        cfg = self.config
        return labels, scoring.class_logits(emb, classes, self.logit_scale, cfg.calibration, self._reference)

    def _probabilities(self, windows: np.ndarray) -> tuple[list[str], np.ndarray]:
        emb = self.embed(windows)
        labels, logits = self._text_logits(emb)
        if not labels:
            return labels, np.zeros((logits.shape[0], 0), np.float32)
        rule = self.config.fusion
        fused = scoring.fuse(logits, rule)
        examples = self._example_table(labels)
        if examples is not None:  # in logit units: the scale multiplies both sides and the baseline
            scale = self.logit_scale
            protos, has = examples
            ex = fused_cosines(emb, protos, rule) * scale
            fused = combine(fused, ex, has, self.example_weight, self.example_baseline * scale, rule)
        if mirror_pairs(labels):  # mirror pairs take their side from the skeleton; the batch only then
            fused = resolve_sides(labels, self._as_batch(windows), fused)
        return labels, scoring.softmax(fused)

    def scores(self, windows: np.ndarray) -> np.ndarray:
        """(N, C) softmax probabilities over the current labels (C = 0 when there are none)."""
        return self._probabilities(windows)[1]

    def __repr__(self) -> str:
        return (
            f"ZeroShotRecognizer({len(self.labels)} labels, {self.encoder.name!r}, {self.device!r}, "
            f"{self.backend!r})"
        )
