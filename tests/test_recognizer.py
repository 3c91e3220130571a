"""The zero-shot recogniser: cached label embeddings, scores, ranking, devices, loading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from neuron_core.checkpoint import CheckpointMeta, save_checkpoint
from neuron_core.config import ModelConfig
from neuron_core.errors import CheckpointError, LabelError, ModelError, NeuronCoreError, TextEncoderError
from neuron_core.model import NeuronModel, class_logits, fuse
from neuron_core.prompts import encode_classes, name_prompts
from neuron_core.recognizer import ZeroShotRecognizer, resolve_device
from neuron_core.text_encoders import HashingEncoder
from tests.doubles import DIM, TINY_CONFIG, CountingEncoder, make_meta, windows

CONFIG = TINY_CONFIG


@pytest.fixture
def recognizer() -> ZeroShotRecognizer:
    torch.manual_seed(0)
    return ZeroShotRecognizer(NeuronModel(ModelConfig(**CONFIG)), make_meta(), CountingEncoder(), k=4)


def test_add_label_costs_one_encoding_of_its_own_prompts(recognizer: ZeroShotRecognizer) -> None:
    enc = recognizer.encoder
    stored = recognizer.set_labels(["wave", " Sit  down ", "drink water"])
    assert stored == ["wave", "Sit down", "drink water"]
    assert len(enc.calls) == 1 and len(enc.calls[0]) == 3 * 6 * 4
    assert recognizer.add_label("jump up") == "jump up"
    assert len(enc.calls) == 2
    assert enc.calls[1] == [t for texts in name_prompts("jump up", k=4).values() for t in texts]
    assert recognizer.labels == ["wave", "Sit down", "drink water", "jump up"]
    assert recognizer.scores(windows(2)).shape == (2, 4)

    recognizer.set_labels(["jump up", "drink water"])
    recognizer.add_label("wave")  # cached: no new encoding
    recognizer.set_labels(["jump up", "drink water"])
    assert len(enc.calls) == 2
    with pytest.raises(LabelError, match="already"):
        recognizer.add_label("Jump Up")
    with pytest.raises(LabelError):
        recognizer.add_label("bad\tlabel")
    assert len(enc.calls) == 2 and recognizer.labels == ["jump up", "drink water"]


def test_scores_are_the_softmax_of_fused_cosine_logits(recognizer: ZeroShotRecognizer) -> None:
    labels = ["wave", "sit down", "drink water"]
    recognizer.set_labels(labels)
    x = windows(3)
    probs = recognizer.scores(x)
    assert probs.shape == (3, 3) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    model = recognizer.model
    with torch.no_grad():
        texts = torch.from_numpy(encode_classes(HashingEncoder(DIM), labels, k=4))
        expected = torch.softmax(fuse(class_logits(model(torch.from_numpy(x)), texts, model.logit_scale)), 1)
    np.testing.assert_allclose(probs, expected.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(recognizer.scores(x[1]), probs[1:2], rtol=1e-5, atol=1e-6)

    # One window (T, V, M) without a batch axis scores like a batch of one.
    assert recognizer.labels[int(recognizer.scores(x[1])[0].argmax())] == labels[int(probs[1].argmax())]


def test_no_labels_and_bad_windows(recognizer: ZeroShotRecognizer) -> None:
    assert recognizer.scores(windows(2)).shape == (2, 0)
    assert recognizer.scores(windows(1)[0]).shape == (1, 0)
    recognizer.add_label("wave")
    for bad in (np.zeros((3, 16, 24, 2)), np.zeros((2, 16, 25, 2)), np.zeros((16, 25, 2))):
        with pytest.raises(ModelError, match="expected windows"):
            recognizer.scores(bad)
    nan = windows(1)
    nan[0, 0, 0, 0, 0] = np.nan
    with pytest.raises(ModelError, match="NaN"):
        recognizer.scores(nan)


def test_encoder_must_match_the_checkpoint() -> None:
    model = NeuronModel(ModelConfig(**CONFIG))
    with pytest.raises(TextEncoderError, match="trained with text encoder 'hash-16', not 'hash-8'"):
        ZeroShotRecognizer(model, make_meta(), HashingEncoder(8))
    meta = CheckpointMeta(text_encoder="hash-8", text_dim=DIM)
    with pytest.raises(TextEncoderError, match="8-d vectors"):
        ZeroShotRecognizer(model, meta, HashingEncoder(8))


def test_from_checkpoint_builds_the_named_encoder(tmp_path: Path) -> None:
    model = NeuronModel(ModelConfig(**CONFIG)).eval()
    path = save_checkpoint(tmp_path / "m.pt", model, make_meta())
    rec = ZeroShotRecognizer.from_checkpoint(path, device="cpu", cache_dir=tmp_path / "cache")
    assert rec.encoder.name == "hash-16" and rec.device == "cpu"
    rec.set_labels(["wave", "clap"])
    direct = ZeroShotRecognizer(model, make_meta(), HashingEncoder(DIM))
    direct.set_labels(["wave", "clap"])
    np.testing.assert_array_equal(rec.scores(windows(2)), direct.scores(windows(2)))
    assert list((tmp_path / "cache" / "hash-16").glob("*.npy"))
    with pytest.raises(CheckpointError, match="trained with text encoder"):
        ZeroShotRecognizer.from_checkpoint(path, device="cpu", encoder=HashingEncoder(DIM + 1))


def test_resolve_device() -> None:
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(NeuronCoreError, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(NeuronCoreError, match="no CUDA GPU"):
            resolve_device("cuda")
    else:
        with pytest.raises(NeuronCoreError, match="does not exist"):
            resolve_device(f"cuda:{torch.cuda.device_count()}")
