"""`train.py export`: a shippable copy whose contract (scoring, prompts per granularity) is edited
and whose weights are unchanged up to float16 rounding."""

from __future__ import annotations

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
