"""Evaluation: the split protocol (ZSL / GZSL, honest) and the folder-of-.npz command.

Protocol (see ../shared/NEURON.md): the epoch is chosen by ZSL top-1 on the validation classes
(pseudo-unseen seen classes), the GZSL stacking constant by H on validation data; the test set is
scored once with both fixed. Everything here is deterministic: the checkpoint's test crop, eval mode, no
augmentation, the same numbers from one process or many.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from neuron_core.calibration import needs_reference
from neuron_core.examples import EXAMPLE_BASELINE, EXAMPLE_WEIGHT, combine, example_prototype, fused_cosines
from neuron_core.laterality import resolve_sides
from neuron_core.model import NeuronModel
from pose.errors import SkeletonError
from pose.normalize import Preprocess, contract_window
from pose.skeleton import load_npz
from training.data import DataError
from training.distributed import Dist
from training.engine import ClassTexts, embed, fused, reference_embedding, run_sharded, step_logits
from training.metrics import (
    choose_calibration,
    gzsl_metrics,
    per_class_topk,
    set_scores,
    topk_correct,
    zsl_metrics,
)

log = logging.getLogger(__name__)

# Which mean window the "prior" calibration subtracts when a folder is scored (neuron_core.calibration):
# "training": the checkpoint's mean training window; "self": the mean of the scored windows themselves
# (no labels used: transductive, as the live path's reference is the mean live window); "auto": "self"
# from SELF_REFERENCE_MIN windows on, else "training". Why: a set recorded with another sensor or setup
# leans away from the training mean, as live MediaPipe windows do. On the cross-data-set benchmark
# (assets/MODEL_CARD.md, "The prior from the scored set") the scored set's own mean raised the mean
# over the four held-out sets for six of seven recipes: the two Kinect sets with every recipe, the
# motion-capture ones even or lower. Below SELF_REFERENCE_MIN windows (a few clips of a few classes)
# the set's mean would be mostly its own actions. ``reference_shift`` is reported beside the figures;
# its scale depends on the model (0.20-0.43 for the benchmark's fold models on their held-out sets,
# 0.51-0.61 for the shipped model on sets it trained on), so it chooses nothing.
REFERENCES: tuple[str, ...] = ("auto", "self", "training")
SELF_REFERENCE_MIN = 64


def reference_shift(own: torch.Tensor, training: torch.Tensor) -> float:
    """How far the scored windows' mean (6, D) lies from the training windows' mean: the distance
    between them over the training mean's length, averaged over the six steps."""
    gap = (own.float() - training.float()).norm(dim=-1).mean()
    return float(gap / training.float().norm(dim=-1).mean().clamp_min(1e-12))


def self_weight(emb: torch.Tensor, training: torch.Tensor | None, mode: str = "auto") -> float:
    """How much of the (N, 6, D) windows' own mean the prior's reference takes (0 or 1: the
    training mean or their own), by ``mode`` (see REFERENCES)."""
    if mode not in REFERENCES:
        raise ValueError(f"unknown reference {mode!r}; expected one of {', '.join(REFERENCES)}")
    if mode == "auto":
        return 1.0 if len(emb) >= SELF_REFERENCE_MIN or training is None else 0.0
    return 1.0 if mode == "self" else 0.0


def choose_reference(
    emb: torch.Tensor, training: torch.Tensor | None, mode: str = "auto"
) -> tuple[torch.Tensor | None, float]:
    """The prior's reference for scoring the (N, 6, D) windows ``emb``, and its weight on their own
    mean (0: the training mean, 1: their own)."""
    weight = self_weight(emb, training, mode)
    return (reference_embedding(emb), 1.0) if weight else (training, 0.0)


@dataclass
class ScoredSet:
    """Step embeddings of one sample set and its labels as class names."""

    emb: torch.Tensor  # (N, 6, D)
    labels: list[str]

    def targets(self, classes: list[str]) -> np.ndarray:
        index = {c: i for i, c in enumerate(classes)}
        return np.array([index[lab] for lab in self.labels], np.int64)


def _rows(texts: ClassTexts, classes: list[str]) -> ClassTexts:
    index = {c: i for i, c in enumerate(texts.classes)}
    return texts.subset([index[c] for c in classes])


def zsl(s: ScoredSet, texts: ClassTexts, classes: list[str], scale: float, mode: str) -> dict[str, object]:
    """ZSL metrics of ``s`` choosing among ``classes`` only, with the texts of prompt ``mode``."""
    if not s.labels or not classes:
        return {"samples": 0}
    logits = step_logits(s.emb, _rows(texts, classes).get(mode), scale)
    out: dict[str, object] = dict(zsl_metrics(fused(logits), logits, s.targets(classes)))
    out["per_class"] = per_class_topk(fused(logits), s.targets(classes), classes)
    if mode == "descriptions":
        has = _rows(texts, classes).has_description
        out["classes_with_descriptions"] = int(has.sum())
    return out


def gzsl_scores(
    seen: ScoredSet,
    unseen: ScoredSet,
    texts: ClassTexts,
    seen_classes: list[str],
    unseen_classes: list[str],
    scale: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fused logits over seen + unseen classes for seen + unseen samples, labels, seen mask."""
    classes = seen_classes + unseen_classes
    emb = torch.cat([seen.emb, unseen.emb])
    logits = fused(step_logits(emb, _rows(texts, classes).get("names"), scale))
    labels = ScoredSet(emb, seen.labels + unseen.labels).targets(classes)
    mask = np.array([c in set(seen_classes) for c in classes])
    return logits, labels, mask


def seen_accuracy(s: ScoredSet, texts: ClassTexts, seen_classes: list[str], scale: float) -> float | None:
    """Fused top-1 of seen-class samples among the seen classes (how well training fits new people);
    None without samples."""
    if not s.labels:
        return None
    logits = fused(step_logits(s.emb, _rows(texts, seen_classes).get("names"), scale))
    return float(topk_correct(logits, s.targets(seen_classes), 1).mean())


def protocol_metrics(
    sets: dict[str, ScoredSet],
    texts: ClassTexts,
    seen: list[str],
    val_classes: list[str],
    unseen: list[str],
    scale: float,
) -> dict[str, object]:
    """Validation and test numbers of one trained model: the calibration comes from validation only."""
    out: dict[str, object] = {}
    gamma = 0.0
    if val_classes:
        out["val_zsl_names"] = zsl(sets["val_unseen"], texts, val_classes, scale, "names")
    if val_classes and sets["val_seen"].labels and sets["val_unseen"].labels:
        logits, labels, mask = gzsl_scores(
            sets["val_seen"], sets["val_unseen"], texts, seen, val_classes, scale
        )
        gamma = choose_calibration(logits, labels, mask)
        out["val_gzsl"] = gzsl_metrics(logits, labels, mask, gamma)
    out["calibration_gamma"] = gamma
    out["val_seen_top1"] = seen_accuracy(sets["val_seen"], texts, seen, scale)
    out["test_seen_top1"] = seen_accuracy(sets["test_seen"], texts, seen, scale)
    if unseen:
        out["test_zsl_names"] = zsl(sets["test_unseen"], texts, unseen, scale, "names")
        out["test_zsl_descriptions"] = zsl(sets["test_unseen"], texts, unseen, scale, "descriptions")
        if sets["test_seen"].labels and sets["test_unseen"].labels:
            logits, labels, mask = gzsl_scores(
                sets["test_seen"], sets["test_unseen"], texts, seen, unseen, scale
            )
            out["test_gzsl"] = gzsl_metrics(logits, labels, mask, gamma)
            out["test_gzsl_uncalibrated"] = gzsl_metrics(logits, labels, mask, 0.0)
    return out


def score_sets(
    model: NeuronModel, datasets: dict[str, torch.utils.data.Dataset], labels: dict[str, list[str]],
    batch_size: int, d: Dist,
) -> dict[str, ScoredSet]:  # fmt: skip
    return {
        name: ScoredSet(embed(model, ds, batch_size, d, name), labels[name]) for name, ds in datasets.items()
    }


# ---------------------------------------------------------------------------------------------------
# evaluate a folder of interchange files


def read_labelled_windows(
    folder: str | Path, preprocess: Preprocess
) -> tuple[list[np.ndarray], list[str], int]:
    """Model windows and labels of every labelled interchange .npz under ``folder``, and how many files
    could not be read."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder")
    windows, found, skipped = [], [], 0
    for path in sorted(folder.rglob("*.npz")):
        try:
            skel = load_npz(path)
        except SkeletonError:
            skipped += 1
            continue
        if skel.label:
            windows.append(contract_window(skel, preprocess))
            found.append(skel.label.strip())
    if not found:
        raise DataError(f"{folder}: no labelled skeleton .npz files found (a file needs a 'label' array)")
    return windows, found, skipped


def example_scores(
    model: NeuronModel, emb: torch.Tensor, labels: list[str], examples: str | Path, preprocess: Preprocess,
    batch_size: int, d: Dist,
) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:  # fmt: skip
    """Fused example cosines (N, C) of ``emb`` against the prototypes of the examples under ``examples``,
    which labels have examples, and how many each has (files with other labels are not used)."""
    windows, found, _ = read_labelled_windows(examples, preprocess)
    by_key = {lab.casefold(): i for i, lab in enumerate(labels)}
    rows = [(i, by_key[lab.casefold()]) for i, lab in enumerate(found) if lab.casefold() in by_key]
    if not rows:
        raise DataError(f"{examples}: none of the examples' labels is among the labels scored")
    x = torch.from_numpy(np.stack([windows[i] for i, _ in rows]))
    dataset = torch.utils.data.TensorDataset(x, torch.zeros(len(x)))
    ex_emb = run_sharded(model, dataset, batch_size, d, "examples").float().numpy()
    protos = np.zeros((len(labels), *ex_emb.shape[1:]), np.float32)
    counts = dict.fromkeys(labels, 0)
    for c, label in enumerate(labels):
        mine = [k for k, (_, col) in enumerate(rows) if col == c]
        if mine:
            protos[c] = example_prototype(ex_emb[mine])
            counts[label] = len(mine)
    has = np.array([counts[label] > 0 for label in labels])
    return fused_cosines(emb.float().numpy(), protos, model.config.fusion), has, counts


def overall(logits: np.ndarray, targets: np.ndarray, labels: list[str]) -> dict[str, object]:
    """A scored folder's summary: top-1/top-5 by file (the field's protocol), class-balanced (each class
    counts once: the cross-data-set benchmark's measure, fair to a set whose classes differ in size),
    and the most frequent answer with its share of the files (a collapse alarm)."""
    s = set_scores(logits, targets, len(labels))
    return {
        "top1": s["top1_samples"],
        "top5": s["top5_samples"],
        "class_balanced_top1": s["top1"],
        "class_balanced_top5": s["top5"],
        "max_label_share": s["max_label_share"],
        "most_frequent_label": labels[s["most_frequent"]],
    }


def evaluate_folder(
    model: NeuronModel,
    texts_for,
    folder: str | Path,
    labels: list[str] | None,
    preprocess: Preprocess,
    batch_size: int,
    d: Dist,
    examples: str | Path | None = None,
    reference: torch.Tensor | None = None,
    reference_mode: str = "auto",
) -> dict[str, object]:
    """Score every labelled .npz under ``folder`` against ``labels`` (default: the labels found).

    ``texts_for(labels) -> (ClassTexts, mode)`` builds the class texts. Unreadable files and files
    whose label is not among ``labels`` are counted and left out; no labelled file is an error. With
    ``examples`` (a folder of labelled .npz files) each label's score also uses its examples, mixed
    with its text as in the live app (:mod:`neuron_core.examples`). ``reference`` is the checkpoint's
    training mean; ``reference_mode`` chooses between it and the scored windows' own mean
    (:func:`choose_reference`); with the "prior" calibration the figures of both are reported.
    """
    folder = Path(folder)
    windows, found, skipped = read_labelled_windows(folder, preprocess)
    if labels is None:
        labels = sorted(set(found), key=str.casefold)
    by_key = {lab.casefold(): lab for lab in labels}
    keep = [i for i, lab in enumerate(found) if lab.casefold() in by_key]
    if not keep:
        raise DataError(f"{folder}: none of the files' labels is among the labels given")
    texts, mode = texts_for(labels)
    x = torch.from_numpy(np.stack([windows[i] for i in keep]))
    model.eval()
    emb = run_sharded(model, torch.utils.data.TensorDataset(x, torch.zeros(len(x))), batch_size, d, "scoring")
    targets = np.array([labels.index(by_key[found[i].casefold()]) for i in keep])
    scale = model.logit_scale.item()
    calibration, fusion = model.config.calibration, model.config.fusion
    chosen, weight = choose_reference(emb, reference, reference_mode)
    ex = None
    if examples is not None:
        ex, has, counts = example_scores(model, emb, labels, examples, preprocess, batch_size, d)

    def final_logits(ref: torch.Tensor | None) -> np.ndarray:
        logits = fused(step_logits(emb, texts.get(mode), scale, calibration, ref), fusion)
        if ex is not None:
            logits = combine(logits, ex * scale, has, EXAMPLE_WEIGHT, EXAMPLE_BASELINE * scale, fusion)
        return resolve_sides(labels, x.numpy(), logits)  # mirror pairs: the side from the skeleton

    logits = final_logits(chosen)
    per_class = per_class_topk(logits, targets, labels)
    out = {
        "files": len(keep),
        "files_with_other_labels": len(found) - len(keep),
        "files_unreadable": skipped,
        "labels": labels,
        "prompt_mode": mode,
        "labels_with_descriptions": [c for c, h in zip(labels, texts.has_description, strict=True) if h],
        "overall": overall(logits, targets, labels),
        "per_class": per_class,
    }
    if needs_reference(calibration):
        # Both references' figures, so a reader sees what the choice changed.
        own = reference_embedding(emb)
        figures: dict[str, object] = {"self_weight": weight, "windows": len(keep)}
        if reference is not None:
            figures["shift"] = reference_shift(own, reference)
        for name, ref in {"training": reference, "self": own}.items():
            if ref is not None:  # the chosen one's logits are there already
                lg = logits if (name == "self") == bool(weight) else final_logits(ref)
                figures[name] = overall(lg, targets, labels)
        out["reference"] = figures
    if ex is not None:
        out["examples_per_label"] = counts
        out["example_weight"] = {"weight": EXAMPLE_WEIGHT, "baseline": EXAMPLE_BASELINE}
    return out
