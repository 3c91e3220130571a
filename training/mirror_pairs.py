"""Mirror-pair accuracy: for clips of a one-sided action, is the right side of the pair chosen?

Every clip whose label names one side ("raise left hand") and whose set also has the mirror label
("raise right hand") is scored against just those two labels, by the model alone (name prompts) and
with the skeleton's side evidence (``neuron_core.laterality.resolve_sides``). The text encoder barely
separates the two names, so the first figure shows what text alone can do and the second what the
mechanism adds.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from neuron_base.atomic import atomic_write_text
from neuron_core.laterality import mirror_label, resolve_sides, side_of
from neuron_core.model import NeuronModel, class_logits, fuse
from neuron_core.prompts import encode_classes
from neuron_core.text_encoders import TextEncoder
from training import config as C
from training.data import WindowDataset, load_source
from training.distributed import Dist
from training.engine import embed

DEFAULT_SETS = ("bandai", "ase", "deepmimic")


def mirror_pair_accuracy(
    model: NeuronModel, encoder: TextEncoder, sets: list[str], cfg: C.TrainConfig, d: Dist
) -> dict[str, object]:
    """Per pair label and overall: samples, accuracy of the model alone and with the side evidence."""
    per_label: dict[str, dict[str, float]] = {}
    totals = defaultdict(float)
    for name in sets:
        store = load_source(C.shared_source(name), cfg.data.cache_dir)
        labels = [str(v) for v in store.labels]
        present = {lab.casefold() for lab in labels}
        chosen = [
            i for i, lab in enumerate(labels) if side_of(lab) and mirror_label(lab).casefold() in present
        ]
        if not chosen:
            continue
        ds = WindowDataset(
            store, np.array(chosen), np.zeros(len(chosen)), model.config.window, cfg.augment, False
        )
        windows = np.stack([ds[i][0].numpy() for i in range(len(ds))])  # normalised once, used twice
        x = torch.utils.data.TensorDataset(torch.from_numpy(windows), torch.zeros(len(windows)))
        emb = embed(model, x, cfg.eval_batch_size, d, f"mirror pairs {name}")
        for pair_label in sorted({labels[i] for i in chosen}):
            rows = [k for k, i in enumerate(chosen) if labels[i] == pair_label]
            pair = [pair_label, mirror_label(pair_label)]
            texts = torch.from_numpy(encode_classes(encoder, pair, None, cfg.prompts_per_granularity))
            raw = class_logits(emb[rows], texts, model.logit_scale.item())
            logits = fuse(raw, model.config.fusion).double().numpy()
            resolved = resolve_sides(pair, windows[rows], logits)
            alone = float((logits.argmax(1) == 0).mean())
            mech = float((resolved.argmax(1) == 0).mean())
            per_label[f"{name}: {pair_label}"] = {
                "samples": len(rows),
                "model_alone": alone,
                "with_sides": mech,
            }
            totals["samples"] += len(rows)
            totals["model_alone"] += alone * len(rows)
            totals["with_sides"] += mech * len(rows)
    n = max(totals["samples"], 1)
    overall = {"samples": int(totals["samples"]), "model_alone": totals["model_alone"] / n,
               "with_sides": totals["with_sides"] / n}  # fmt: skip
    return {"overall": overall, "per_label": per_label, "sets": sets}


def write_markdown(result: dict[str, object], path: Path) -> None:
    lines = ["| pair label | samples | model alone | with the skeleton's side |", "|---|---|---|---|"]
    for label, row in result["per_label"].items():
        lines.append(f"| {label} | {row['samples']} | {row['model_alone']:.3f} | {row['with_sides']:.3f} |")
    o = result["overall"]
    lines.append(f"| **all** | {o['samples']} | **{o['model_alone']:.3f}** | **{o['with_sides']:.3f}** |")
    atomic_write_text(path, "\n".join(lines) + "\n")
