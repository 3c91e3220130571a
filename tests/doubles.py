"""Test doubles shared by the test files: tiny model configurations, a counting text encoder,
checkpoints that load in a blink, and a stand-in recogniser for the pipeline.

Import from here rather than from another test module (importing a test module runs its
collection-time code and couples unrelated tests).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from neuron_core.checkpoint import CheckpointMeta, save_checkpoint
from neuron_core.config import ModelConfig
from neuron_core.model import NeuronModel
from neuron_core.text_encoders import HashingEncoder
from pose.normalize import Preprocess

DIM = 16  # text dimension of the tiny model and of its hashing encoder

# The smallest model the recogniser tests use: 16-frame windows, two backbone blocks.
TINY_CONFIG: dict[str, object] = dict(
    window=16,
    backbone_channels=(8, 16),
    backbone_strides=(2, 2),
    feat_dim=16,
    text_dim=DIM,
    n_spatial=10,
    n_temporal=10,
    keep=(6, 4, 2),
    prefixes=(1, 2, 4),
)

# A tiny model for real training runs: the real pipeline at a tenth of the cost (32-frame windows,
# 4 blocks).
TRAIN_MODEL: dict[str, object] = {
    "backbone_channels": [16, 16, 32, 32],
    "backbone_strides": [1, 2, 1, 2],
    "feat_dim": 32,
    "window": 32,
    "prefixes": [2, 4, 8],
    "n_spatial": 40,
    "n_temporal": 40,
    "keep": [30, 20, 10],
}


def quick_run(output_dir: Path, batch_size: int, **fields: object) -> dict[str, object]:
    """A training config (as the YAML/JSON file holds it) for a one-epoch run of :data:`TRAIN_MODEL` on
    the CPU; ``fields`` add or replace top-level sections (``data``, ``split``, ...)."""
    epoch = {"epochs": 1, "batch_size": batch_size, "lr": 0.05, "milestones": []}
    return {
        "model": TRAIN_MODEL,
        "pretrain": epoch,
        "neuron": dict(epoch),
        "output_dir": str(output_dir),
        "device": "cpu",
        "prompts_per_granularity": 2,
        **fields,
    }


def tiny_model(**overrides: object) -> NeuronModel:
    """An untrained :data:`TINY_CONFIG` model (``overrides`` replace fields)."""
    return NeuronModel(ModelConfig(**{**TINY_CONFIG, **overrides}))


def make_meta(window: int = 16) -> CheckpointMeta:
    """Checkpoint metadata for a tiny model scored with the hashing encoder of :data:`DIM`."""
    return CheckpointMeta(text_encoder=f"hash-{DIM}", text_dim=DIM, preprocess=Preprocess(window=window))


def windows(n: int, seed: int = 0, window: int = 16) -> np.ndarray:
    """``n`` random one-person windows (N, 3, T, 25, 2), the second person slot empty."""
    x = np.zeros((n, 3, window, 25, 2), np.float32)
    x[..., 0] = np.random.default_rng(seed).standard_normal((n, 3, window, 25))
    return x


class CountingEncoder(HashingEncoder):
    """A hashing text encoder that records every batch of texts it is asked to encode (``.calls``)."""

    def __init__(self, dim: int = DIM) -> None:
        super().__init__(dim)
        self.calls: list[list[str]] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return super().encode(texts)


def hash_checkpoint(path: Path) -> Path:
    """A small untrained model (the app's default 64-frame window) with the dependency-free hashing
    text encoder, saved as a real checkpoint: the whole app runs on it and loads it in a blink."""
    fields = {k: v for k, v in TINY_CONFIG.items() if k != "window"}
    config = ModelConfig(**{**fields, "text_dim": 32})
    return save_checkpoint(path, NeuronModel(config), CheckpointMeta(text_encoder="hash-32", text_dim=32))


class FakeRecognizer:
    """Stands in for ZeroShotRecognizer in the pipeline: scores favour the longest label (or are
    uniform with ``uniform=True``); optionally slow like a big model (``delay``); ``fail`` maps a
    call number (1-based) to the exception that call raises; ``shape`` checks each batch's window
    shape. Counts ``calls`` and windows ``scored``."""

    def __init__(
        self,
        labels: list[str],
        delay: float = 0.0,
        fail: dict[int, BaseException] | None = None,
        uniform: bool = False,
        shape: tuple[int, ...] | None = None,
    ) -> None:
        self._labels = list(labels)
        self.shape = shape  # when set, every window batch must have this shape after the batch axis
        self.delay = delay
        self.fail = fail or {}
        self.uniform = uniform
        self.calls = 0
        self.scored = 0

    @property
    def labels(self) -> list[str]:
        return list(self._labels)

    def set_labels(self, labels: list[str]) -> None:
        self._labels = list(labels)

    def scores(self, windows: np.ndarray) -> np.ndarray:
        if self.shape is not None:
            assert windows.ndim == len(self.shape) + 1 and windows.shape[1:] == self.shape, windows.shape
        self.calls += 1
        if self.calls in self.fail:
            raise self.fail[self.calls]
        time.sleep(self.delay)
        self.scored += len(windows)
        if self.uniform:
            return np.full((len(windows), len(self._labels)), 1.0 / len(self._labels), np.float32)
        raw = np.array([len(label) for label in self._labels], np.float32)
        probs = np.exp(raw) / np.exp(raw).sum()
        return np.tile(probs, (len(windows), 1))
