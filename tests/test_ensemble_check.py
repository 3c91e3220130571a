"""tools/ensemble_check.py: several trained draws' logits, averaged, on benchmark folds and live."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from neuron_core import scoring
from tests.conftest import ROOT
from tests.doubles import TRAIN_MODEL

sys.path.insert(0, str(ROOT / "tools"))
import ensemble_check  # noqa: E402

CLASSES = ["walk", "sit down", "stand up", "wave hands"]


class _Member:
    """A recogniser double: fixed per-step logits, the fusion of the shipped scoring."""

    class config:  # noqa: N801 (the recogniser's attribute)
        fusion = "all"

    def __init__(self, logits: np.ndarray) -> None:
        self.logits, self.labels = logits, list(CLASSES)

    def embed(self, windows: np.ndarray) -> np.ndarray:
        return np.zeros((len(windows), 6, 4), np.float32)

    def _text_logits(self, emb: np.ndarray) -> tuple[list[str], np.ndarray]:
        return self.labels, self.logits


def test_the_ensemble_scores_the_softmax_of_the_mean_fused_logits() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 6, 4)).astype(np.float32), rng.normal(size=(2, 6, 4)).astype(np.float32)
    ensemble = ensemble_check.EnsembleRecognizer([_Member(a), _Member(b)])
    got = ensemble.scores(np.zeros((2, 3, 8, 25, 2), np.float32))
    want = scoring.softmax((a.sum(1) + b.sum(1)) / 2)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert ensemble.labels == CLASSES and ensemble.config.fusion == "all"  # the first member's contract


def _fold(folder: Path, emb: np.ndarray, labels: list[str]) -> None:
    import torch

    from neuron_core.checkpoint import CheckpointMeta, save_checkpoint
    from neuron_core.config import ModelConfig
    from neuron_core.model import NeuronModel

    folder.mkdir(parents=True)
    model = NeuronModel(ModelConfig(**TRAIN_MODEL))
    reference = torch.nn.functional.normalize(torch.ones(6, 384), dim=-1).tolist()
    save_checkpoint(
        folder / "neuron.pt", model, CheckpointMeta("minilm-l6-v2", 384, reference_embedding=reference)
    )
    np.savez(folder / "embeddings.npz", emb=emb.astype(np.float16), labels=np.array(labels),
             groups=np.array(["g"] * len(labels)))  # fmt: skip
    in_training = {"walk": True, "sit down": True, "stand up": False, "wave hands": False}
    (folder / "result.json").write_text(json.dumps({"classes": CLASSES, "in_training": in_training}))


@pytest.mark.slow
def test_bench_averages_the_draws_of_each_held_out_set(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    labels = [CLASSES[i % 4] for i in range(24)]
    emb = rng.normal(size=(24, 6, 384))
    for seed in (0, 1):  # two identical draws: together they score as each alone
        _fold(tmp_path / "same" / f"seed{seed}" / "utkinect", emb, labels)
    out = ensemble_check.bench([tmp_path / "same"], ensemble_check.SHIPPED, tmp_path / "text")
    row = out["utkinect"]
    assert row["members"] == 2 and set(out) == {"utkinect", "mean"}
    assert row["together"] == pytest.approx(row["alone"]) and 0.0 <= row["alone"] <= 1.0
    assert row["together_new_words"] == pytest.approx(row["alone_new_words"])
    assert out["mean"]["together"] == pytest.approx(row["together"])
    _fold(tmp_path / "other" / "seed0" / "utkinect", emb, labels[::-1])  # other windows: refused
    with pytest.raises(SystemExit, match="did not score the same windows"):
        ensemble_check.bench(
            [tmp_path / "same", tmp_path / "other"], ensemble_check.SHIPPED, tmp_path / "text"
        )
