"""Teaching by example: a label's score from its text *and* from recorded examples of it.

The model maps every window to six unit step embeddings; the text side scores a class at each step by
the cosine to its texts. An example of a label is a window too, so its step embeddings can stand beside
the texts as a prototype: the unit mean of the examples' embeddings per step (Prototypical Networks,
Snell et al. 2017), scored by cosine exactly like the text side. One example already gives a prototype;
more examples average out the person and the recording. The two sides are mixed per label:

    fused_c = (1 - w) * text_c + w * (examples_c - 2 * b)      where label c has examples
    fused_c = text_c                                           where it has none

(``text_c`` and ``examples_c`` are the sums of the cosines of the steps the model's fusion rule sums,
as in :func:`neuron_core.model.fuse`: the two fine steps, or all six; the baseline counts per step).
``w`` (EXAMPLE_WEIGHT) says how far examples outweigh the name; ``b``
(EXAMPLE_BASELINE) is the cosine a window of *another* action typically has to an example prototype,
subtracted so that a taught label does not win every window merely because window-to-window cosines run
higher than window-to-text ones. Neither matters for ranking when every label has examples except
``w``; ``b`` matters when only some do (the usual case in the app). Both were chosen by measurement, not
set by hand: see EXAMPLE_WEIGHT below and ``training/few_shot.py``.

Everything here is numpy on precomputed embeddings, so the live recogniser, ``evaluate --examples`` and
the cross-dataset benchmark share one scoring rule.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from neuron_core.errors import ModelError
from neuron_core.scoring import fusion_steps

# Chosen by leave-one-subject-out few-shot scoring on Human3.6M (interchange files in ../shared/data/h36m,
# 7 subjects, 15 labels; support examples always from other subjects than the scored ones) with the
# shipped model, which never saw Human3.6M: `python -m training.few_shot tune` (command and grid in
# that module; result table in docs/FEW_SHOT.md). Never chosen on the data a benchmark scores.
EXAMPLE_WEIGHT = 0.5
EXAMPLE_BASELINE = 0.8
STEPS = 6


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def _check_emb(emb: np.ndarray, what: str) -> np.ndarray:
    emb = np.asarray(emb, np.float32)
    if emb.ndim != 3 or emb.shape[1] != STEPS:
        raise ModelError(f"{what}: expected step embeddings (N, {STEPS}, D), got {emb.shape}")
    return emb


def example_prototype(emb: np.ndarray) -> np.ndarray:
    """(K, 6, D) step embeddings of one label's K examples -> (6, D): the unit mean per step.

    Renormalised so that a label's score does not fall as its examples grow more varied.
    """
    emb = _check_emb(emb, "examples")
    if not len(emb):
        raise ModelError("a prototype needs at least one example")
    return _unit(_unit(emb).mean(axis=0))


def fused_cosines(emb: np.ndarray, protos: np.ndarray, rule: str = "fine") -> np.ndarray:
    """(N, 6, D) x (C, 6, D) -> (N, C): the cosines summed over the fusion rule's steps (unscaled,
    like ``fuse``)."""
    cos = np.einsum("nsd,csd->nsc", _unit(_check_emb(emb, "windows")), np.asarray(protos, np.float32))
    return cos[:, list(fusion_steps(rule))].sum(axis=1)


def combine(
    text: np.ndarray,
    examples: np.ndarray | None,
    has_examples: np.ndarray,
    weight: float = EXAMPLE_WEIGHT,
    baseline: float = EXAMPLE_BASELINE,
    rule: str = "fine",
) -> np.ndarray:
    """Mix fused text cosines (N, C) with fused example cosines (N, C) where a label has examples
    (both fused by ``rule``, whose step count scales the per-step baseline).

    Labels without examples keep their text score unchanged, whatever their column of ``examples``.
    """
    text = np.asarray(text, np.float32)
    has = np.asarray(has_examples, bool)
    if examples is None or not has.any() or weight == 0.0:
        return text
    if not 0.0 <= weight <= 1.0:
        raise ModelError(f"the example weight must be in [0, 1], got {weight}")
    shift = len(fusion_steps(rule)) * baseline
    mixed = (1.0 - weight) * text + weight * (np.asarray(examples, np.float32) - shift)
    return np.where(has[None, :], mixed, text)


def score(
    emb: np.ndarray,
    text_protos: np.ndarray,
    example_protos: np.ndarray | None = None,
    has_examples: np.ndarray | None = None,
    weight: float = EXAMPLE_WEIGHT,
    baseline: float = EXAMPLE_BASELINE,
    rule: str = "fine",
) -> np.ndarray:
    """(N, C) fused cosine scores of windows against labels: text prototypes (C, 6, D) as the recogniser
    keeps them, plus example prototypes (C, 6, D) where ``has_examples`` (C,) says a label has some.
    Multiply by the model's logit scale for logits."""
    text = fused_cosines(emb, text_protos, rule)
    if example_protos is None or has_examples is None:
        return text
    return combine(text, fused_cosines(emb, example_protos, rule), has_examples, weight, baseline, rule)


# ---------------------------------------------------------------------------------------------------
# few-shot measurement on precomputed embeddings (the benchmark and the weight choice use this)


def _text_protos(text_class_emb: np.ndarray) -> np.ndarray:
    """(C, 6, D) or (C, 6, K, D) text embeddings -> (C, 6, D) mean of unit vectors (as the recogniser)."""
    text = np.asarray(text_class_emb, np.float32)
    if text.ndim == 4:
        return _unit(text).mean(axis=2)
    if text.ndim != 3 or text.shape[1] != STEPS:
        raise ModelError(f"text class embeddings must be (C, 6, D) or (C, 6, K, D), got {text.shape}")
    return text


def _balanced_topk(scores: np.ndarray, labels: np.ndarray, classes: int) -> dict[str, float]:
    """Class-balanced top-1 and top-5: the mean over classes present of each class's hit rate."""
    order = np.argsort(-scores, axis=1, kind="stable")
    out = {}
    for k in (1, 5):
        hit = (order[:, : min(k, scores.shape[1])] == labels[:, None]).any(axis=1)
        present = [c for c in range(classes) if (labels == c).any()]
        out[f"top{k}"] = float(np.mean([hit[labels == c].mean() for c in present]))
    return out


def few_shot_metrics(
    query_emb: np.ndarray,
    query_labels: np.ndarray,
    query_groups: np.ndarray,
    text_class_emb: np.ndarray,
    classes: Sequence[str],
    shots: Sequence[int] = (1, 3, 5),
    seed: int = 0,
    *,
    weight: float = EXAMPLE_WEIGHT,
    baseline: float = EXAMPLE_BASELINE,
    episodes: int = 5,
    taught_fraction: float = 1.0,
    rule: str = "fine",
) -> dict[str, object]:
    """Zero-shot and k-shot class-balanced top-1/top-5 of ``query_emb`` against ``classes``.

    query_emb (N, 6, D) step embeddings; query_labels (N,) indices into ``classes``; query_groups (N,)
    who or what recorded each sample (subject, recording): the examples for scoring group g are drawn
    only from samples of other groups, ``k`` per class (fewer where fewer exist; a class with none stays
    text-only). Every group is scored in each of ``episodes`` random draws (seeded, reproducible);
    metrics pool all of them. ``text_class_emb`` (C, 6, D) or (C, 6, K, D). ``taught_fraction`` below 1
    gives examples to that share of the classes only (drawn per group and episode), as in the app where
    a user teaches some labels and types the rest.
    """
    emb = _unit(_check_emb(query_emb, "queries"))
    labels = np.asarray(query_labels, np.int64)
    groups = np.asarray(query_groups)
    text = _text_protos(text_class_emb)
    n_classes = len(classes)
    if text.shape[0] != n_classes or len(labels) != len(emb) or len(groups) != len(emb):
        raise ModelError(
            f"sizes disagree: {len(emb)} queries, {len(labels)} labels, {len(groups)} groups, "
            f"{text.shape[0]} text classes, {n_classes} class names"
        )
    text_scores = fused_cosines(emb, text, rule)
    out: dict[str, object] = {
        "queries": int(len(emb)),
        "classes": n_classes,
        "groups": int(len(np.unique(groups))),
        "weight": weight,
        "baseline": baseline,
        "episodes": episodes,
        "taught_fraction": taught_fraction,
        "zero_shot": _balanced_topk(text_scores, labels, n_classes),
    }
    for k in shots:
        all_scores, all_labels, used = [], [], []
        for episode in range(episodes):
            rng = np.random.default_rng([seed, k, episode])
            for g in np.unique(groups):
                query = groups == g
                protos = np.zeros_like(text)
                has = np.zeros(n_classes, bool)
                taught = rng.permutation(n_classes)[: max(1, round(taught_fraction * n_classes))]
                for c in sorted(taught):
                    pool = np.flatnonzero(~query & (labels == c))
                    if len(pool):
                        pick = rng.choice(pool, size=min(k, len(pool)), replace=False)
                        protos[c], has[c] = example_prototype(emb[pick]), True
                        used.append(len(pick))
                ex_scores = fused_cosines(emb[query], protos, rule)
                all_scores.append(combine(text_scores[query], ex_scores, has, weight, baseline, rule))
                all_labels.append(labels[query])
        metrics = _balanced_topk(np.concatenate(all_scores), np.concatenate(all_labels), n_classes)
        metrics["mean_examples_per_class"] = float(np.mean(used)) if used else 0.0
        out[f"{k}_shot"] = metrics
    return out
