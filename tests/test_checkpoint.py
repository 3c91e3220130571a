"""Checkpoints: exact round trip, and one clear CheckpointError for every kind of bad file."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch

from neuron_core.checkpoint import (
    DEFAULT_CHECKPOINT,
    CheckpointMeta,
    load_checkpoint,
    read_checkpoint_meta,
    save_checkpoint,
)
from neuron_core.config import ModelConfig
from neuron_core.errors import CheckpointError
from neuron_core.model import NeuronModel
from neuron_core.prompts import TEXTS, TextContract
from pose.normalize import PREPROCESS, Preprocess
from tests.doubles import TINY_CONFIG

CONFIG = {**TINY_CONFIG, "text_dim": 12}


def make_model(seed: int = 0) -> NeuronModel:
    torch.manual_seed(seed)
    model = NeuronModel(ModelConfig(**CONFIG))
    with torch.no_grad():  # non-default BatchNorm statistics, so the round trip must carry them
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    return model.eval()


def make_meta() -> CheckpointMeta:
    return CheckpointMeta(
        text_encoder="minilm-l6-v2", text_dim=12, preprocess=Preprocess(window=16, test_crop=0.9),
        text=TextContract("bank", 4, "names"), vocabulary=["drink water", "sit down"],
        metrics={"zsl_top1": 0.5}, command="neuron-train --epochs 1", data="ntu60 48/12",
    )  # fmt: skip


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, NeuronModel]:
    model = make_model()
    path = save_checkpoint(tmp_path / "model.pt", model, make_meta())
    return path, model


def test_round_trip_gives_identical_outputs_and_meta(saved: tuple[Path, NeuronModel]) -> None:
    path, model = saved
    loaded, meta = load_checkpoint(path, expect_text_encoder="minilm-l6-v2")
    x = torch.randn(2, 3, 16, 25, 2)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    assert not loaded.training
    assert loaded.config == model.config
    assert meta == CheckpointMeta.from_dict({**make_meta().to_dict(), "created": meta.created})
    assert meta.preprocess == Preprocess(window=16, test_crop=0.9) and meta.text == TextContract(
        "bank", 4, "names"
    )
    assert meta.vocabulary == ["drink water", "sit down"] and meta.metrics == {"zsl_top1": 0.5}
    assert read_checkpoint_meta(path) == meta


def assert_refused(path: Path, match: str, **kwargs: object) -> None:
    with pytest.raises(CheckpointError, match=match) as info:
        load_checkpoint(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message and str(path) in message


def test_missing_empty_and_directory(tmp_path: Path) -> None:
    assert_refused(tmp_path / "nope.pt", "does not exist")
    (tmp_path / "empty.pt").write_bytes(b"")
    assert_refused(tmp_path / "empty.pt", "is empty")
    assert_refused(tmp_path, "directory")


def test_garbage_and_truncated_files(saved: tuple[Path, NeuronModel], tmp_path: Path) -> None:
    path, _ = saved
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(bytes(range(256)) * 8)
    assert_refused(garbage, "corrupt")
    text = tmp_path / "notes.pt"
    text.write_text("these are not weights")
    assert_refused(text, "corrupt")
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 30):
        truncated = tmp_path / f"cut{cut}.pt"
        truncated.write_bytes(data[:cut])
        assert_refused(truncated, "corrupt or truncated|damaged")


def test_files_that_are_not_our_checkpoints(saved: tuple[Path, NeuronModel], tmp_path: Path) -> None:
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    assert_refused(other, "not a Neuron Live checkpoint")
    torch.save([1, 2, 3], other)
    assert_refused(other, "not a Neuron Live checkpoint")

    payload = torch.load(saved[0], weights_only=True)
    for key in ("meta", "state_dict", "config"):
        broken = {k: v for k, v in payload.items() if k != key}
        torch.save(broken, other)
        assert_refused(other, f"lacks the '{key}' entry")


def test_weights_that_do_not_fit_the_config(saved: tuple[Path, NeuronModel], tmp_path: Path) -> None:
    payload = torch.load(saved[0], weights_only=True)
    bad = tmp_path / "bad.pt"
    torch.save({**payload, "config": {**payload["config"], "backbone_channels": [8, 16, 16]}}, bad)
    assert_refused(bad, "stride|does not fit")  # three blocks need three strides: config refused
    torch.save({**payload, "config": {**payload["config"], "n_spatial": 12}}, bad)
    assert_refused(bad, "does not fit its model config: 'head.spatial_prototypes' has shape")
    state = dict(payload["state_dict"])
    state.pop("head.spatial_proj.0.bias")
    torch.save({**payload, "state_dict": state}, bad)
    assert_refused(bad, "'head.spatial_proj.0.bias' are missing")


def test_text_encoder_mismatch_is_refused(saved: tuple[Path, NeuronModel]) -> None:
    assert_refused(saved[0], "trained with text encoder 'minilm-l6-v2', not 'openclip:ViT-B-32:openai'",
                   expect_text_encoder="openclip:ViT-B-32:openai")  # fmt: skip


class Payload:
    """A pickle that would create a directory when unpickled, standing in for arbitrary code."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple:
        return (os.mkdir, (str(self.target),))


def test_malicious_pickles_are_refused_without_running(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    zipped = tmp_path / "evil_zip.pt"
    torch.save({"format": "neuron-live-checkpoint", "meta": Payload(marker)}, zipped)
    raw = tmp_path / "evil_raw.pt"
    raw.write_bytes(pickle.dumps(Payload(marker), protocol=2))
    for path in (zipped, raw):
        assert_refused(path, r"refers to code \((posix|nt)\.mkdir\).*refused for safety")
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="refused for safety"):
        load_checkpoint(zipped)


def test_meta_text_dim_must_match_the_model(tmp_path: Path) -> None:
    meta = make_meta()
    meta.text_dim = 384
    with pytest.raises(CheckpointError, match="text_dim"):
        save_checkpoint(tmp_path / "x.pt", make_model(), meta)
    assert not (tmp_path / "x.pt").exists()


# ----- the contract: how windows and label texts are made, as typed data ---------------------------

OLD_META = {  # what training wrote before the contract was typed (the shipped model's generation)
    "text_encoder": "minilm-l6-v2",
    "text_dim": 12,
    "layout": "ntu25",
    "window": 16,
    "normalisation": "pose.normalize.normalize_window(crop=0.95): spine-mid centre of the first valid frame",
}


def test_the_contract_is_stored_flat_and_read_back_typed(saved: tuple[Path, NeuronModel]) -> None:
    stored = torch.load(saved[0], weights_only=True)["meta"]
    assert {k: stored[k] for k in ("window", "test_crop", "frame_rate", "resampling", "layout")} == {
        "window": 16, "test_crop": 0.9, "frame_rate": 30.0, "resampling": "linear", "layout": "ntu25"
    }  # fmt: skip
    assert (stored["text_source"], stored["prompts_per_granularity"], stored["prompt_mode"]) == (
        "bank",
        4,
        "names",
    )
    assert stored["normalisation"] == PREPROCESS.normalisation


def test_old_checkpoints_read_with_the_defaults_they_were_trained_with(tmp_path: Path) -> None:
    meta = CheckpointMeta.from_dict(OLD_META)
    assert meta.preprocess == Preprocess(window=16) and meta.text == TEXTS
    assert (meta.preprocess.test_crop, meta.preprocess.frame_rate) == (0.95, 30.0)
    assert (meta.text.source, meta.text.prompts_per_granularity, meta.text.prompt_mode) == (
        "names",
        10,
        "mixed",
    )
    payload = torch.load(save_checkpoint(tmp_path / "m.pt", make_model(), make_meta()), weights_only=True)
    torch.save({**payload, "meta": OLD_META}, tmp_path / "old.pt")
    assert load_checkpoint(tmp_path / "old.pt")[1].preprocess == Preprocess(window=16)


@pytest.mark.skipif(not DEFAULT_CHECKPOINT.exists(), reason="the shipped model is not installed")
def test_the_shipped_model_reads_as_trained() -> None:
    for path in (DEFAULT_CHECKPOINT, DEFAULT_CHECKPOINT.parents[1] / "runs" / "previous_default.pt"):
        if path.exists():
            meta = read_checkpoint_meta(path)
            assert meta.preprocess == PREPROCESS  # 64 frames, 0.95 crop, 30 Hz, linear, ntu25
            assert meta.text.prompt_mode == "mixed"
    shipped = read_checkpoint_meta(DEFAULT_CHECKPOINT).text
    assert shipped.source == "bank+names" and shipped.prompts_per_granularity == 2  # export --prompts 2


@pytest.mark.parametrize(
    ("key", "value"),
    [("layout", "coco17"), ("normalisation", "z-score per joint"), ("resampling", "cubic")],
)
def test_a_contract_this_code_cannot_honour_is_refused(
    saved: tuple[Path, NeuronModel], tmp_path: Path, key: str, value: str
) -> None:
    payload = torch.load(saved[0], weights_only=True)
    bad = tmp_path / "bad.pt"
    torch.save({**payload, "meta": {**payload["meta"], key: value}}, bad)
    assert_refused(bad, rf"needs what this code cannot do: {key} '{value}' is not one this code has")
    with pytest.raises(CheckpointError, match="cannot do"):
        read_checkpoint_meta(bad)


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [("window", 1, "window"), ("test_crop", 1.5, "test_crop"), ("frame_rate", 0, "frame_rate"),
     ("prompt_mode", "poetry", "prompt_mode"), ("text_source", "llm", "text_source")],
)  # fmt: skip
def test_bad_contract_values_are_invalid_metadata(
    saved: tuple[Path, NeuronModel], tmp_path: Path, key: str, value: object, match: str
) -> None:
    payload = torch.load(saved[0], weights_only=True)
    bad = tmp_path / "bad.pt"
    torch.save({**payload, "meta": {**payload["meta"], key: value}}, bad)
    assert_refused(bad, f"invalid metadata: .*{match}")
