"""Few-shot measurement: how much recorded examples add to typed names, and the weight that mixes them.

    python -m training.few_shot tune    --checkpoint CKPT --skeletons DIR [--group-key subject]
    python -m training.few_shot measure --checkpoint CKPT --skeletons DIR [--weight W --baseline B]
    python -m training.few_shot fold    --fold runs/benchmark/<name>/seed0/<held-out set>

Both read every labelled skeleton file under DIR (interchange ``.npz``, NW-UCLA ``.json``, ...), embed
each clip once with the model, and score it leave-one-group-out: the examples for a clip always come
from other groups (``meta[group_key]``: the subject, so other people), never from its own.
``tune`` grids the text/example weight with every class taught (where the baseline cannot matter) and
then the baseline with half the classes taught (where it does), and prints the choice as JSON;
``neuron_core.examples`` keeps the constants it chose and names the set they were chosen on.
``measure`` reports zero-shot and 1/3/5-shot class-balanced top-1/top-5 at given constants;
``fold`` does the same from a finished cross-data-set benchmark fold (its saved held-out embeddings,
labels and groups, and the fold's model for the text encoder), so the held-out set is scored with a
model that never saw it and constants chosen elsewhere.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from neuron_core.checkpoint import load_checkpoint
from neuron_core.examples import EXAMPLE_BASELINE, EXAMPLE_WEIGHT, few_shot_metrics
from neuron_core.model import NeuronModel
from neuron_core.prompts import encode_classes
from neuron_core.text_encoders import get_text_encoder
from pose.errors import NeuronLiveError, SkeletonError
from pose.normalize import Preprocess, contract_window
from pose.readers import read_skeleton_file

SUFFIXES = (".npz", ".json")
WEIGHTS = tuple(round(0.1 * i, 1) for i in range(11))
BASELINES = tuple(round(0.05 * i, 2) for i in range(21))


def read_labelled(
    folder: Path, preprocess: Preprocess, group_key: str
) -> tuple[np.ndarray, list[str], list[str]]:
    """Model windows, labels and groups of every labelled, grouped skeleton file under ``folder``."""
    windows, labels, groups = [], [], []
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES)
    for path in tqdm(paths, desc="reading", leave=False):
        try:
            skel = read_skeleton_file(path)
        except SkeletonError:
            continue
        if skel.label and group_key in skel.meta:
            windows.append(contract_window(skel, preprocess))
            labels.append(skel.label.strip())
            groups.append(skel.meta[group_key])
    if not windows:
        raise SkeletonError(f"{folder}: no labelled skeleton file with meta {group_key!r} found")
    return np.stack(windows), labels, groups


@torch.no_grad()
def embed_windows(model: NeuronModel, windows: np.ndarray, batch: int = 32) -> np.ndarray:
    """(N, 6, D) step embeddings, eval mode, in batches."""
    model.eval()
    parts = [
        model(torch.from_numpy(windows[i : i + batch])).numpy()
        for i in tqdm(range(0, len(windows), batch), desc="embedding", leave=False)
    ]
    return np.concatenate(parts)


def prepare(checkpoint: str, folder: str, group_key: str) -> dict[str, object]:
    """Everything the measurements need, computed once: embeddings, labels, groups, class texts."""
    model, meta = load_checkpoint(Path(checkpoint))
    windows, names, groups = read_labelled(Path(folder), meta.preprocess, group_key)
    classes = sorted(set(names), key=str.casefold)
    encoder = get_text_encoder(meta.text_encoder)
    return {
        "emb": embed_windows(model, windows),
        "labels": np.array([classes.index(n) for n in names]),
        "groups": np.array(groups),
        "text": encode_classes(encoder, classes, None, meta.text.prompts_per_granularity),
        "classes": classes,
    }


def from_fold(fold: Path) -> dict[str, object]:
    """The same inputs as :func:`prepare`, from a benchmark fold folder (``embeddings.npz``,
    ``result.json``, ``neuron.pt``)."""
    try:
        result = json.loads((fold / "result.json").read_text(encoding="utf-8"))
        with np.load(fold / "embeddings.npz", allow_pickle=False) as z:
            emb, names, groups = z["emb"].astype(np.float32), [str(v) for v in z["labels"]], z["groups"]
    except (OSError, KeyError, ValueError) as exc:
        raise SkeletonError(f"{fold}: not a finished benchmark fold ({exc})") from None
    classes = list(result["classes"])
    _, meta = load_checkpoint(fold / "neuron.pt")
    return {
        "emb": emb,
        "labels": np.array([classes.index(n) for n in names]),
        "groups": np.asarray(groups),
        "text": encode_classes(
            get_text_encoder(meta.text_encoder), classes, None, meta.text.prompts_per_granularity
        ),
        "classes": classes,
    }


def _top1(data: dict[str, object], shots: tuple[int, ...], **kwargs: float) -> float:
    res = few_shot_metrics(
        data["emb"], data["labels"], data["groups"], data["text"], data["classes"], shots, 0, **kwargs
    )
    return float(np.mean([res[f"{k}_shot"]["top1"] for k in shots]))


def tune(data: dict[str, object], shots: tuple[int, ...] = (1, 3, 5)) -> dict[str, object]:
    """The weight by mean k-shot top-1 with every class taught, then the baseline with half taught."""
    by_weight = {w: _top1(data, shots, weight=w, episodes=3) for w in tqdm(WEIGHTS, desc="weight")}
    weight = max(by_weight, key=by_weight.get)
    by_baseline = {
        b: _top1(data, shots, weight=weight, baseline=b, episodes=3, taught_fraction=0.5)
        for b in tqdm(BASELINES, desc="baseline")
    }
    baseline = max(by_baseline, key=by_baseline.get)
    return {
        "weight": weight,
        "baseline": baseline,
        "mean_top1_by_weight_all_taught": by_weight,
        "mean_top1_by_baseline_half_taught": by_baseline,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.few_shot", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("tune", "measure", "fold"))
    parser.add_argument("--checkpoint", help="the model (tune, measure)")
    parser.add_argument("--skeletons", help="folder of labelled skeleton files (tune, measure)")
    parser.add_argument("--fold", type=Path, help="a finished benchmark fold folder (fold)")
    parser.add_argument("--group-key", default="subject", help="meta key naming who recorded a clip")
    parser.add_argument("--weight", type=float, default=EXAMPLE_WEIGHT)
    parser.add_argument("--baseline", type=float, default=EXAMPLE_BASELINE)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    try:
        if args.command == "fold":
            if args.fold is None:
                raise SkeletonError("fold needs --fold DIR")
            data, source = from_fold(args.fold), {"fold": str(args.fold)}
        else:
            if not (args.checkpoint and args.skeletons):
                raise SkeletonError(f"{args.command} needs --checkpoint and --skeletons")
            data = prepare(args.checkpoint, args.skeletons, args.group_key)
            source = {"skeletons": args.skeletons, "checkpoint": args.checkpoint}
    except NeuronLiveError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.command == "tune":
        result = tune(data)
    else:
        result = {
            shown: few_shot_metrics(
                data["emb"],
                data["labels"],
                data["groups"],
                data["text"],
                data["classes"],
                weight=args.weight,
                baseline=args.baseline,
                taught_fraction=fraction,
            )
            for shown, fraction in (("all_taught", 1.0), ("half_taught", 0.5))
        }
    print(json.dumps({**source, **result}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
