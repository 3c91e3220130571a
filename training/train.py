"""neuron-train: pre-train the backbone, train the Neuron head, evaluate; one process or torchrun.

    python -m training.train train --config shared            # both stages, then the test metrics
    python -m training.train pretrain --config shared --pretrain.epochs 5
    python -m training.train neuron --config shared --resume
    python training/train.py evaluate --checkpoint CKPT --skeletons DIR [--labels "a,b"] [--descriptions DIR]
                                      [--examples EXDIR]
    python -m training.train evaluate --checkpoint CKPT --config shared     # the split's ZSL/GZSL numbers
    python -m training.train export --checkpoint CKPT --output assets/neuron_default.pt --half
    torchrun --nproc_per_node=2 -m training.train train --config shared      # DDP (gloo on CPU)

Every config field is also a flag (``--neuron.epochs 5``); ``--config`` takes a built-in name or a
YAML file. Only rank 0 writes: <output_dir>/config.yaml, train.log, backbone.pt, neuron.pt (the
checkpoint, neuron_core format), metrics.json, and per-stage resume states.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: python training/train.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# OpenMP threads that spin while waiting make torch several times slower on a CPU shared with other
# processes (measured here: 18 s vs 2.5 s per batch on 2 busy cores). Must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import copy  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import shlex  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, replace  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.nn.parallel import DistributedDataParallel  # noqa: E402

from neuron_base.atomic import atomic_path, atomic_write_text  # noqa: E402
from neuron_core.checkpoint import CheckpointMeta, load_checkpoint, save_checkpoint  # noqa: E402
from neuron_core.config import ModelConfig  # noqa: E402
from neuron_core.description_bank import load_bank  # noqa: E402
from neuron_core.errors import one_line  # noqa: E402
from neuron_core.model import NeuronModel, ShiftGCN  # noqa: E402
from neuron_core.prompts import TextContract, class_text_embeddings, load_neuron_descriptions  # noqa: E402
from neuron_core.text_encoders import get_text_encoder  # noqa: E402
from pose.errors import NeuronLiveError  # noqa: E402
from pose.normalize import Preprocess  # noqa: E402
from training import config as C  # noqa: E402
from training import distributed  # noqa: E402
from training.benchmark import DEFAULT_HOLDOUTS, plan, run_benchmark  # noqa: E402
from training.data import SkeletonStore, WindowDataset, describe, load_store, mirror_targets_for  # noqa: E402
from training.distributed import Dist  # noqa: E402
from training.engine import (  # noqa: E402
    ClassTexts,
    StepScorer,
    WeightAverage,
    embed,
    make_optimizer,
    neuron_epoch,
    pretrain_epoch,
    reference_embedding,
    run_sharded,
    seed_everything,
    set_epoch,
    soft_targets,
    train_loader,
)
from training.evaluate import (  # noqa: E402
    REFERENCES,
    SELF_REFERENCE_MIN,
    ScoredSet,
    evaluate_folder,
    protocol_metrics,
    score_sets,
    zsl,
)
from training.metrics import topk_correct  # noqa: E402
from training.mirror_pairs import DEFAULT_SETS as DEFAULT_PAIR_SETS  # noqa: E402
from training.mirror_pairs import mirror_pair_accuracy, write_markdown  # noqa: E402
from training.splits import PARTS, Split, make_split  # noqa: E402

log = logging.getLogger("training")

# ---------------------------------------------------------------------------------------------------
# run context


@dataclass
class Run:
    """Everything a stage needs, built once: config, process group, data, split, class texts."""

    cfg: C.TrainConfig
    d: Dist
    out: Path
    store: SkeletonStore
    split: Split
    texts: ClassTexts  # seen + validation + unseen classes
    command: str

    @property
    def eval_sets(self) -> dict[str, WindowDataset]:
        return {name: self.dataset(name, train=False) for name in PARTS if name != "train"}

    def labels(self, part: str) -> list[str]:
        return [str(v) for v in self.store.labels[self.split.parts[part]]]

    def dataset(self, part: str, train: bool) -> WindowDataset:
        idx = self.split.parts[part]
        labels = self.labels(part)
        seen = {c: i for i, c in enumerate(self.split.seen)}
        targets = np.array([seen.get(lab, -1) for lab in labels], np.int64)
        cfg = self.cfg
        return WindowDataset(
            self.store, idx, targets, cfg.data.window, cfg.augment, train=train, seed=cfg.seed,
            mirror_targets=mirror_targets_for(labels, self.split.seen) if train else None,
            cap=cfg.data.max_train_per_class if train else 0,
        )  # fmt: skip

    def data_summary(self) -> str:
        sources = ", ".join(f"{s.kind}={s.path}" for s in self.cfg.data.sources)
        counts = ", ".join(f"{k} {v}" for k, v in self.split.counts().items())
        return f"{sources}; {describe(self.store)}; samples: {counts}"


def _setup_logging(out: Path | None, d: Dist) -> None:
    level = logging.INFO if d.main else logging.WARNING
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if out is not None and d.main:
        out.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(out / "train.log"))
    logging.basicConfig(
        level=level, format="%(asctime)s %(name)s: %(message)s", handlers=handlers, force=True
    )


def _threads(cfg: C.TrainConfig) -> None:
    """Share the configured threads among the processes of this machine."""
    local = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    torch.set_num_threads(max(1, cfg.num_threads // local))


def build_run(cfg: C.TrainConfig, d: Dist, command: str) -> Run:
    out = Path(cfg.output_dir)
    _threads(cfg)
    seed_everything(cfg.seed)
    # Rank 0 builds missing caches while the others wait, then they read them. A failure on rank 0
    # still reaches the barrier, so the other ranks fail on their own instead of waiting forever.
    store, error = None, None
    if d.main:
        try:
            store = load_store(cfg.data.sources, cfg.data.cache_dir, cfg.data.aliases)
        except NeuronLiveError as exc:
            error = exc
    distributed.barrier(d)
    if error is not None:
        raise error
    if store is None:
        store = load_store(cfg.data.sources, cfg.data.cache_dir, cfg.data.aliases)
    split = make_split(store, cfg.split, cfg.data.classes, cfg.seed)
    log.info("data: %s", describe(store))
    log.info("split: %s", json.dumps(split.describe()))
    descriptions = load_neuron_descriptions(cfg.data.descriptions) if cfg.data.descriptions else None
    encoder = get_text_encoder(cfg.text_encoder, cache_dir=Path(cfg.data.cache_dir) / "text")
    classes = split.seen + split.val_classes + split.unseen
    if cfg.text_source != "names":  # the project's descriptions join the published ones (those win)
        descriptions = {**load_bank().descriptions(classes), **(descriptions or {})}
    texts = ClassTexts.build(encoder, classes, descriptions, cfg.prompts_per_granularity)
    if cfg.model.text_dim != encoder.dim:
        raise C.ConfigError(f"model.text_dim is {cfg.model.text_dim} but {encoder.name} gives {encoder.dim}")
    return Run(cfg, d, out, store, split, texts, command)


def _save_state(path: Path, state: dict, d: Dist) -> None:
    """Resume state, written atomically by rank 0 only."""
    if not d.main:
        return
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _load_weights(path: Path) -> dict:
    """torch.load that never runs code (weights_only) and turns any refusal or damage into one line."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError for a file needing code, many types for damaged bytes
        raise C.ConfigError(f"{path}: not a plain weights file, refused ({type(exc).__name__})") from None
    if not isinstance(payload, dict):
        raise C.ConfigError(f"{path}: not a weights file of neuron-train (no dict inside)")
    return payload


def _load_state(path: Path) -> dict | None:
    return _load_weights(path) if path.exists() else None


# ---------------------------------------------------------------------------------------------------
# stage 1: backbone pre-training


def _soft_targets(class_emb: torch.Tensor, temperature: float, d: Dist) -> torch.Tensor | None:
    """The stage's soft target rows on its device (None: one-hot), with how much each label keeps."""
    targets = soft_targets(class_emb, temperature)
    if targets is None:
        return None
    own = targets.diagonal()
    log.info("soft targets (temperature %g): a label keeps %.2f of its target on average, %.2f at least",
             temperature, own.mean().item(), own.min().item())  # fmt: skip
    return targets.to(d.device)


def pretrain(run: Run, resume: bool) -> dict[str, torch.Tensor]:
    """Classification on the training classes; writes backbone.pt and returns the backbone weights."""
    cfg, d = run.cfg, run.d
    model = ShiftGCN(cfg.model, num_classes=len(run.split.seen)).to(d.device)
    opt = make_optimizer(list(model.parameters()), cfg.pretrain)
    state_path = run.out / "state_pretrain.pt"
    loader = train_loader(
        run.dataset("train", train=True), cfg.pretrain.batch_size, d, cfg.seed, cfg.data.num_workers
    )
    average = WeightAverage(cfg.pretrain.average, cfg.pretrain.epochs * len(loader))
    start = 0
    state = _load_state(state_path) if resume else None
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        average.load_state_dict(state.get("average", average.state_dict()))
        start = int(state["epoch"]) + 1
        log.info("pretrain: resuming after epoch %d", start)
    net = DistributedDataParallel(model) if d.active else model
    targets = _soft_targets(run.texts.subset(range(len(run.split.seen))).names, cfg.pretrain.soft_targets, d)
    t0 = time.time()
    for epoch in range(start, cfg.pretrain.epochs):
        set_epoch(loader, epoch)
        stats = pretrain_epoch(net, loader, opt, cfg.pretrain, epoch, d, targets, average)
        log.info("pretrain epoch %d/%d: loss %.4f, train acc %.3f (%.0f s)", epoch + 1, cfg.pretrain.epochs,
                 stats["loss"], stats["train_acc"], time.time() - t0)  # fmt: skip
        state = {"epoch": epoch, "model": model.state_dict(), "optimizer": opt.state_dict()}
        _save_state(state_path, state | {"average": average.state_dict()}, d)
    if average.active:
        log.info("pretrain: the backbone is the mean of the last %d steps' weights", average.count)
        model.load_state_dict(average.averaged(model.state_dict()))
    val_acc = _classifier_accuracy(model, run, "val_seen")
    log.info("pretrain: validation top-1 over the %d training classes: %s", len(run.split.seen), val_acc)
    backbone = {k: v.detach().cpu() for k, v in model.state_dict().items() if not k.startswith("fc.")}
    if d.main:
        with atomic_path(run.out / "backbone.pt") as tmp:
            torch.save(
                {"config": cfg.model.to_dict(), "backbone": backbone, "classes": run.split.seen,
                 "val_seen_top1": val_acc, "seconds": time.time() - t0},
                tmp,
            )  # fmt: skip
    distributed.barrier(d)
    return backbone


def _classifier_accuracy(model: ShiftGCN, run: Run, part: str) -> float | None:
    ds = run.dataset(part, train=False)
    if len(ds) == 0:
        return None
    model.eval()
    logits = run_sharded(model, ds, run.cfg.eval_batch_size, run.d, part).numpy()
    return float(topk_correct(logits, ds.targets, 1).mean())


def load_backbone(path: Path, cfg: C.TrainConfig) -> dict[str, torch.Tensor]:
    if not path.exists():
        raise C.ConfigError(f"{path}: no pre-trained backbone; run the pretrain stage first")
    payload = _load_weights(path)
    if payload.get("config") != cfg.model.to_dict():
        raise C.ConfigError(f"{path}: the backbone was trained with another model config")
    return payload["backbone"]


# ---------------------------------------------------------------------------------------------------
# stage 2: the Neuron head


def _is_head(key: str) -> bool:
    """A key of the Neuron head's state (the backbone is frozen in this stage)."""
    return not key.startswith("backbone.")


def _head_state(model: NeuronModel) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items() if _is_head(k)}


def train_neuron(run: Run, backbone: dict[str, torch.Tensor], resume: bool) -> tuple[NeuronModel, int]:
    """Frozen backbone, head trained on the training classes' texts; best epoch by validation ZSL.

    Returns the model with the best epoch's head (the last epoch without validation classes) and that
    epoch, 1-based.
    """
    cfg, d, split = run.cfg, run.d, run.split
    model = NeuronModel(cfg.model)
    model.backbone.load_state_dict(backbone)
    model.freeze_backbone()
    model.to(d.device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = make_optimizer(params, cfg.neuron)
    train_texts = run.texts.subset(range(len(split.seen)))
    val_set = run.dataset("val_unseen", train=False)
    state_path = run.out / "state_neuron.pt"
    loader = train_loader(
        run.dataset("train", train=True), cfg.neuron.batch_size, d, cfg.seed, cfg.data.num_workers
    )
    average = WeightAverage(cfg.neuron.average, cfg.neuron.epochs * len(loader), _is_head)
    start, best_score, best_epoch, best_state = 0, -1.0, -1, _head_state(model)
    state = _load_state(state_path) if resume else None
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        average.load_state_dict(state.get("average", average.state_dict()))
        start, best_score, best_epoch = (
            int(state["epoch"]) + 1,
            float(state["best_score"]),
            int(state["best_epoch"]),
        )
        best_state = state["best_state"]
        log.info("neuron: resuming after epoch %d", start)
    scorer = StepScorer(model)
    net = DistributedDataParallel(scorer) if d.active else scorer
    targets = _soft_targets(train_texts.names, cfg.neuron.soft_targets, d)
    t0 = time.time()
    for epoch in range(start, cfg.neuron.epochs):
        set_epoch(loader, epoch)
        stats = neuron_epoch(net, loader, opt, cfg.neuron, train_texts, cfg.prompt_mode, epoch, cfg.seed, d,
                             targets, average)  # fmt: skip
        trained = _head_state(model)
        if average.active:  # from the first averaged step on, an epoch is judged and kept by the mean
            model.load_state_dict({**model.state_dict(), **average.averaged(trained)})
        score = -1.0
        if split.val_classes and len(val_set):
            emb = embed(model, val_set, cfg.eval_batch_size, d, "validation")
            val = zsl(ScoredSet(emb, run.labels("val_unseen")), run.texts, split.val_classes,
                      model.logit_scale.item(), "names")  # fmt: skip
            score = val["top1"]
        if score > best_score or not split.val_classes:  # without validation classes: the last epoch
            best_score, best_epoch, best_state = score, epoch, _head_state(model)
        shown = f"{score:.3f}" if score >= 0 else "n/a"
        log.info("neuron epoch %d/%d: loss %.4f, train acc %.3f, val ZSL top-1 %s, scale %.2f (%.0f s)",
                 epoch + 1, cfg.neuron.epochs, stats["loss"], stats["train_acc"], shown,
                 model.logit_scale.item(), time.time() - t0)  # fmt: skip
        model.load_state_dict({**model.state_dict(), **trained})  # training goes on from the last step
        state = {"epoch": epoch, "model": model.state_dict(), "optimizer": opt.state_dict()}
        state |= {"best_score": best_score, "best_epoch": best_epoch, "best_state": best_state}
        _save_state(state_path, state | {"average": average.state_dict()}, d)
    model.load_state_dict({**model.state_dict(), **best_state})
    return model.eval(), best_epoch + 1


# ---------------------------------------------------------------------------------------------------
# evaluation and the checkpoint


def split_metrics(run: Run, model: NeuronModel) -> dict[str, object]:
    sets = score_sets(model, run.eval_sets, {p: run.labels(p) for p in PARTS if p != "train"},
                      run.cfg.eval_batch_size, run.d)  # fmt: skip
    s = run.split
    return protocol_metrics(sets, run.texts, s.seen, s.val_classes, s.unseen, model.logit_scale.item())


REFERENCE_WINDOWS = 1024


def training_reference(run: Run, model: NeuronModel) -> torch.Tensor:
    """(6, D) mean unit embedding of up to REFERENCE_WINDOWS training windows (fixed crop, seeded draw):
    what a typical input looks like to the model, for the "prior" score calibration."""
    idx = run.split.parts["train"]
    rng = np.random.default_rng([run.cfg.seed, 11])
    idx = np.sort(rng.choice(idx, min(REFERENCE_WINDOWS, idx.size), replace=False))
    cfg = run.cfg
    ds = WindowDataset(run.store, idx, np.zeros(idx.size), cfg.data.window, cfg.augment, train=False)
    return reference_embedding(embed(model, ds, cfg.eval_batch_size, run.d, "reference windows"))


def contract_preprocess(cfg: C.TrainConfig) -> Preprocess:
    """The preprocessing half of the checkpoint's contract: what this run trained on."""
    return Preprocess(
        window=cfg.data.window, test_crop=cfg.augment.test_crop, normalisation=cfg.augment.normalisation
    )


def contract_text(cfg: C.TrainConfig) -> TextContract:
    """The text half of the checkpoint's contract."""
    return TextContract(cfg.text_source, cfg.prompts_per_granularity, cfg.prompt_mode)


def finish(
    run: Run, model: NeuronModel, best_epoch: int, timings: dict[str, float], reference: str | None
) -> dict[str, object]:
    """Measure, then write the checkpoint (neuron_core format, metadata included) and metrics.json.

    ``reference``: a metrics.json of the same recipe run with held-out classes; a model trained on
    every class has no held-out numbers of its own, so its card carries those, named as such.
    """
    metrics = split_metrics(run, model)
    reference_emb = training_reference(run, model)
    if reference:
        try:
            metrics["reference"] = {"path": reference, "metrics": json.loads(Path(reference).read_text())}
        except (OSError, ValueError) as exc:
            raise C.ConfigError(f"{reference}: cannot read reference metrics ({exc})") from None
    metrics["best_epoch"] = best_epoch
    metrics["seconds"] = timings
    metrics["processes"] = run.d.world
    metrics["split"] = run.split.describe()
    if run.d.main:
        meta = CheckpointMeta(
            text_encoder=run.cfg.text_encoder,
            text_dim=run.cfg.model.text_dim,
            preprocess=contract_preprocess(run.cfg),
            text=contract_text(run.cfg),
            vocabulary=list(run.split.seen),
            reference_embedding=reference_emb.tolist(),
            metrics=metrics,
            command=run.command,
            data=run.data_summary(),
        )
        save_checkpoint(run.out / "neuron.pt", model, meta)
        atomic_write_text(run.out / "metrics.json", json.dumps(metrics, indent=2))
        log.info("metrics: %s", json.dumps(metrics))
        log.info("checkpoint: %s", run.out / "neuron.pt")
    return metrics


# ---------------------------------------------------------------------------------------------------
# command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="neuron-train", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    helps = {
        "pretrain": "pre-train the backbone on the seen classes (classification)",
        "neuron": "train the Neuron head on the frozen pre-trained backbone",
        "train": "both stages in sequence, then the test metrics",
        "evaluate": "score a checkpoint: on a folder of .npz files (--skeletons) or on a config's split",
        "benchmark": "cross-data-set zero-shot benchmark: leave one set out, train, score it by its names",
        "mirror-pairs": "left/right: accuracy of choosing the right side of mirror-pair labels",
    }
    for name, text in helps.items():
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("--config", help=f"built-in name ({', '.join(C.builtin_names())}) or a YAML file")
        if name not in ("evaluate", "benchmark", "mirror-pairs"):
            p.add_argument("--resume", action="store_true", help="continue from the states in output_dir")
        if name == "benchmark":
            p.add_argument(
                "--holdout",
                default=",".join(DEFAULT_HOLDOUTS),
                help=f"sets left out one at a time (default {','.join(DEFAULT_HOLDOUTS)})",
            )
            p.add_argument(
                "--sets",
                default=",".join(C.SHARED_SETS),
                help="the pool the folds train on, minus the held-out one (default: every set)",
            )
            p.add_argument("--seeds", default="0,1,2", help="seeds, each a full pass over the folds")
            p.add_argument(
                "--rescore",
                action="store_true",
                help="score finished folds again from their saved embeddings (no training)",
            )
        if name == "neuron":
            p.add_argument("--backbone", help="pre-trained backbone (default: <output_dir>/backbone.pt)")
        if name in ("neuron", "train"):
            p.add_argument(
                "--reference-metrics",
                help="metrics.json of the same recipe with held-out classes, stored in the checkpoint",
            )
        if name == "mirror-pairs":
            p.add_argument("--checkpoint", required=True, help="a neuron_core checkpoint (.pt)")
            p.add_argument("--sets", default=",".join(DEFAULT_PAIR_SETS), help="sets with mirror pairs")
            p.add_argument("--out", help="also write JSON and Markdown here (a folder)")
        if name == "evaluate":
            p.add_argument("--checkpoint", required=True, help="a neuron_core checkpoint (.pt)")
            p.add_argument("--skeletons", help="folder of interchange .npz files (searched recursively)")
            p.add_argument("--labels", help="comma-separated labels to choose among (default: those found)")
            p.add_argument("--examples", help="folder of labelled .npz examples, mixed with the label texts")
            p.add_argument(
                "--reference",
                choices=REFERENCES,
                default="auto",
                help="with --skeletons, the prior calibration's mean window: the scored files' own (self; "
                "no labels used), the checkpoint's training mean, or auto (self from "
                f"{SELF_REFERENCE_MIN} files on)",
            )
        C.add_config_flags(p)
    p = sub.add_parser("export", help="copy a checkpoint for shipping (optionally float16 weights)")
    p.add_argument("--checkpoint", required=True, help="the trained checkpoint")
    p.add_argument("--output", required=True, help="where to write the copy (e.g. assets/neuron_default.pt)")
    p.add_argument("--half", action="store_true", help="store weights as float16 (half the size)")
    p.add_argument(
        "--scoring",
        metavar="TEXTS/CALIBRATION/FUSION",
        help="the scoring the benchmark chose, e.g. bank+names/prior/all (default: as trained)",
    )
    p.add_argument(
        "--prompts",
        type=int,
        metavar="K",
        help="prompts per granularity a label's text averages (default: as trained)",
    )
    p.add_argument(
        "--live-reference",
        metavar="FILE.npy",
        help="the live path's prior reference (neuron-live evaluate-videos --live-reference-out)",
    )
    return parser


def export(
    src: str,
    dst: str,
    half: bool,
    scoring: str | None = None,
    prompts: int | None = None,
    live_reference: str | None = None,
) -> dict[str, object]:
    """Write a shippable copy of a checkpoint. With ``half`` the weights are stored as float16 (half the
    file size); loading turns them back into float32, so the model runs as before up to that rounding,
    and the copy's metadata says so. ``scoring`` ("texts/calibration/fusion", a key of the benchmark's
    tables) sets how the copy scores labels, ``prompts`` how many prompts per granularity a label's text
    averages (fewer encode faster; the benchmark's ``--rescore --prompts_per_granularity K`` measures
    what it costs), ``live_reference`` a (6, D) .npy the live path's "prior" reference (the mean live
    window, measured on real videos): none of it changes the weights, only the contract."""
    model, meta = load_checkpoint(src)
    if live_reference is not None:
        meta.live_reference_embedding = read_live_reference(live_reference, meta.text_dim)
    if prompts is not None:
        try:
            meta.text = replace(meta.text, prompts_per_granularity=prompts)  # validated by TextContract
        except ValueError as exc:
            raise C.ConfigError(f"--prompts: {exc}") from None
    if scoring:
        parts = scoring.split("/")
        if len(parts) != 3:
            raise C.ConfigError(f"--scoring is texts/calibration/fusion (e.g. names/none/fine): {scoring!r}")
        texts, calibration, fusion = parts
        config = ModelConfig.from_dict({**model.config.to_dict(), "calibration": calibration,
                                        "fusion": fusion})  # fmt: skip
        try:
            meta.text = replace(meta.text, source=texts)  # validated by TextContract
        except ValueError as exc:
            raise C.ConfigError(f"--scoring: {exc}") from None
        scored = NeuronModel(config)
        scored.load_state_dict(model.state_dict())
        model = scored
    if half:
        model.half()
    weights = "float16" if half else "float32"
    meta.metrics = {
        **meta.metrics,
        "export": {
            "from": str(src),
            "weights": weights,
            "scoring": scoring,
            "prompts_per_granularity": meta.text.prompts_per_granularity,
        },
    }
    save_checkpoint(dst, model, meta)
    load_checkpoint(dst)  # the copy honours its contract (a prior calibration needs its reference)
    return {"checkpoint": dst, "bytes": Path(dst).stat().st_size, "weights": weights, "scoring": scoring}


def read_live_reference(path: str, text_dim: int) -> list[list[float]]:
    """A (6, text_dim) finite float array from a .npy file, as checkpoint metadata."""
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise C.ConfigError(f"--live-reference {path}: cannot read it ({one_line(exc)})") from None
    if array.shape != (6, text_dim) or not np.isfinite(array).all():
        raise C.ConfigError(f"--live-reference {path}: expected finite (6, {text_dim}) values: {array.shape}")
    return np.asarray(array, np.float64).tolist()


def _config(args: argparse.Namespace) -> C.TrainConfig:
    return C.apply_overrides(C.resolve(args.config), args)


def _evaluate(args: argparse.Namespace, d: Dist) -> dict[str, object]:
    cfg = _config(args)
    _threads(cfg)
    model, meta = load_checkpoint(args.checkpoint, device=d.device)
    encoder = get_text_encoder(meta.text_encoder, cache_dir=Path(cfg.data.cache_dir) / "text")
    if args.skeletons:
        descriptions = load_neuron_descriptions(cfg.data.descriptions) if cfg.data.descriptions else None
        labels = [v.strip() for v in args.labels.split(",") if v.strip()] if args.labels else None

        def texts_for(names: list[str]) -> tuple[ClassTexts, str]:
            """The class texts as the live app builds them: the checkpoint's text source and count."""
            text = meta.text
            emb = torch.from_numpy(class_text_embeddings(
                encoder, names, text.source, descriptions, text.prompts_per_granularity))  # fmt: skip
            known = {n.casefold() for n in (descriptions or {})}
            if meta.text.source != "names":
                known |= {n.casefold() for n in load_bank().descriptions(names)}
            has = np.array([n.casefold() in known for n in names], bool)
            mode = "descriptions" if descriptions else meta.text.source
            return ClassTexts(list(names), emb, emb, has), mode

        return evaluate_folder(model, texts_for, args.skeletons, labels, meta.preprocess,
                               cfg.eval_batch_size, d, args.examples, meta.reference(),
                               args.reference)  # fmt: skip
    if not args.config:
        raise C.ConfigError("evaluate needs --skeletons DIR or --config (a split to evaluate on)")
    cfg.model = C.ModelConfig.from_dict(model.config.to_dict())
    run = build_run(cfg, d, "")
    return split_metrics(run, model)


def _benchmark(args: argparse.Namespace) -> int:
    """Runs every fold in this process (folds are small; a fold's own stages are not distributed)."""
    cfg = _config(args)
    d = distributed.setup(cfg.device)
    _setup_logging(Path(cfg.output_dir), d)
    Path(cfg.output_dir).mkdir(parents=True, exist_ok=True)
    split = [v.strip() for v in args.holdout.split(",") if v.strip()]
    pool = [v.strip() for v in args.sets.split(",") if v.strip()]
    seeds = [int(v) for v in args.seeds.split(",") if v.strip()]
    summary = run_benchmark(cfg, plan(split, pool, seeds), Path(cfg.output_dir), d, args.rescore)
    print(json.dumps({v: {k: t.get("mean") for k, t in summary[v].items()} for v in summary}, indent=2))
    print(f"tables: {Path(cfg.output_dir) / 'benchmark.md'}, {Path(cfg.output_dir) / 'benchmark.json'}")
    return 0


def _mirror_pairs(args: argparse.Namespace) -> int:
    cfg = _config(args)
    _threads(cfg)
    model, meta = load_checkpoint(args.checkpoint)
    encoder = get_text_encoder(meta.text_encoder, cache_dir=Path(cfg.data.cache_dir) / "text")
    sets = [v.strip() for v in args.sets.split(",") if v.strip()]
    result = mirror_pair_accuracy(model, encoder, sets, cfg, Dist())
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "mirror_pairs.json", json.dumps(result, indent=2))
        write_markdown(result, out / "mirror_pairs.md")
    print(json.dumps(result, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    d = Dist()
    finished = False
    try:
        if args.command == "export":
            result = export(
                args.checkpoint, args.output, args.half, args.scoring, args.prompts, args.live_reference
            )
            print(json.dumps(result))
            return 0
        if args.command == "benchmark":
            return _benchmark(args)
        if args.command == "mirror-pairs":
            return _mirror_pairs(args)
        cfg_device = "auto" if args.command == "evaluate" and not args.config else None
        d = distributed.setup(cfg_device or _config(args).device)
        if args.command == "evaluate":
            _setup_logging(None, d)
            result = _evaluate(args, d)
            if d.main:
                print(json.dumps(result, indent=2))
            finished = True
            return 0
        cfg = _config(args)
        run_dir = Path(cfg.output_dir)
        _setup_logging(run_dir, d)
        if d.main:
            run_dir.mkdir(parents=True, exist_ok=True)
            C.save_yaml(cfg, run_dir / "config.yaml")
        command = shlex.join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])])
        run = build_run(cfg, d, command)
        timings: dict[str, float] = {}
        t0 = time.time()
        if args.command in ("pretrain", "train"):
            backbone = pretrain(run, args.resume)  # with --resume, finished epochs are not redone
        else:
            backbone = load_backbone(Path(getattr(args, "backbone", None) or run_dir / "backbone.pt"), cfg)
        timings["pretrain"] = time.time() - t0
        if args.command == "pretrain":
            finished = True
            return 0
        t1 = time.time()
        model, best_epoch = train_neuron(run, copy.deepcopy(backbone), args.resume)
        timings["neuron"] = time.time() - t1
        metrics = finish(run, model, best_epoch, timings, getattr(args, "reference_metrics", None))
        if d.main:
            print(json.dumps({k: metrics[k] for k in metrics if k.startswith("test")}, indent=2))
        finished = True
        return 0
    except NeuronLiveError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        distributed.teardown(d, finished)


if __name__ == "__main__":
    sys.exit(main())
