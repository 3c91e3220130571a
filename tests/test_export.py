"""`train.py export`: a shippable copy whose contract (scoring, prompts per granularity) is edited
and whose weights are unchanged up to float16 rounding."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from neuron_base.errors import ConfigError
from neuron_core.checkpoint import load_checkpoint, save_checkpoint
from tests.doubles import make_meta, tiny_model
from training.train import export


@pytest.fixture
def trained(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    return save_checkpoint(tmp_path / "trained.pt", tiny_model(), make_meta())


def test_export_sets_the_scoring_and_the_prompts_and_keeps_the_weights(trained: Path, tmp_path: Path) -> None:
    out = tmp_path / "shipped.pt"
    report = export(str(trained), str(out), half=True, scoring="bank+names/centre/all", prompts=2)
    assert report["weights"] == "float16" and report["scoring"] == "bank+names/centre/all"
    model, meta = load_checkpoint(out)
    original, before = load_checkpoint(trained)
    assert before.text.prompts_per_granularity == 10 and meta.text.prompts_per_granularity == 2
    assert meta.text.source == "bank+names"
    assert (model.config.calibration, model.config.fusion) == ("centre", "all")
    assert meta.metrics["export"]["prompts_per_granularity"] == 2
    for name, value in original.state_dict().items():
        assert torch.allclose(model.state_dict()[name].float(), value.float(), atol=1e-2, rtol=1e-2), name


def test_export_refuses_a_bad_prompt_count_in_one_line(trained: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--prompts"):
        export(str(trained), str(tmp_path / "x.pt"), half=False, prompts=0)
    assert not (tmp_path / "x.pt").exists()


def test_a_live_reference_is_the_live_paths_prior_and_bad_files_are_one_line(tmp_path: Path) -> None:
    """``export --live-reference`` stores the mean live window in the contract; the live recogniser
    then calibrates with it instead of the training windows' mean (skeleton evaluation keeps that)."""
    import numpy as np

    from neuron_core.recognizer import ZeroShotRecognizer
    from tests.doubles import CountingEncoder, windows

    rng = np.random.default_rng(0)
    meta = make_meta()
    meta.reference_embedding = (rng.standard_normal((6, meta.text_dim)) * 0.1).tolist()
    torch.manual_seed(0)
    trained = save_checkpoint(tmp_path / "trained.pt", tiny_model(calibration="prior"), meta)
    live = (rng.standard_normal((6, meta.text_dim)) * 0.1).astype(np.float32)
    np.save(tmp_path / "live.npy", live)
    out = tmp_path / "live.pt"
    export(str(trained), str(out), half=False, live_reference=str(tmp_path / "live.npy"))
    model, meta = load_checkpoint(out)
    np.testing.assert_allclose(meta.live_reference_array(), live, atol=1e-6)
    assert meta.reference_array() is not None  # the training windows' mean stays for evaluation
    scored = {}
    for name, m in (("live", meta), ("training", replace(meta, live_reference_embedding=[]))):
        rec = ZeroShotRecognizer(model, m, CountingEncoder(m.text_dim))
        rec.set_labels(["wave", "sit down", "jump"])
        assert rec.reference_source == name
        scored[name] = rec.scores(windows(2))
    assert not np.allclose(scored["live"], scored["training"])
    # Windows not made by the pose backend (skeleton files, the demo's synthetic body): training mean.
    assert ZeroShotRecognizer(
        model, meta, CountingEncoder(meta.text_dim), live_reference=False
    ).reference_source == ("training")
    np.save(tmp_path / "bad.npy", live[:3])
    for bad in (tmp_path / "bad.npy", tmp_path / "missing.npy"):
        with pytest.raises(ConfigError, match="--live-reference"):
            export(str(trained), str(tmp_path / "y.pt"), half=False, live_reference=str(bad))
    assert not (tmp_path / "y.pt").exists()
