"""Zero-shot metrics, written so that they cannot peek at the test set.

ZSL: top-k over the unseen classes, the FUSED prediction as the headline, the published OR rule
(fine spatial OR fine temporal head right: an oracle over two guesses) only beside it.
GZSL: seen and unseen accuracy and their harmonic mean with calibrated stacking, whose constant is
chosen by :func:`choose_calibration` on validation data and then only applied to test data.
All accuracies are fractions of samples (the field's protocol) unless named ``class_mean``.
"""

from __future__ import annotations

import numpy as np

FINE_SPATIAL, FINE_TEMPORAL = 2, 5


def topk_correct(logits: np.ndarray, labels: np.ndarray, k: int = 1) -> np.ndarray:
    """(N,) bool: is the true label among the ``k`` highest scores (ties broken by class order)."""
    logits = np.asarray(logits)
    k = min(k, logits.shape[1])
    top = np.argsort(-logits, axis=1, kind="stable")[:, :k]
    return (top == np.asarray(labels)[:, None]).any(axis=1)


def class_mean(correct: np.ndarray, labels: np.ndarray) -> float:
    """Mean over the classes present of each class's accuracy (large classes do not dominate)."""
    classes = np.unique(labels)
    if classes.size == 0:
        return float("nan")
    return float(np.mean([correct[labels == c].mean() for c in classes]))


def set_scores(fused_logits: np.ndarray, targets: np.ndarray, n_classes: int) -> dict[str, float]:
    """One scored set's headline figures: class-balanced top-1/top-5 (each class counts once, however
    many samples it has: the cross-data-set benchmark's measure), top-1 by sample, and the most
    frequent prediction (its class index) and its share (a collapse alarm: 1.0 means every sample got
    the same answer)."""
    top1 = topk_correct(fused_logits, targets, 1)
    top5 = topk_correct(fused_logits, targets, min(5, n_classes))
    counts = np.bincount(np.asarray(fused_logits).argmax(1), minlength=n_classes)
    return {
        "top1": class_mean(top1, targets),
        "top5": class_mean(top5, targets),
        "top1_samples": float(top1.mean()),
        "top5_samples": float(top5.mean()),
        "most_frequent": int(counts.argmax()),
        "max_label_share": float(counts.max() / max(len(top1), 1)),
        "classes": int(n_classes),
        "samples": int(len(targets)),
    }


def or_rule_correct(step_logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(N,) bool: the published rule, right if the fine spatial or the fine temporal step is right."""
    step_logits = np.asarray(step_logits)
    spatial = step_logits[:, FINE_SPATIAL].argmax(axis=1) == labels
    temporal = step_logits[:, FINE_TEMPORAL].argmax(axis=1) == labels
    return spatial | temporal


def zsl_metrics(fused: np.ndarray, step_logits: np.ndarray | None, labels: np.ndarray) -> dict[str, float]:
    """Top-1/top-5 of the fused prediction (headline), its class mean, and the OR rule beside it."""
    labels = np.asarray(labels)
    if labels.size == 0:
        return {"samples": 0}
    top1 = topk_correct(fused, labels, 1)
    out = {
        "top1": float(top1.mean()),
        "top5": float(topk_correct(fused, labels, 5).mean()),
        "top1_class_mean": class_mean(top1, labels),
        "samples": int(labels.size),
        "classes": int(np.asarray(fused).shape[1]),
    }
    if step_logits is not None:
        out["top1_or_rule"] = float(or_rule_correct(step_logits, labels).mean())
    return out


def harmonic_mean(a: float, b: float) -> float:
    return 0.0 if a + b <= 0 else 2 * a * b / (a + b)


def _margins(logits: np.ndarray, seen_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best seen class, best unseen class and (best seen score - best unseen score) per sample."""
    seen_mask = np.asarray(seen_mask, bool)
    seen_idx = np.flatnonzero(seen_mask)
    unseen_idx = np.flatnonzero(~seen_mask)
    best_seen = seen_idx[np.argmax(logits[:, seen_idx], axis=1)]
    best_unseen = unseen_idx[np.argmax(logits[:, unseen_idx], axis=1)]
    rows = np.arange(logits.shape[0])
    return best_seen, best_unseen, logits[rows, best_seen] - logits[rows, best_unseen]


def gzsl_metrics(
    logits: np.ndarray, labels: np.ndarray, seen_mask: np.ndarray, gamma: float = 0.0
) -> dict[str, float]:
    """GZSL accuracies with calibrated stacking: ``gamma`` is subtracted from every seen class score.

    logits (N, C) over seen and unseen classes together, labels (N,) in [0, C), seen_mask (C,).
    """
    logits = np.asarray(logits, np.float64)
    labels = np.asarray(labels)
    seen_mask = np.asarray(seen_mask, bool)
    pred = np.argmax(logits - gamma * seen_mask[None, :], axis=1)
    correct = pred == labels
    is_seen = seen_mask[labels]
    seen = float(correct[is_seen].mean()) if is_seen.any() else float("nan")
    unseen = float(correct[~is_seen].mean()) if (~is_seen).any() else float("nan")
    return {
        "seen": seen,
        "unseen": unseen,
        "h": harmonic_mean(seen, unseen),
        "gamma": float(gamma),
        "samples_seen": int(is_seen.sum()),
        "samples_unseen": int((~is_seen).sum()),
    }


def choose_calibration(
    logits: np.ndarray, labels: np.ndarray, seen_mask: np.ndarray, max_candidates: int = 2000
) -> float:
    """The stacking constant that maximises H on the data given (validation data, never test).

    Predictions only change where gamma crosses a sample's seen-minus-unseen margin, so the
    candidates are the midpoints between sorted margins (plus one value beyond each end); the search
    is exact up to ``max_candidates``. Ties go to the constant closest to zero.
    """
    logits = np.asarray(logits, np.float64)
    labels = np.asarray(labels)
    seen_mask = np.asarray(seen_mask, bool)
    if not seen_mask.any() or seen_mask.all() or labels.size == 0:
        return 0.0
    best_seen, best_unseen, margin = _margins(logits, seen_mask)
    m = np.unique(margin)
    if m.size > max_candidates:
        m = np.unique(np.quantile(m, np.linspace(0, 1, max_candidates)))
    candidates = np.concatenate([[m[0] - 1.0], (m[:-1] + m[1:]) / 2, [m[-1] + 1.0], [0.0]])
    # (G, N): is the best seen class chosen at each candidate constant?
    choose_seen = margin[None, :] > candidates[:, None]
    pred = np.where(choose_seen, best_seen[None, :], best_unseen[None, :])
    correct = pred == labels[None, :]
    is_seen = seen_mask[labels]
    acc_seen = correct[:, is_seen].mean(axis=1) if is_seen.any() else np.zeros(len(candidates))
    acc_unseen = correct[:, ~is_seen].mean(axis=1) if (~is_seen).any() else np.zeros(len(candidates))
    total = acc_seen + acc_unseen
    h = np.where(total > 0, 2 * acc_seen * acc_unseen / np.where(total > 0, total, 1), 0.0)
    best = np.flatnonzero(h >= h.max() - 1e-12)
    return float(candidates[best[np.argmin(np.abs(candidates[best]))]])


def per_class_topk(
    logits: np.ndarray, labels: np.ndarray, names: list[str]
) -> dict[str, dict[str, float | int | None]]:
    """Per class: samples, top-1 and top-5 (None for a class without samples; JSON has no NaN)."""
    top1 = topk_correct(logits, labels, 1)
    top5 = topk_correct(logits, labels, 5)
    out: dict[str, dict[str, float | int | None]] = {}
    for c, name in enumerate(names):
        mask = labels == c
        if mask.any():
            out[name] = {
                "count": int(mask.sum()),
                "top1": float(top1[mask].mean()),
                "top5": float(top5[mask].mean()),
            }
        else:
            out[name] = {"count": 0, "top1": None, "top5": None}
    return out
