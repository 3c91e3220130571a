"""A lean start: on the CPU with ONNX Runtime and warm caches, the live path imports no torch (nor any
package only training needs) and scores as the torch path does.

The pieces: the checkpoint read without torch (``neuron_core.torch_zip``, ``read_stored_model``), its
cached graph found by a digest of those arrays (``arrays_digest`` = ``model_digest``), and the
scoring in numpy (``neuron_core.scoring``) equal to the torch functions to float32 rounding.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from neuron_core import scoring, torch_zip
from neuron_core.calibration import CALIBRATIONS
from neuron_core.checkpoint import load_checkpoint, read_stored_model, save_checkpoint
from neuron_core.errors import CheckpointError
from neuron_core.model import FUSIONS, class_logits, class_prototypes, fuse
from neuron_core.onnx_runtime import OnnxEmbedder, arrays_digest, model_digest
from neuron_core.recognizer import ZeroShotRecognizer
from neuron_core.text_encoders import HashingEncoder
from tests.doubles import DIM, make_meta, tiny_model, windows

ROOT = Path(__file__).resolve().parent.parent
# What the live path must not import: torch and what only training or other text encoders need.
NOT_LIVE = ("torch", "sentence_transformers", "transformers", "open_clip", "torchvision", "scipy", "training")
LABELS = ["wave", "sit down", "drink water", "kick something"]


@pytest.fixture(scope="module")
def warm(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny checkpoint scored with both calibrations and all six steps, and a cache folder that
    holds its exported graph (warm caches, as after the app's first start)."""
    torch.manual_seed(0)
    tmp = tmp_path_factory.mktemp("lean")
    model = tiny_model(calibration="prior+centre", fusion="all")
    meta = make_meta()
    meta.reference_embedding = (0.3 * torch.nn.functional.normalize(torch.randn(6, DIM), dim=-1)).tolist()
    path = save_checkpoint(tmp / "tiny.pt", model, meta)
    cache = tmp / "cache"
    OnnxEmbedder.for_model(load_checkpoint(path)[0], threads=1, cache_dir=cache)
    return path, cache


# ----- reading a checkpoint without torch ------------------------------------------------------------


def test_torch_zip_reads_what_torch_saves(tmp_path: Path) -> None:
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    payload = {
        "meta": {"name": "x", "values": [1, 2.5, None, True], "nested": {"a": "b"}},
        "state": {
            "f32": torch.randn(3, 5),
            "f16": torch.randn(7).half(),
            "i64": torch.tensor(5),
            "flag": torch.tensor([True, False]),
            "empty": torch.zeros(0, 3),
            "transposed": base.t(),  # strided view
            "row": base[2],  # a view at an offset of a shared storage
        },
    }
    torch.save(payload, tmp_path / "p.pt")
    got = torch_zip.read(tmp_path / "p.pt")
    assert got["meta"] == payload["meta"]
    for key, tensor in payload["state"].items():
        array = got["state"][key]
        assert isinstance(array, np.ndarray) and array.dtype == tensor.numpy().dtype, key
        np.testing.assert_array_equal(array, tensor.numpy(), err_msg=key)


def test_what_the_reader_does_not_know_goes_to_torch(tmp_path: Path, warm: tuple[Path, Path]) -> None:
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint")
    assert read_stored_model(text) is None
    with pytest.raises(torch_zip.Unreadable):
        torch_zip.read(text)

    # A checkpoint whose pickle names code: never resolved here; torch's loader refuses it as before.
    path, _ = warm
    crafted = tmp_path / "crafted.pt"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(crafted, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.endswith("/data.pkl"):
                buf = io.BytesIO()
                pickle.dump({"format": "neuron-live-checkpoint", "hook": print}, buf, protocol=2)
                data = buf.getvalue()
            dst.writestr(item, data)
    with pytest.raises(torch_zip.Unreadable, match="print"):
        torch_zip.read(crafted)
    assert read_stored_model(crafted) is None
    with pytest.raises(CheckpointError, match="refers to code"):
        ZeroShotRecognizer.from_checkpoint(crafted, device="cpu", encoder=HashingEncoder(DIM), backend="onnx")


def test_the_stored_model_is_the_loaded_one(warm: tuple[Path, Path]) -> None:
    path, _ = warm
    loaded = read_stored_model(path)
    assert loaded is not None
    stored, meta = loaded
    model, meta2 = load_checkpoint(path)
    assert stored.config == model.config and meta == meta2
    assert arrays_digest(stored.config.to_dict(), stored.state) == model_digest(model)
    assert stored.logit_scale == pytest.approx(float(model.logit_scale.detach()), rel=1e-7)
    with pytest.raises(CheckpointError, match="text encoder"):
        read_stored_model(path, expect_text_encoder="minilm-l6-v2")


# ----- scoring in numpy --------------------------------------------------------------------------------


@pytest.mark.parametrize("calibration", CALIBRATIONS)
@pytest.mark.parametrize("labels", [2, 7])
def test_numpy_scoring_is_the_torch_scoring(calibration: str, labels: int) -> None:
    rng = np.random.default_rng(labels)
    emb = rng.standard_normal((5, 6, DIM)).astype(np.float32)
    texts = rng.standard_normal((labels, 6, 3, DIM)).astype(np.float32)
    reference = (0.2 * rng.standard_normal((6, DIM))).astype(np.float32)
    scale = 23.7
    protos = scoring.class_prototypes(texts)
    np.testing.assert_allclose(
        protos, class_prototypes(torch.from_numpy(texts)).numpy(), rtol=1e-6, atol=1e-7
    )
    got = scoring.class_logits(emb, protos, scale, calibration, reference)
    expected = class_logits(
        torch.from_numpy(emb), torch.from_numpy(texts), scale, calibration, torch.from_numpy(reference)
    )
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-5, atol=1e-5)
    for rule in FUSIONS:
        fused = scoring.fuse(got, rule)
        np.testing.assert_allclose(fused, fuse(expected, rule).numpy(), rtol=1e-5, atol=1e-5)
        probs = torch.softmax(torch.from_numpy(fused), dim=1).numpy()
        np.testing.assert_allclose(scoring.softmax(fused), probs, rtol=1e-6, atol=1e-7)


def test_a_lean_recognizer_scores_as_the_torch_model_does(warm: tuple[Path, Path]) -> None:
    path, cache = warm
    encoder = HashingEncoder(DIM)
    lean = ZeroShotRecognizer.from_checkpoint(
        path, device="cpu", encoder=encoder, backend="onnx", threads=1, onnx_cache_dir=cache
    )
    assert lean._model is None and lean.backend == "onnx" and lean.backend_reason.startswith("cached graph")
    model, meta = load_checkpoint(path)
    reference = ZeroShotRecognizer(model, meta, encoder, device="cpu", backend="torch")
    onnx = ZeroShotRecognizer(
        model, meta, encoder, device="cpu", backend="onnx", threads=1, onnx_cache_dir=cache
    )
    for rec in (lean, reference, onnx):
        rec.set_labels(LABELS)
    x = windows(6, seed=3)
    got, want = lean.scores(x), reference.scores(x)
    np.testing.assert_allclose(got, onnx.scores(x), rtol=1e-6, atol=1e-6)  # the same graph
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)  # ONNX Runtime against torch
    assert (got.argmax(axis=1) == want.argmax(axis=1)).all()
    # Examples (teaching by example) use the same embeddings and scale.
    assert lean.set_examples("wave", x[:2]) == 2 and reference.set_examples("wave", x[:2]) == 2
    np.testing.assert_allclose(lean.scores(x), reference.scores(x), rtol=1e-4, atol=1e-5)
    # The torch model is still there when asked for, built from the checkpoint.
    assert model_digest(lean.model) == model_digest(model)


# ----- the live path in a fresh process ---------------------------------------------------------------


def _fresh(code: str, cache: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NEURON_LIVE_CACHE": str(cache), "NEURON_LIVE_CONFIG_DIR": str(tmp_path / "config")}
    env["HF_HUB_OFFLINE"] = "1"
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120
    )


def test_the_live_path_imports_nothing_only_training_needs(warm: tuple[Path, Path], tmp_path: Path) -> None:
    """``app.session.load_recognizer`` as the app calls it, then scores: no torch in the process."""
    path, cache = warm
    x = windows(4, seed=5)
    np.save(tmp_path / "x.npy", x)
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "import numpy as np\n"
        "from app.config import LiveConfig\n"
        "from app.session import load_recognizer\n"
        f"config = LiveConfig(checkpoint=Path({str(path)!r}), backend='onnx', device='cpu')\n"
        f"rec = load_recognizer(config, {LABELS!r})\n"
        f"scores = rec.scores(np.load({str(tmp_path / 'x.npy')!r}))\n"
        f"print(json.dumps({{'backend': rec.backend, 'scores': scores.tolist(),\n"
        f"    'imported': [m for m in {NOT_LIVE!r} if m in sys.modules]}}))\n"
    )
    result = _fresh(code, cache, tmp_path)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.splitlines()[-1])
    assert out["backend"] == "onnx" and out["imported"] == []
    model, meta = load_checkpoint(path)
    reference = ZeroShotRecognizer(model, meta, HashingEncoder(DIM), device="cpu", backend="torch")
    reference.set_labels(LABELS)
    np.testing.assert_allclose(np.array(out["scores"]), reference.scores(x), rtol=1e-4, atol=1e-5)


def test_neuron_live_headless_demo_starts_without_torch(warm: tuple[Path, Path], tmp_path: Path) -> None:
    """The whole app (pipeline, threads, JSON lines) on the demo: predictions, and no torch."""
    path, cache = warm
    args = ["--headless", "--demo", "--max-frames", "60", "--checkpoint", str(path), "--backend", "onnx"]
    args += ["--device", "cpu", "--labels", ",".join(LABELS)]
    code = (
        "import io, sys\n"
        "from app.cli import main\n"
        "out, sys.stdout = sys.stdout, io.StringIO()\n"
        f"code = main({args!r})\n"
        "lines = sys.stdout.getvalue().count('\\n')\n"
        "sys.stdout = out\n"
        f"print(code, lines, [m for m in {NOT_LIVE!r} if m in sys.modules])\n"
    )
    result = _fresh(code, cache, tmp_path)
    assert result.returncode == 0, result.stderr
    code_, lines, imported = result.stdout.splitlines()[-1].split(" ", 2)
    assert code_ == "0" and int(lines) > 0, result.stderr
    assert imported == "[]"


def test_weights_that_do_not_fit_the_model_are_refused_on_every_backend(
    warm: tuple[Path, Path], tmp_path: Path
) -> None:
    """Read without torch, such a checkpoint has no cached graph; building the model then refuses
    it as load_checkpoint always did, rather than falling back to torch."""
    path, _ = warm
    payload = torch.load(path, weights_only=True)
    name = next(iter(payload["state_dict"]))
    payload["state_dict"][name] = torch.zeros(3, 3)
    bad = tmp_path / "bad.pt"
    torch.save(payload, bad)
    assert read_stored_model(bad) is not None  # config and metadata are fine
    for backend in ("auto", "onnx", "torch"):
        with pytest.raises(CheckpointError, match="does not fit its model config"):
            ZeroShotRecognizer.from_checkpoint(
                bad, device="cpu", encoder=HashingEncoder(DIM), backend=backend, onnx_cache_dir=tmp_path
            )
