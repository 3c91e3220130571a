"""MiniLM on ONNX Runtime: the same vectors as sentence-transformers, exported once and cached, run
without torch, and a clean fallback when the graph cannot be made."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neuron_core import text_onnx
from neuron_core.errors import TextEncoderError
from neuron_core.prompts import name_prompts
from neuron_core.text_encoders import HashingEncoder, MiniLMEncoder, get_text_encoder
from neuron_core.text_onnx import OnnxMiniLMEncoder, cached_text_graph, minilm_dir
from tests.conftest import ROOT

LABELS = [
    "wave",
    "clap hands",
    "jump up",
    "drink water",
    "kick with left leg",
    "kick with right leg",
    "sit down",
    "stand up",
    "throw a ball",
    "hugging other person",
    "put on a jacket",
    "brush teeth",
    "falling",
    "a very long action name that goes on and on about someone juggling three balls",
    "Ärger zeigen",  # non-ASCII goes through the same tokenizer
]
MIN_COSINE = 0.999


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("neuron-cache")


@pytest.fixture(scope="module")
def onnx_encoder(cache: Path) -> OnnxMiniLMEncoder:
    encoder = OnnxMiniLMEncoder(cache_dir=cache, threads=1)
    encoder.encode(["export the graph once"])
    return encoder


@pytest.mark.slow
def test_onnx_matches_sentence_transformers(onnx_encoder: OnnxMiniLMEncoder) -> None:
    texts = [*LABELS, *(p for label in LABELS[:4] for group in name_prompts(label).values() for p in group)]
    ours = onnx_encoder.encode(texts)
    reference = MiniLMEncoder().encode(texts)
    assert ours.shape == reference.shape == (len(texts), 384) and ours.dtype == np.float32
    cosine = (ours * reference).sum(axis=1)
    assert cosine.min() > MIN_COSINE, f"worst cosine {cosine.min():.6f} ({texts[int(cosine.argmin())]!r})"
    # Row order survives the length-sorted batching: each row is its own text's vector.
    assert np.allclose(onnx_encoder.encode(texts[::-1]), ours[::-1], atol=1e-5)
    assert onnx_encoder.encode([]).shape == (0, 384)


@pytest.mark.slow
def test_graph_is_cached_under_the_weights_hash(onnx_encoder: OnnxMiniLMEncoder, cache: Path) -> None:
    path = cached_text_graph(minilm_dir(), cache)
    assert onnx_encoder.path == path and path.is_file()
    assert text_onnx.weights_digest(minilm_dir() / "model.safetensors") in path.name
    stamp = path.stat().st_mtime_ns
    again = OnnxMiniLMEncoder(cache_dir=cache, threads=1)
    assert np.allclose(again.encode(["wave"]), onnx_encoder.encode(["wave"]), atol=1e-6)
    assert path.stat().st_mtime_ns == stamp  # reused, not exported again


@pytest.mark.slow
def test_a_cached_graph_runs_without_torch(onnx_encoder: OnnxMiniLMEncoder, cache: Path) -> None:
    code = (
        "import sys; from neuron_core.text_onnx import OnnxMiniLMEncoder; "
        f"v = OnnxMiniLMEncoder(cache_dir={str(cache)!r}, threads=1).encode(['wave']); "
        "print(v.shape, 'torch' in sys.modules, 'transformers' in sys.modules)"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["(1,", "384)", "False", "False"]


@pytest.mark.slow
def test_a_damaged_cached_graph_is_exported_again(cache: Path, tmp_path: Path) -> None:
    path = cached_text_graph(minilm_dir(), tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a graph")
    encoder = OnnxMiniLMEncoder(cache_dir=tmp_path, threads=1)
    assert encoder.encode(["wave"]).shape == (1, 384)
    assert path.stat().st_size > 1_000_000


def test_failed_export_falls_back_with_a_reason_or_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(model_dir: Path, path: Path) -> Path:
        raise TextEncoderError("cannot export the MiniLM text encoder to ONNX: exporter missing")

    monkeypatch.setattr(text_onnx, "export_minilm", broken)
    with pytest.raises(TextEncoderError, match="exporter missing"):
        OnnxMiniLMEncoder(cache_dir=tmp_path).encode(["wave"])
    stand_in = HashingEncoder(384)
    encoder = OnnxMiniLMEncoder(cache_dir=tmp_path, fallback=stand_in)
    with caplog.at_level(logging.WARNING):
        vectors = encoder.encode(["wave", "jump"])
    assert encoder.using_fallback and np.allclose(vectors, stand_in.encode(["wave", "jump"]))
    assert "using sentence-transformers" in caplog.text and "exporter missing" in caplog.text


def test_runtime_choice() -> None:
    assert isinstance(get_text_encoder("minilm-l6-v2"), OnnxMiniLMEncoder)  # lazy: nothing loaded yet
    assert isinstance(get_text_encoder("minilm-l6-v2", runtime="torch"), MiniLMEncoder)
    assert isinstance(get_text_encoder("minilm-l6-v2", device="cuda"), MiniLMEncoder)
    strict = get_text_encoder("minilm-l6-v2", runtime="onnx")
    assert isinstance(strict, OnnxMiniLMEncoder) and strict.fallback is None
    with pytest.raises(TextEncoderError, match="unknown text encoder runtime"):
        get_text_encoder("minilm-l6-v2", runtime="tensorflow")
