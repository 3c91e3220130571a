"""Is an ensemble of trained draws worth its cost? The logits of several models, averaged.

    python tools/ensemble_check.py bench runs/benchmark/bench [runs/benchmark/bench-depth ...]
    python tools/ensemble_check.py video runs/all-r1-s0/ship.pt runs/all-r1-s1/ship.pt ...

``bench``: for every held-out set, the folds of the given benchmark directories (every seed) are
scored from their saved embeddings with one scoring (default the shipped one, training mean), alone
and with their fused logits averaged; prints the mean over the held-out sets of both, all classes and
new words. ``video``: the checkpoints score the video benchmark's cached detections together through
the app's pipeline (the mean of their fused logits, then the softmax), each with a live reference
from the clips of the *other* source repositories (as ``tools/live_reference_check.py --by-source``).
An ensemble costs one model call per member and window.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from neuron_core import scoring  # noqa: E402
from neuron_core.laterality import mirror_pairs, resolve_sides  # noqa: E402

SHIPPED = "bank+names/prior+centre/all"
HOLDOUTS = ("nw_ucla", "utkinect", "h36m", "cmu8")


class EnsembleRecognizer:
    """The recogniser the pipeline sees: labels and preprocessing of the first member, scores from all."""

    def __init__(self, members: list) -> None:
        self.members = members

    def __getattr__(self, name: str):  # meta, config, ... of the first member (the same contract)
        return getattr(self.members[0], name)

    @property
    def labels(self) -> list[str]:
        return self.members[0].labels

    def set_labels(self, labels: list[str]) -> list[str]:
        return [m.set_labels(labels) for m in self.members][0]

    def scores(self, windows: np.ndarray) -> np.ndarray:
        fused = []
        for member in self.members:
            labels, logits = member._text_logits(member.embed(windows))
            fused.append(scoring.fuse(logits, member.config.fusion))
        mean = np.mean(fused, axis=0)
        if mirror_pairs(labels):
            mean = resolve_sides(labels, self.members[0]._as_batch(windows), mean)
        return scoring.softmax(mean)


def fold_logits(
    fold: Path, key: str, cache_dir: Path
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A finished benchmark fold under scoring ``key`` (texts/calibration/fusion), as the benchmark
    scores it: (N, C) fused logits and targets over all classes, then the same for the windows of the
    new words scored among themselves (empty when fewer than two)."""
    from neuron_core.checkpoint import load_checkpoint
    from neuron_core.model import class_logits, fuse
    from neuron_core.prompts import class_text_embeddings
    from neuron_core.text_encoders import get_text_encoder

    result = json.loads((fold / "result.json").read_text())
    with np.load(fold / "embeddings.npz", allow_pickle=False) as z:
        emb = torch.from_numpy(z["emb"].astype(np.float32))
        labels = [str(v) for v in z["labels"]]
    model, meta = load_checkpoint(fold / "neuron.pt")
    reference = meta.reference()
    if reference is None:  # folds trained before checkpoints carried it (train.py benchmark --rescore)
        reference = torch.from_numpy(np.load(fold / "reference.npy", allow_pickle=False))
    texts, calibration, rule = key.split("/")
    classes = list(result["classes"])
    encoder = get_text_encoder(meta.text_encoder, cache_dir=cache_dir)
    k = meta.text.prompts_per_granularity
    class_emb = torch.from_numpy(class_text_embeddings(encoder, classes, texts, None, k))
    scale = model.logit_scale.item()
    index = {c: i for i, c in enumerate(classes)}
    targets = np.array([index[label] for label in labels])
    new = [i for i, c in enumerate(classes) if not result["in_training"][c]]
    rows = np.isin(targets, new)

    def fused(windows: torch.Tensor, protos: torch.Tensor) -> np.ndarray:
        return fuse(class_logits(windows, protos, scale, calibration, reference), rule).double().numpy()

    remap = {c: j for j, c in enumerate(new)}
    sub = (fused(emb[rows], class_emb[new]), np.array([remap[t] for t in targets[rows]]))
    if len(new) < 2:
        sub = (np.zeros((0, 0)), np.zeros(0, int))
    return fused(emb, class_emb), targets, *sub


def top1(logits: np.ndarray, targets: np.ndarray) -> float | None:
    """Class-balanced top-1 (None without two classes to choose from)."""
    from training.metrics import set_scores

    return set_scores(logits, targets, logits.shape[1])["top1"] if logits.shape[1] >= 2 else None


def bench(dirs: list[Path], key: str, cache_dir: Path) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for holdout in HOLDOUTS:
        folds = sorted(f for d in dirs for f in d.glob(f"seed*/{holdout}") if (f / "embeddings.npz").exists())
        if not folds:
            continue
        scored = [fold_logits(f, key, cache_dir) for f in folds]
        if any(not np.array_equal(s[1], scored[0][1]) for s in scored):
            raise SystemExit(f"error: the folds of {holdout} did not score the same windows")
        row: dict[str, float | None] = {"members": len(folds)}
        for name, at in (("", 0), ("_new_words", 2)):
            alone = [top1(s[at], s[at + 1]) for s in scored]
            row[f"alone{name}"] = None if alone[0] is None else float(np.mean(alone))
            row[f"together{name}"] = top1(np.mean([s[at] for s in scored], axis=0), scored[0][at + 1])
        out[holdout] = row
    mean = {}
    for name in ("alone", "together", "alone_new_words", "together_new_words"):
        values = [row[name] for row in out.values() if row[name] is not None]
        mean[name] = float(np.mean(values)) if values else None
    return {**out, "mean": mean}


def video(checkpoints: list[Path], videos: Path) -> dict[str, float]:
    from app import video_eval as V
    from app.config import LiveConfig
    from app.session import load_recognizer

    clips = V.find_clips(videos, None, None)
    with open(videos / "labels.tsv", encoding="utf-8", newline="") as fh:
        source = {row["file"]: row["source"].split("@")[0] for row in csv.DictReader(fh, delimiter="\t")}
    labels = list(dict.fromkeys(c.truth for c in clips))
    config = LiveConfig(labels=labels, checkpoint=checkpoints[0], headless=True, fast=True)
    members = [
        load_recognizer(
            LiveConfig(labels=labels, checkpoint=c, headless=True, fast=True), labels, from_pose=False
        )
        for c in checkpoints
    ]
    seen = [V.record_embeddings(m) for m in members]
    ensemble = EnsembleRecognizer(members)

    def run(clip: V.Clip) -> tuple[dict, list[np.ndarray]]:
        for kept in seen:
            kept.clear()
        detections, _ = V.cached_detections(clip.path, config, False)
        shown, _ = V.score_clip(clip, detections, config, ensemble)
        return V.clip_summary(clip, shown), [np.concatenate(k) if k else np.zeros((0,)) for k in seen]

    first = [run(clip) for clip in clips]  # each member's windows, with its training reference
    out = []
    for clip in clips:
        for i, member in enumerate(members):
            others = [e[i] for c, (_, e) in zip(clips, first, strict=True)
                      if source[c.path.name] != source[clip.path.name] and len(e[i])]  # fmt: skip
            member._reference = V.live_reference(others)
        out.append(run(clip)[0])
    summary = V.summarise(out, labels)
    return {k: summary[k] for k in ("class_balanced_top1", "class_balanced_top5", "clip_accuracy")}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("bench", help="benchmark folds (saved embeddings), alone and averaged")
    b.add_argument("dirs", nargs="+", type=Path, help="benchmark output directories (runs/benchmark/NAME)")
    b.add_argument("--scoring", default=SHIPPED, help=f"texts/calibration/fusion (default {SHIPPED})")
    b.add_argument("--text-cache", type=Path, default=Path("runs/cache/text"))
    v = sub.add_parser("video", help="the video benchmark with the checkpoints together")
    v.add_argument("checkpoints", nargs="+", type=Path)
    v.add_argument("--videos", type=Path, default=Path("../shared/data/videos"))
    args = p.parse_args(argv)
    if args.command == "bench":
        result = bench(args.dirs, args.scoring, args.text_cache)
    else:
        result = video(args.checkpoints, args.videos)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
