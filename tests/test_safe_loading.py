"""Nothing the app or training loads from disk can run code: a crafted pickle is refused, never executed.

Each loader gets a file whose pickle, if unpickled, would call ``open(marker, "w")`` and so create a
marker file. The first test proves the payload really does that when loaded carelessly; every other
test then asserts the loader refuses (or, for caches, ignores and rebuilds) the file with a clear
error, and that the marker never appears.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from neuron_core.checkpoint import FORMAT, VERSION, load_checkpoint, read_checkpoint_meta
from neuron_core.errors import CheckpointError
from neuron_core.text_encoders import CachedTextEncoder, HashingEncoder
from pose.errors import SkeletonError
from pose.readers import iter_ctrgcn_npz, read_skeleton_file
from pose.skeleton import Skeleton, load_npz, save_npz
from tests.conftest import ROOT


class Payload:
    """Unpickling this calls ``open(marker, "w")``: the smallest visible proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple:
        return (open, (self.marker, "w"))


def evil_array(marker: Path, shape: tuple[int, ...] = ()) -> np.ndarray:
    out = np.empty(shape, object)
    for index in np.ndindex(shape):
        out[index] = Payload(marker)
    return out


def evil_checkpoint(path: Path, marker: Path) -> Path:
    """A file that looks like ours (format tag, version) with the payload hidden in its metadata."""
    torch.save(
        {"format": FORMAT, "version": VERSION, "config": {}, "state_dict": {}, "meta": Payload(marker)}, path
    )
    return path


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    path = tmp_path / "code-ran"
    yield path
    assert not path.exists(), "a loader executed code from a crafted file"


def test_the_payload_runs_code_when_loaded_unsafely(tmp_path: Path) -> None:
    """Control: every crafted file below does create the marker when loaded without the safeguards."""
    ran = tmp_path / "ran"
    pickle.loads(pickle.dumps(Payload(ran)))
    assert ran.exists()
    ran.unlink()
    torch.load(evil_checkpoint(tmp_path / "evil.pt", ran), weights_only=False)
    assert ran.exists()
    ran.unlink()
    np.save(tmp_path / "evil.npy", evil_array(ran, (2,)), allow_pickle=True)
    np.load(tmp_path / "evil.npy", allow_pickle=True)
    assert ran.exists()


# ---------------------------------------------------------------- checkpoints


def test_checkpoint_with_code_is_refused(tmp_path: Path, marker: Path) -> None:
    path = evil_checkpoint(tmp_path / "model.pt", marker)
    for load in (load_checkpoint, read_checkpoint_meta):
        with pytest.raises(CheckpointError, match="refused for safety") as info:
            load(path)
        assert "\n" not in str(info.value) and "model.pt" in str(info.value)


def test_legacy_pickle_checkpoint_is_refused(tmp_path: Path, marker: Path) -> None:
    """torch.load also reads the old plain-pickle format; that path must be as safe."""
    path = tmp_path / "model.pt"
    path.write_bytes(pickle.dumps(Payload(marker), protocol=2))
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert "\n" not in str(info.value)


def test_recognizer_from_checkpoint_is_refused(tmp_path: Path, marker: Path) -> None:
    from neuron_core.recognizer import ZeroShotRecognizer

    with pytest.raises(CheckpointError, match="refused for safety"):
        ZeroShotRecognizer.from_checkpoint(evil_checkpoint(tmp_path / "model.pt", marker), device="cpu")


@pytest.mark.slow
def test_cli_refuses_a_checkpoint_with_code(tmp_path: Path, marker: Path) -> None:
    """The user's path: one 'error:' line, exit code 2, no traceback, no code run."""
    path = evil_checkpoint(tmp_path / "model.pt", marker)
    env = {**os.environ, "NEURON_LIVE_CONFIG_DIR": str(tmp_path / "config"), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.cli",
            "--headless",
            "--demo",
            "--max-frames",
            "5",
            "--checkpoint",
            str(path),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "refused for safety" in lines[0], done.stderr
    assert "Traceback" not in done.stderr


def test_training_weights_files_are_refused(tmp_path: Path, marker: Path) -> None:
    """neuron-train's resume state and pre-trained backbone are read through the same refusal."""
    from training import config as C
    from training.train import _load_state, load_backbone

    path = evil_checkpoint(tmp_path / "state.pt", marker)
    with pytest.raises(C.ConfigError, match="refused"):
        _load_state(path)
    with pytest.raises(C.ConfigError, match="refused"):
        load_backbone(path, C.TrainConfig())


# ---------------------------------------------------------------- caches


def test_text_cache_ignores_a_pickled_entry_and_heals_it(tmp_path: Path, marker: Path) -> None:
    inner = HashingEncoder(16)
    cached = CachedTextEncoder(inner, tmp_path / "cache")
    entry = cached._path("wave")
    entry.parent.mkdir(parents=True)
    np.save(entry, evil_array(marker, (16,)), allow_pickle=True)
    vectors = cached.encode(["wave"])
    np.testing.assert_allclose(vectors, inner.encode(["wave"]), rtol=1e-6)
    assert cached.misses == 1
    healed = np.load(entry, allow_pickle=False)  # rewritten as plain floats
    assert healed.dtype == np.float32 and healed.shape == (16,)


def _training_source(tmp_path: Path):
    from training.config import SourceConfig

    data = tmp_path / "data"
    data.mkdir()
    pose = np.zeros((12, 25, 3), np.float32) + np.linspace(0.0, 1.0, 25)[None, :, None]
    save_npz(Skeleton.from_single(pose, label="wave"), data / "a.npz")
    return SourceConfig("npz_folder", str(data))


@pytest.mark.parametrize("member", ["index.npz", "joints.npy"])
def test_training_cache_with_pickles_is_rebuilt_not_loaded(tmp_path: Path, marker: Path, member: str) -> None:
    from training.data import cache_path, load_source

    source, cache = _training_source(tmp_path), tmp_path / "cache"
    assert len(load_source(source, cache)) == 1
    folder = cache_path(cache, source)
    if member == "index.npz":
        np.savez(folder / member, version=evil_array(marker), source=evil_array(marker))
    else:
        np.save(folder / member, evil_array(marker, (3,)), allow_pickle=True)
    store = load_source(source, cache)
    assert len(store) == 1 and store.labels.tolist() == ["wave"]
    assert store.joints.dtype == np.float32


def test_training_folder_skips_a_pickled_npz(tmp_path: Path, marker: Path) -> None:
    from training.data import iter_source

    source = _training_source(tmp_path)
    np.savez(Path(source.path) / "b.npz", joints=evil_array(marker, (2,)))
    assert [s.label for s in iter_source(source)] == ["wave"]


# ---------------------------------------------------------------- skeleton files


@pytest.mark.parametrize("key", ["joints", "valid", "fps", "label", "meta_keys"])
def test_interchange_npz_with_objects_is_refused(tmp_path: Path, marker: Path, key: str) -> None:
    path = tmp_path / "clip.npz"
    arrays = {"joints": np.zeros((2, 2, 25, 3), np.float32) + 0.5, "valid": np.ones((2, 2), bool)}
    arrays[key] = evil_array(marker, (2,))
    if key == "meta_keys":  # meta is read only when both halves are there
        arrays["meta_values"] = np.asarray(["a", "b"])
    np.savez(path, **arrays)
    for load in (load_npz, read_skeleton_file):
        with pytest.raises(SkeletonError, match="clip.npz") as info:
            load(path)
        assert "\n" not in str(info.value)


@pytest.mark.parametrize("key", ["x_test", "y_test"])
def test_ctrgcn_npz_with_objects_is_refused(tmp_path: Path, marker: Path, key: str) -> None:
    path = tmp_path / "NTU60_CS.npz"
    arrays = {"x_test": np.ones((1, 4, 150), np.float32), "y_test": np.eye(60, dtype=np.float32)[:1]}
    arrays[key] = evil_array(marker, (1,))
    np.savez(path, **arrays)
    with pytest.raises(SkeletonError, match="NTU60_CS.npz"):
        list(iter_ctrgcn_npz(path))
