"""The shared base: one error type, one quoting of library errors, folders, device names, no heavy imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from neuron_base.devices import check_device, parse_device
from neuron_base.errors import ConfigError, NeuronLiveError, one_line
from neuron_base.paths import REPO_ROOT, cache_dir, shared_data_dir
from tests.conftest import ROOT


def test_every_domain_error_shares_one_base() -> None:
    import app.config
    import neuron_core.errors as core
    import pose.errors as pose
    import training.config

    for cls in (
        core.NeuronCoreError, core.CheckpointError, core.LabelError, core.BackendError,
        pose.SkeletonError, pose.SourceError, pose.PoseError, ConfigError,
    ):  # fmt: skip
        assert issubclass(cls, NeuronLiveError), cls
    assert app.config.ConfigError is training.config.ConfigError is ConfigError
    assert pose.NeuronLiveError is core.NeuronLiveError is NeuronLiveError
    assert pose.one_line is core.one_line is one_line


def test_one_line_names_the_type_and_keeps_the_first_line_only() -> None:
    assert one_line(ValueError("bad value\n  more detail")) == "ValueError: bad value"
    assert one_line(KeyError()) == "KeyError"
    long = one_line(OSError("x" * 500), limit=50)
    assert len(long) == 50 and long.startswith("OSError: xx") and long.endswith("...")


def test_cache_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NEURON_LIVE_CACHE", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("NEURON_LIVE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "neuron-live"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == Path.home() / ".cache" / "neuron-live"


def test_shared_data_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert REPO_ROOT == ROOT
    monkeypatch.setenv("NEURON_SHARED_DATA", str(tmp_path))
    assert shared_data_dir() == tmp_path
    monkeypatch.delenv("NEURON_SHARED_DATA")
    assert shared_data_dir() == ROOT.parent / "shared" / "data"


@pytest.mark.parametrize(
    ("spec", "parsed"),
    [("auto", ("auto", None)), ("CPU", ("cpu", None)), (" cuda ", ("cuda", None)), ("cuda:1", ("cuda", 1))],
)
def test_device_names_are_parsed_once(spec: str, parsed: tuple) -> None:
    assert parse_device(spec) == parsed


@pytest.mark.parametrize("spec", ["gpu", "cuda:", "cuda:x", "mps", ""])
def test_unknown_device_names_are_refused_with_the_accepted_forms(spec: str) -> None:
    with pytest.raises(ValueError, match="use auto, cpu, cuda or cuda:<index>"):
        check_device(spec)


def test_settings_refuse_a_bad_device_in_one_line() -> None:
    from app.config import LiveConfig
    from training.config import TrainConfig

    assert check_device("CUDA:0") == "cuda:0"
    with pytest.raises(ConfigError, match="--device must be auto, cpu, cuda or cuda:<index>"):
        LiveConfig(device="gpu").validate()
    cfg = TrainConfig()
    cfg.device = "gpu"
    with pytest.raises(ConfigError, match="device must be"):
        cfg.validate()


def test_the_base_imports_nothing_heavy() -> None:
    code = (
        "import sys, neuron_base.errors, neuron_base.atomic, neuron_base.paths, neuron_base.devices\n"
        "heavy = {'torch', 'numpy', 'PyQt6', 'cv2', 'mediapipe', 'yaml'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
