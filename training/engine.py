"""The loops: class texts, data loaders, one epoch of each stage, and deterministic scoring.

Kept apart from the command line so tests and notebooks can drive a stage directly.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm import tqdm

from neuron_core.model import NeuronModel, class_logits, fuse
from neuron_core.prompts import Descriptions, encode_classes
from neuron_core.text_encoders import TextEncoder
from training.config import StageConfig
from training.distributed import Dist, all_mean, gather_shards, shard

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# ---------------------------------------------------------------------------------------------------
# class texts


@dataclass
class ClassTexts:
    """Text embeddings of a list of classes: from names alone and from descriptions where they exist."""

    classes: list[str]
    names: torch.Tensor  # (C, 6, K, D)
    described: torch.Tensor  # (C, 6, K, D): descriptions where a class has them, names otherwise
    has_description: np.ndarray  # (C,) bool

    @staticmethod
    def build(
        encoder: TextEncoder, classes: Sequence[str], descriptions: Descriptions | None, k: int
    ) -> ClassTexts:
        classes = list(classes)
        names = torch.from_numpy(encode_classes(encoder, classes, None, k))
        known = {c.casefold() for c in (descriptions or {})}
        has = np.array([c.casefold() in known for c in classes], bool)
        described = (
            torch.from_numpy(encode_classes(encoder, classes, descriptions, k)) if has.any() else names
        )
        return ClassTexts(classes, names, described, has)

    def get(self, mode: str) -> torch.Tensor:
        """The embeddings for a prompt mode: "names" or "descriptions" (names where none exist)."""
        return self.described if mode == "descriptions" else self.names

    def subset(self, indices: Sequence[int]) -> ClassTexts:
        idx = list(indices)
        return ClassTexts(
            [self.classes[i] for i in idx], self.names[idx], self.described[idx], self.has_description[idx]
        )


def batch_prompt_mode(mode: str, rng: np.random.Generator) -> str:
    """Per batch in "mixed" mode: names or descriptions with equal odds, so typed names alone work."""
    if mode == "mixed":
        return "descriptions" if rng.random() < 0.5 else "names"
    return mode


# ---------------------------------------------------------------------------------------------------
# loaders and optimisers


def train_loader(dataset: Dataset, batch_size: int, d: Dist, seed: int, workers: int) -> DataLoader:
    """Shuffled batches from a DistributedSampler (one replica when not distributed).

    The order depends only on (seed, epoch), so a resumed run continues exactly where it stopped.
    A last partial batch is dropped when there are full ones.
    """
    sampler = DistributedSampler(dataset, d.world, d.rank, shuffle=True, seed=seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        drop_last=len(dataset) // d.world > batch_size,
    )


def set_epoch(loader: DataLoader, epoch: int) -> None:
    """Reseed the shuffle and the augmentation for ``epoch``."""
    loader.sampler.set_epoch(epoch)
    if hasattr(loader.dataset, "set_epoch"):
        loader.dataset.set_epoch(epoch)


def make_optimizer(params: list[nn.Parameter], cfg: StageConfig) -> torch.optim.Optimizer:
    return torch.optim.SGD(
        params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov and cfg.momentum > 0,
        weight_decay=cfg.weight_decay,
    )  # fmt: skip


def lr_at(cfg: StageConfig, epoch: float) -> float:
    """Linear warm-up, then x lr_decay at each milestone (epochs may be fractional within an epoch)."""
    if cfg.warmup_epochs > 0 and epoch < cfg.warmup_epochs:
        return cfg.lr * (epoch + 1e-3) / cfg.warmup_epochs
    return cfg.lr * cfg.lr_decay ** sum(epoch >= m for m in cfg.milestones)


def _set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for group in opt.param_groups:
        group["lr"] = lr


# ---------------------------------------------------------------------------------------------------
# one epoch of each stage


def soft_targets(class_emb: torch.Tensor, temperature: float) -> torch.Tensor | None:
    """(C, C) target distributions, row y for a window of class y: softmax over the classes of the
    cosine between their name prototypes (``class_emb`` (C, 6, K, D), steps and prompts averaged) over
    ``temperature``. The class itself has cosine 1, so it keeps the largest share; a label whose name
    nearly coincides (cosine 0.94 at temperature 0.05: weight exp(-1.2) of its own) shares some; an
    unrelated one (cosine 0.5) gets exp(-10). None at temperature 0 (one-hot targets)."""
    if temperature <= 0:
        return None
    protos = F.normalize(F.normalize(class_emb.float(), dim=-1).mean(dim=(1, 2)), dim=-1)
    return torch.softmax(protos @ protos.T / temperature, dim=1)


class WeightAverage:
    """The uniform mean of a module's weights over a stage's last optimiser steps (stochastic weight
    averaging, taken every step as SWAD does); :class:`training.config.StageConfig`'s ``average``.

    Floating-point parameters and buffers (batch-norm statistics included) are averaged; integer
    buffers keep their latest value. ``keep`` selects the entries (the head stage leaves out its frozen
    backbone). The running sums live on the CPU in float64, so the mean does not drift with the step
    count, and travel in the resume state (:meth:`state_dict`).
    """

    def __init__(self, share: float, total_steps: int, keep=lambda key: True) -> None:
        self.start = total_steps - max(1, round(share * total_steps)) if share > 0 else total_steps
        self.keep = keep
        self.count = 0
        self.sums: dict[str, torch.Tensor] = {}

    @property
    def active(self) -> bool:
        return self.count > 0

    def update(self, module: nn.Module, step: int) -> None:
        """Add the module's weights after optimiser step ``step`` (0-based over the stage)."""
        if step < self.start:
            return
        for key, value in module.state_dict().items():
            if not self.keep(key):
                continue
            value = value.detach().cpu()
            if value.is_floating_point():
                value = value.double()
                self.sums[key] = self.sums[key] + value if key in self.sums else value.clone()
            else:
                self.sums[key] = value.clone()
        self.count += 1

    def averaged(self, like: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The mean weights, each in the dtype of ``like``'s entry of the same name."""
        return {
            key: (value / self.count if value.is_floating_point() else value).to(like[key].dtype)
            for key, value in self.sums.items()
        }

    def state_dict(self) -> dict[str, object]:
        return {"count": self.count, "sums": self.sums}

    def load_state_dict(self, state: dict[str, object]) -> None:
        self.count, self.sums = int(state["count"]), dict(state["sums"])


def _loss(logits: torch.Tensor, y: torch.Tensor, targets: torch.Tensor | None) -> torch.Tensor:
    return F.cross_entropy(logits, y if targets is None else targets[y])


def pretrain_epoch(
    model: nn.Module,
    loader: DataLoader,
    opt: torch.optim.Optimizer,
    cfg: StageConfig,
    epoch: int,
    d: Dist,
    targets: torch.Tensor | None = None,
    average: WeightAverage | None = None,
) -> dict[str, float]:
    """Plain classification over the training classes (the backbone's classifier head); ``targets``:
    soft target rows per class (:func:`soft_targets`), else one-hot; ``average`` is given the weights
    after every step."""
    model.train()
    total, correct, loss_sum = 0, 0, 0.0
    steps = len(loader)
    bar = tqdm(loader, desc=f"pretrain {epoch + 1}/{cfg.epochs}", leave=False, disable=not d.main)
    for step, (x, y) in enumerate(bar):
        _set_lr(opt, lr_at(cfg, epoch + step / max(steps, 1)))
        x, y = x.to(d.device), y.to(d.device)
        logits = model(x)
        loss = _loss(logits, y, targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if average is not None:
            average.update(_unwrapped(model), epoch * steps + step)
        total += y.numel()
        correct += int((logits.argmax(1) == y).sum())
        loss_sum += loss.item() * y.numel()
        bar.set_postfix(loss=f"{loss_sum / total:.3f}", acc=f"{correct / total:.3f}")
    return {"loss": all_mean(loss_sum / max(total, 1), d), "train_acc": all_mean(correct / max(total, 1), d)}


def _unwrapped(module: nn.Module) -> nn.Module:
    """The module a DistributedDataParallel wraps (its own keys), or the module itself."""
    return module.module if isinstance(module, DistributedDataParallel) else module


class StepScorer(nn.Module):
    """Windows + class texts -> (N, 6, C) logits; one module so DDP sees every trained parameter."""

    def __init__(self, model: NeuronModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, class_emb: torch.Tensor) -> torch.Tensor:
        return self.model.logits(x, class_emb)


def neuron_epoch(
    scorer: StepScorer | DistributedDataParallel,
    loader: DataLoader,
    opt: torch.optim.Optimizer,
    cfg: StageConfig,
    texts: ClassTexts,
    prompt_mode: str,
    epoch: int,
    seed: int,
    d: Dist,
    targets: torch.Tensor | None = None,
    average: WeightAverage | None = None,
) -> dict[str, float]:
    """Cross-entropy over the training classes' texts, averaged over the six steps (against ``targets``'
    soft rows where given, :func:`soft_targets`); ``average`` is given the weights after every step."""
    scorer.train()
    rng = np.random.default_rng([seed, epoch, 3])  # same draws on every rank: batches stay in step
    total, correct, loss_sum = 0, 0, 0.0
    steps = len(loader)
    bar = tqdm(loader, desc=f"neuron {epoch + 1}/{cfg.epochs}", leave=False, disable=not d.main)
    for step, (x, y) in enumerate(bar):
        _set_lr(opt, lr_at(cfg, epoch + step / max(steps, 1)))
        class_emb = texts.get(batch_prompt_mode(prompt_mode, rng)).to(d.device)
        x, y = x.to(d.device), y.to(d.device)
        logits = scorer(x, class_emb)  # (N, 6, C)
        loss = torch.stack([_loss(logits[:, s], y, targets) for s in range(logits.shape[1])]).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if average is not None:
            average.update(_unwrapped(scorer).model, epoch * steps + step)
        total += y.numel()
        correct += int((fuse(logits.detach()).argmax(1) == y).sum())
        loss_sum += loss.item() * y.numel()
        bar.set_postfix(loss=f"{loss_sum / total:.3f}", acc=f"{correct / total:.3f}")
    return {"loss": all_mean(loss_sum / max(total, 1), d), "train_acc": all_mean(correct / max(total, 1), d)}


# ---------------------------------------------------------------------------------------------------
# deterministic scoring


@torch.no_grad()
def run_sharded(fn, dataset: Dataset, batch_size: int, d: Dist, desc: str) -> torch.Tensor:
    """``fn(x) -> (n, ...)`` over a dataset in order, split across ranks and gathered back.

    Every rank gets the full result. Batches are formed from this rank's items only, so results do
    not depend on the number of processes (the model is in eval mode: no batch statistics).
    """
    n = len(dataset)
    mine = list(shard(n, d))
    outs = []
    for start in tqdm(range(0, len(mine), batch_size), desc=desc, leave=False, disable=not d.main):
        x = torch.stack([dataset[i][0] for i in mine[start : start + batch_size]]).to(d.device)
        outs.append(fn(x))
    if outs:
        local = torch.cat(outs)
    else:
        probe = fn(torch.stack([dataset[0][0]]).to(d.device)) if n else torch.zeros(0)
        local = probe[:0]
    return gather_shards(local, n, d).cpu()


def embed(
    model: NeuronModel, dataset: Dataset, batch_size: int, d: Dist, desc: str = "scoring"
) -> torch.Tensor:
    """(N, 6, D) step embeddings of every window of ``dataset`` (eval mode, fixed crop)."""
    model.eval()
    return run_sharded(model, dataset, batch_size, d, desc)


def step_logits(
    emb: torch.Tensor,
    class_emb: torch.Tensor,
    scale: float,
    calibration: str = "none",
    reference: torch.Tensor | None = None,
) -> np.ndarray:
    """(N, 6, C) logits as float64 numpy (metrics are computed in numpy)."""
    if emb.shape[0] == 0:
        return np.zeros((0, emb.shape[1], class_emb.shape[0]))
    return class_logits(emb, class_emb, scale, calibration, reference).double().numpy()


def reference_embedding(emb: torch.Tensor) -> torch.Tensor:
    """(6, D) mean unit embedding of (N, 6, D) training-window embeddings (the "prior" calibration)."""
    return F.normalize(emb.float(), dim=-1).mean(dim=0)


def fused(logits: np.ndarray, rule: str = "fine") -> np.ndarray:
    return fuse(torch.from_numpy(logits), rule).numpy()
