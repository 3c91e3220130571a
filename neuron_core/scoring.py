"""How window embeddings meet label prototypes, in numpy: what the live recogniser runs per window.

The same arithmetic as :func:`neuron_core.model.class_logits` and :func:`neuron_core.model.fuse` (the
training objective and evaluation, in torch), on arrays: unit vectors, the checkpoint's calibration,
scaled cosines per step, the fusion rule's sum, a softmax. It imports no torch, so a recogniser whose
model runs on ONNX Runtime scores without it (a lean start: torch alone is about 500 MB resident).
Agreement with the torch functions is to float32 rounding (tests/test_lean_start.py).
"""

from __future__ import annotations

import math

import numpy as np

from neuron_core.calibration import CALIBRATIONS, MIN_LABELS, needs_reference
from neuron_core.errors import ModelError

FINE_STEPS = (2, 5)  # spatial_fine and temporal_p123: the last, most detailed step of each branch
FUSIONS: tuple[str, ...] = ("fine", "all")
MAX_LOGIT_SCALE = 100.0
EPS = 1e-12  # as torch.nn.functional.normalize


def fusion_steps(rule: str) -> tuple[int, ...]:
    """The steps whose logits a fusion rule sums."""
    if rule not in FUSIONS:
        raise ModelError(f"unknown fusion rule {rule!r}; expected one of {', '.join(FUSIONS)}")
    return FINE_STEPS if rule == "fine" else tuple(range(6))


def unit(x: np.ndarray) -> np.ndarray:
    """Rows of the last axis scaled to unit length (a zero row stays zero), float32."""
    x = np.asarray(x, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), np.float32(EPS))


def class_prototypes(class_emb: np.ndarray) -> np.ndarray:
    """(C, 6, K, D) text embeddings -> (C, 6, D) mean of the unit vectors."""
    class_emb = np.asarray(class_emb, np.float32)
    if class_emb.ndim != 4:
        raise ModelError(f"expected class embeddings (C, 6, K, D), got {class_emb.shape}")
    return unit(class_emb).mean(axis=2)


def calibrate_prototypes(protos: np.ndarray, method: str) -> np.ndarray:
    """(C, 6, D) prototypes, centred over the C labels where ``method`` says (neuron_core.calibration)."""
    if method not in CALIBRATIONS:
        raise ValueError(f"unknown calibration {method!r}; expected one of {', '.join(CALIBRATIONS)}")
    if "centre" not in method or protos.shape[0] < MIN_LABELS:
        return protos
    return unit(protos - protos.mean(axis=0, keepdims=True))


def calibrate_windows(emb: np.ndarray, method: str, reference: np.ndarray | None) -> np.ndarray:
    """(N, 6, D) window embeddings -> unit embeddings, minus the reference mean where ``method`` says."""
    out = unit(emb)
    if not needs_reference(method):
        return out
    if reference is None:
        raise ValueError(f"calibration {method!r} needs the reference embeddings of training windows")
    return out - np.asarray(reference, np.float32)[None]


def class_logits(
    emb: np.ndarray,
    protos: np.ndarray,
    scale: float = 1.0,
    calibration: str = "none",
    reference: np.ndarray | None = None,
) -> np.ndarray:
    """(N, 6, D) window embeddings x (C, 6, D) prototypes -> (N, 6, C) scaled, calibrated cosines."""
    emb, protos = np.asarray(emb, np.float32), np.asarray(protos, np.float32)
    if emb.ndim != 3 or protos.ndim != 3 or emb.shape[1:] != protos.shape[1:]:
        raise ModelError(f"window embeddings {emb.shape} and class embeddings {protos.shape} do not match")
    windows = calibrate_windows(emb, calibration, reference).transpose(1, 0, 2)  # (6, N, D)
    labels = calibrate_prototypes(protos, calibration).transpose(1, 2, 0)  # (6, D, C)
    return (np.matmul(windows, labels).transpose(1, 0, 2) * np.float32(scale)).astype(np.float32)


def fuse(logits: np.ndarray, rule: str = "fine") -> np.ndarray:
    """(N, 6, C) -> (N, C): the sum over the fusion rule's steps."""
    return np.asarray(logits)[:, list(fusion_steps(rule))].sum(axis=1)


def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, float32."""
    x = np.asarray(x, np.float32)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def logit_scale(log_logit_scale: float | np.ndarray) -> float:
    """``NeuronModel.logit_scale`` from its stored log: exp, capped at MAX_LOGIT_SCALE, as float32.

    The exponential is rounded correctly (float64, then float32); torch's float32 exp may differ from
    it in the last bit for some values (a relative 6e-8, far below what changes a ranking)."""
    value = np.float32(math.exp(float(np.float32(log_logit_scale))))
    return float(min(value, np.float32(MAX_LOGIT_SCALE)))
