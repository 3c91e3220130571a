"""Cross-data-set zero-shot benchmark: leave one data set out, score it against its own class names.

For each held-out set and seed the whole recipe trains (backbone pre-training included) on every other
set, then the held-out set's windows are embedded once and scored against the held-out set's own label
names, as a user would type them. This is the model-selection criterion: unlike a class split of one
vocabulary, no held-out class has a near twin recorded by the same people in training.

Two variants per held-out set:
- ``kept``: all its classes (those whose names also occur in training test new people and recordings);
- ``new_words``: only classes whose names occur nowhere in training (new words too), scored among
  themselves. A name "occurs" when its normalised form equals a training label's, or their name
  embeddings are at least ``SAME_NAME_COSINE`` apart (``walking`` vs ``walk``).

Figures per variant: class-balanced top-1 and top-5, and the share of predictions taken by the most
frequent label (a collapse alarm: 1.0 means every window got the same answer), for every scoring
calibration (``neuron_core.calibration``). Everything a re-scoring needs is kept per fold
(``embeddings.npz``, ``neuron.pt``), so a change of the scoring side costs seconds, not a retraining.
Resumable: a fold whose ``result.json`` exists is not run again.
"""

from __future__ import annotations

import copy
import json
import logging
import re
import time
from dataclasses import dataclass
from itertools import product
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from neuron_base.atomic import atomic_path, atomic_write_text
from neuron_core.calibration import CALIBRATIONS, needs_reference
from neuron_core.checkpoint import load_checkpoint, read_checkpoint_meta
from neuron_core.description_bank import load_bank
from neuron_core.examples import few_shot_metrics
from neuron_core.model import FUSIONS, class_logits, fuse
from neuron_core.prompts import TEXT_SOURCES, class_text_embeddings
from neuron_core.text_encoders import HASH_PREFIX, MINILM_NAME, TextEncoder, get_text_encoder
from pose.skeleton import write_npz
from training import config as C
from training.data import WindowDataset, load_source, load_store
from training.distributed import Dist
from training.engine import embed, reference_embedding
from training.evaluate import choose_reference
from training.metrics import set_scores

log = logging.getLogger("training.benchmark")

SAME_NAME_COSINE = 0.9
# Which held-out names count as known (occurring in training) is the benchmark's definition, not the
# recipe's: it is decided with MiniLM whatever text encoder a recipe trains with (e5 puts unrelated
# names above SAME_NAME_COSINE: with it, UTKinect kept 2 new words of 5), so every recipe is scored
# on the same new-word classes.
SPLIT_ENCODER = MINILM_NAME
DEFAULT_HOLDOUTS = ("nw_ucla", "utkinect", "h36m", "cmu8")


@dataclass
class Fold:
    """One held-out set and seed; the model trains on ``train_sets``."""

    holdout: str
    seed: int
    train_sets: list[str]

    @property
    def name(self) -> str:
        return f"seed{self.seed}/{self.holdout}"


def plan(holdouts: list[str], sets: list[str], seeds: list[int]) -> list[Fold]:
    unknown = [s for s in [*holdouts, *sets] if s not in C.SHARED_SETS]
    if unknown:
        raise C.ConfigError(f"unknown data set {unknown[0]!r}; known: {', '.join(C.SHARED_SETS)}")
    return [Fold(h, s, [t for t in sets if t != h]) for s in seeds for h in holdouts]


_WORD = re.compile(r"[a-z]+")
_FILLER = {"a", "an", "the", "do", "doing", "someone"}


def _stem(word: str) -> str:
    for suffix in ("ing", "es", "s", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    if len(word) > 3 and word[-1] == word[-2]:  # sitt(ing) -> sit, runn(ing) -> run
        word = word[:-1]
    return word.rstrip("e")


def name_key(name: str) -> str:
    """A label's words, stemmed, without articles and filler verbs: "Doing squats" -> "squat"."""
    words = [w for w in _WORD.findall(name.casefold()) if w not in _FILLER]
    return " ".join(_stem(w) for w in words)


def split_encoder(recipe_encoder: str) -> str:
    """SPLIT_ENCODER, except for the hashing test stand-in (tests load no weights): its own."""
    return recipe_encoder if recipe_encoder.startswith(HASH_PREFIX) else SPLIT_ENCODER


def known_names(classes: list[str], training: list[str], cfg: C.TrainConfig) -> dict[str, bool]:
    """Per held-out class: does its name occur in training (``names_in_training``, ``split_encoder``)."""
    encoder = get_text_encoder(split_encoder(cfg.text_encoder), cache_dir=Path(cfg.data.cache_dir) / "text")
    return dict(zip(classes, names_in_training(classes, training, encoder), strict=True))


def names_in_training(names: list[str], training: list[str], encoder: TextEncoder) -> list[bool]:
    """Per held-out name: does it (or a near paraphrase) occur among the training labels?"""
    keys = {name_key(t) for t in training}
    a = np.asarray(encoder.encode(list(names)), np.float32)
    b = np.asarray(encoder.encode(list(training)), np.float32)
    cos = (a / np.linalg.norm(a, axis=1, keepdims=True)) @ (b / np.linalg.norm(b, axis=1, keepdims=True)).T
    return [bool(name_key(n) in keys or cos[i].max() >= SAME_NAME_COSINE) for i, n in enumerate(names)]


# ---------------------------------------------------------------------------------------------------
# scoring


def score_fold(
    emb: torch.Tensor,
    labels: list[str],
    texts: dict[str, torch.Tensor],
    classes: list[str],
    in_training: list[bool],
    scale: float,
    reference: torch.Tensor | None,
) -> dict[str, dict[str, dict[str, float]]]:
    """variant -> scoring ("<texts>/<calibration>/<fusion>") -> figures, for one fold's held-out embeddings.

    ``texts``: name -> (C, 6, K, D) class text embeddings (name prompts, description bank, ...).
    """
    index = {c: i for i, c in enumerate(classes)}
    targets = np.array([index[lab] for lab in labels])
    new = [i for i, t in enumerate(in_training) if not t]
    out: dict[str, dict[str, dict[str, float]]] = {"kept": {}, "new_words": {}}
    rows = np.isin(targets, new)
    remap = {c: j for j, c in enumerate(new)}
    # The prior's reference: the training mean; ("@self") the scored windows' own mean, as
    # ``train.py evaluate --reference self`` takes it (the new words' from their own windows); and
    # ("@auto") whichever of the two ``train.py evaluate``'s default takes.
    references = [("", reference, reference)]
    if len(emb):
        own_new = reference_embedding(emb[rows]) if rows.any() else None
        references.append(("@self", reference_embedding(emb), own_new))
        auto_new = choose_reference(emb[rows], reference)[0] if rows.any() else None
        references.append(("@auto", choose_reference(emb, reference)[0], auto_new))
    for text_name, class_emb in texts.items():
        for calibration, (tag, ref, sub_ref) in product(CALIBRATIONS, references):
            if (needs_reference(calibration) and ref is None) or (tag and not needs_reference(calibration)):
                continue
            steps = class_logits(emb, class_emb, scale, calibration, ref)
            scored_new = len(new) >= 2 and (sub_ref is not None or not needs_reference(calibration))
            sub_steps = (
                class_logits(emb[rows], class_emb[new], scale, calibration, sub_ref) if scored_new else None
            )
            for rule in FUSIONS:
                key = f"{text_name}/{calibration}{tag}/{rule}"
                out["kept"][key] = set_scores(fuse(steps, rule).double().numpy(), targets, len(classes))
                if sub_steps is not None:
                    sub = fuse(sub_steps, rule).double().numpy()
                    out["new_words"][key] = set_scores(
                        sub, np.array([remap[t] for t in targets[rows]]), len(new)
                    )
    return out


def class_texts(encoder: TextEncoder, classes: list[str], k: int) -> dict[str, torch.Tensor]:
    """Every text source (``neuron_core.prompts.TEXT_SOURCES``) a held-out set is scored with."""
    return {s: torch.from_numpy(class_text_embeddings(encoder, classes, s, None, k)) for s in TEXT_SOURCES}


SHOTS = (1, 3, 5)


def few_shot(emb: torch.Tensor, labels: list[str], groups: np.ndarray, names: torch.Tensor,
             classes: list[str], seed: int, rule: str) -> dict[str, object]:  # fmt: skip
    """Zero-shot beside 1, 3 and 5 examples per class drawn from other recordings (groups) than the
    scored ones, mixed with the name prompts as the live app mixes them (``neuron_core.examples``),
    fused by the recipe's rule."""
    index = {c: i for i, c in enumerate(classes)}
    targets = np.array([index[lab] for lab in labels])
    return few_shot_metrics(emb.float().numpy(), targets, np.asarray(groups), names.numpy(), classes, SHOTS,
                            seed, episodes=2, rule=rule)  # fmt: skip


def _fold_reference(model: torch.nn.Module, cfg: C.TrainConfig, result: dict) -> torch.Tensor:
    """The "prior" reference of a fold whose checkpoint lacks it, from its own training sets."""
    from training.train import REFERENCE_WINDOWS

    store = load_store([C.shared_source(n) for n in result["train_sets"]], cfg.data.cache_dir, {})
    rng = np.random.default_rng([int(result["seed"]), 11])
    idx = np.sort(rng.choice(len(store), min(REFERENCE_WINDOWS, len(store)), replace=False))
    ds = WindowDataset(store, idx, np.zeros(idx.size), cfg.data.window, cfg.augment, train=False)
    return reference_embedding(embed(model, ds, cfg.eval_batch_size, Dist(), "reference windows"))


def rescore(fold_dir: Path, cfg: C.TrainConfig) -> dict[str, object]:
    """Score a finished fold again from its saved embeddings with the current scoring code (seconds)."""
    result = json.loads((fold_dir / "result.json").read_text())
    with np.load(fold_dir / "embeddings.npz", allow_pickle=False) as z:
        emb = torch.from_numpy(z["emb"].astype(np.float32))
        labels = [str(v) for v in z["labels"]]
        groups = z["groups"]
    model, meta = load_checkpoint(fold_dir / "neuron.pt")
    reference = meta.reference()
    cached = fold_dir / "reference.npy"
    if reference is None and cached.exists():
        reference = torch.from_numpy(np.load(cached, allow_pickle=False))
    if reference is None:  # folds trained before checkpoints carried it: computed the same way now
        reference = _fold_reference(model, cfg, result)
        with atomic_path(cached) as tmp, open(tmp, "wb") as fh:
            np.save(fh, reference.numpy(), allow_pickle=False)
    encoder = get_text_encoder(cfg.text_encoder, cache_dir=Path(cfg.data.cache_dir) / "text")
    split = split_encoder(meta.text_encoder)
    if result.get("split_encoder", meta.text_encoder) != split:  # split before it had one encoder
        # With every group of the training sets training (benchmark folds), their labels are its labels.
        sources = [load_source(C.shared_source(name), cfg.data.cache_dir) for name in result["train_sets"]]
        training = sorted({str(v) for source in sources for v in source.labels})
        result["in_training"] = known_names(list(result["classes"]), training, cfg)
    result["split_encoder"] = split  # the encoder that decided ``in_training``: not decided again
    _score_into(result, emb, labels, groups, model.logit_scale.item(), reference, encoder, cfg)
    atomic_write_text(fold_dir / "result.json", json.dumps(result, indent=2))
    return result


def _score_into(
    result: dict[str, object],
    emb: torch.Tensor,
    labels: list[str],
    groups: np.ndarray,
    scale: float,
    reference: torch.Tensor | None,
    encoder: TextEncoder,
    cfg: C.TrainConfig,
) -> None:
    """Fill a fold's figures (every scoring, few-shot, the bank's coverage) from its held-out
    embeddings: the one scoring path of a fresh fold and of ``rescore``."""
    classes = list(result["classes"])
    in_training = [bool(result["in_training"][c]) for c in classes]
    texts = class_texts(encoder, classes, cfg.prompts_per_granularity)
    result["scores"] = score_fold(emb, labels, texts, classes, in_training, scale, reference)
    result["few_shot"] = few_shot(emb, labels, groups, texts["names"], classes, int(result["seed"]),
                                  cfg.model.fusion)  # fmt: skip
    result["bank_knows"] = [c for c in classes if load_bank().entry(c) is not None]


# ---------------------------------------------------------------------------------------------------
# running folds


def _fold_config(recipe: C.TrainConfig, fold: Fold, out: Path) -> C.TrainConfig:
    cfg = copy.deepcopy(recipe)
    cfg.data.sources = [C.shared_source(name) for name in fold.train_sets]
    cfg.split = C.SplitConfig(val_group_fraction=0.0, test_group_fraction=0.0)
    cfg.seed = fold.seed
    cfg.output_dir = str(out)
    return cfg.validate()


def run_fold(recipe: C.TrainConfig, fold: Fold, out: Path, d: Dist) -> dict[str, object]:
    """Train on the fold's sets, embed the held-out set, score it; writes result.json last."""
    from training.train import build_run, finish, pretrain, train_neuron  # the stages, not the CLI

    out.mkdir(parents=True, exist_ok=True)
    cfg = _fold_config(recipe, fold, out)
    t0 = time.time()
    run = build_run(cfg, d, f"benchmark fold {fold.name}")
    backbone = pretrain(run, resume=True)
    model, _ = train_neuron(run, backbone, resume=True)
    finish(run, model, cfg.neuron.epochs, {"total": time.time() - t0}, None)
    held = load_source(C.shared_source(fold.holdout), cfg.data.cache_dir)
    labels = [str(v) for v in held.labels]
    classes = sorted(set(labels), key=str.casefold)
    ds = WindowDataset(held, np.arange(len(held)), np.zeros(len(held)), cfg.data.window, cfg.augment, False)
    emb = embed(model, ds, cfg.eval_batch_size, d, f"held-out {fold.holdout}")
    encoder = get_text_encoder(cfg.text_encoder, cache_dir=Path(cfg.data.cache_dir) / "text")
    training_labels = list(run.split.seen)
    groups = held.groups.astype(str)
    write_npz(
        out / "embeddings.npz", {"emb": emb.half().numpy(), "labels": np.array(labels), "groups": groups}
    )
    result: dict[str, object] = {
        "holdout": fold.holdout,
        "seed": fold.seed,
        "train_sets": fold.train_sets,
        "train_samples": int(run.split.counts()["train"]),
        "train_labels": len(training_labels),
        "classes": classes,
        "in_training": known_names(classes, training_labels, cfg),
        "split_encoder": split_encoder(cfg.text_encoder),
    }
    reference = read_checkpoint_meta(out / "neuron.pt").reference()
    _score_into(result, emb, labels, groups, model.logit_scale.item(), reference, encoder, cfg)
    result["seconds"] = time.time() - t0
    atomic_write_text(out / "result.json", json.dumps(result, indent=2))
    return result


def run_benchmark(
    recipe: C.TrainConfig, folds: list[Fold], out: Path, d: Dist, rescore_done: bool = False
) -> dict[str, object]:
    """Every fold not yet done, then the summary over every fold done in ``out``: those of this run
    and those an earlier or parallel run left there (a recipe run in lanes, ``--holdout`` or
    ``--seeds`` apart, ends with its whole table, not one lane's). ``rescore_done``: folds already
    done are scored again from their saved embeddings (after a change of the scoring side)."""
    out.mkdir(parents=True, exist_ok=True)
    C.save_yaml(recipe, out / "recipe.yaml")
    fresh: dict[Path, dict] = {}
    bar = tqdm(folds, desc="benchmark folds", disable=not d.main)
    for fold in bar:
        bar.set_postfix(fold=fold.name)
        path = out / fold.name / "result.json"
        if not path.exists():
            fresh[path] = run_fold(recipe, fold, out / fold.name, d)
    done = sorted(out.glob("seed*/*/result.json"))
    results = [
        fresh[p] if p in fresh else rescore(p.parent, recipe) if rescore_done else json.loads(p.read_text())
        for p in done
    ]
    if len(done) > len(folds) and d.main:
        print(f"the tables also hold {len(done) - len(folds)} fold(s) done earlier in {out}")
    summary = summarise(results)
    atomic_write_text(out / "benchmark.json", json.dumps({"folds": results, "summary": summary}, indent=2))
    atomic_write_text(out / "benchmark.md", markdown(summary, recipe.name))
    return summary


# ---------------------------------------------------------------------------------------------------
# summaries


def summarise(results: list[dict]) -> dict[str, object]:
    """variant -> scoring -> {holdout: mean/std over seeds, "mean": over held-out sets}."""
    out: dict[str, object] = {}
    holdouts = sorted({r["holdout"] for r in results})
    for variant in ("kept", "new_words"):
        out[variant] = {}
        scorings = sorted({k for r in results for k in r["scores"][variant]}, key=_scoring_order)
        for scoring in scorings:
            table: dict[str, dict[str, float]] = {}
            for h in holdouts:
                runs = [r["scores"][variant].get(scoring) for r in results if r["holdout"] == h]
                runs = [x for x in runs if x]
                if not runs:
                    continue
                row = {"seeds": len(runs), "classes": runs[0]["classes"], "samples": runs[0]["samples"]}
                for key in ("top1", "top5", "max_label_share"):
                    values = np.array([x[key] for x in runs])
                    row[key] = float(values.mean())
                    row[f"{key}_std"] = float(values.std())
                table[h] = row
            if table:
                table["mean"] = {
                    key: float(np.mean([table[h][key] for h in table]))
                    for key in ("top1", "top5", "max_label_share", "top1_std")
                }
            out[variant][scoring] = table
    shots: dict[str, dict[str, float]] = {}
    for h in holdouts:
        runs = [r["few_shot"] for r in results if r["holdout"] == h and r.get("few_shot")]
        if runs:
            keys = ["zero_shot", *(f"{k}_shot" for k in SHOTS)]
            shots[h] = {k: float(np.mean([x[k]["top1"] for x in runs])) for k in keys}
    if shots:
        shots["mean"] = {k: float(np.mean([shots[h][k] for h in shots])) for k in next(iter(shots.values()))}
    out["few_shot"] = shots
    return out


def _scoring_order(key: str) -> tuple[int, str]:
    """Name prompts uncalibrated first: the plain zero-shot figure."""
    return (0 if key in ("none", "names/none", "names/none/fine") else 1, key)


def markdown(summary: dict, name: str) -> str:
    lines = [f"# Cross-data-set zero-shot benchmark: recipe `{name}`", ""]
    for variant, title in (("kept", "all classes of the held-out set"), ("new_words", "new words only")):
        if variant not in summary:
            continue
        lines += [f"## {title} (`{variant}`)", ""]
        lines += [
            "| texts / calibration | held-out set | classes | samples | seeds | top-1 (class mean) | top-5 "
            "| most frequent label's share |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for scoring, table in summary[variant].items():
            for h, row in table.items():
                if h == "mean":
                    lines.append(
                        f"| {scoring} | **mean** | | | | **{row['top1']:.3f}** (seed sd "
                        f"{row['top1_std']:.3f}) | {row['top5']:.3f} | {row['max_label_share']:.2f} |"
                    )
                    continue
                lines.append(
                    f"| {scoring} | {h} | {row['classes']} | {row['samples']} | {row['seeds']} | "
                    f"{row['top1']:.3f} ± {row['top1_std']:.3f} | {row['top5']:.3f} | "
                    f"{row['max_label_share']:.2f} |"
                )
        lines.append("")
    if summary.get("few_shot"):
        lines += [
            "## Few-shot: examples per class from other recordings, mixed with name prompts",
            "",
            "| held-out set | zero-shot | 1 example | 3 examples | 5 examples |",
            "|---|---|---|---|---|",
        ]
        for h, row in summary["few_shot"].items():
            cells = " | ".join(f"{row[k]:.3f}" for k in ("zero_shot", "1_shot", "3_shot", "5_shot"))
            lines.append(f"| {'**mean**' if h == 'mean' else h} | {cells} |")
        lines.append("")
    return "\n".join(lines)
