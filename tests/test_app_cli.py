"""``neuron-live`` as a user runs it: a subprocess, JSON lines on stdout, one-line errors, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from app.demo_motion import script_at
from tests.conftest import ROOT, shared_path

SAMPLE_VIDEO = ("media", "mmaction2_ntu_sample.avi")
WINDOW_SECONDS = 2.2  # what pose.window.SlidingWindow covers by default
LABELS = "hug,wave,sit down,jump,drink water"
JSON_KEYS = {
    "time",
    "frame_time",
    "frame_index",
    "track_id",
    "state",
    "no_action",
    "top",
    "top_k",
    "motion",
    "latency_ms",
    "pose_ms",
    "model_ms",
    "reference",
}


def neuron_live() -> list[str]:
    """The installed console script next to this Python, else the module (same entry point)."""
    script = Path(sys.executable).with_name("neuron-live")
    return [str(script)] if script.exists() else [sys.executable, "-m", "app.cli"]


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 240, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*neuron_live(), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env if env is not None else os.environ.copy(),
        cwd=cwd,
    )


@pytest.fixture(scope="module")
def random_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small randomly initialised model: the app's path is tested, not the model's accuracy."""
    import torch

    from neuron_core.checkpoint import CheckpointMeta, save_checkpoint
    from neuron_core.config import ModelConfig
    from neuron_core.model import NeuronModel

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "random.pt"
    model = NeuronModel(ModelConfig.preset("slim"))
    save_checkpoint(path, model, CheckpointMeta(text_encoder="minilm-l6-v2", text_dim=384))
    return path


@pytest.fixture
def isolated_env(tmp_path: Path) -> dict[str, str]:
    env = os.environ.copy()
    env["NEURON_LIVE_CONFIG_DIR"] = str(tmp_path / "config")
    env["HF_HUB_OFFLINE"] = "1"
    return env


def parse_lines(stdout: str) -> list[dict]:
    lines = [json.loads(line) for line in stdout.splitlines()]
    for line in lines:
        assert set(line) == JSON_KEYS
        assert isinstance(line["frame_index"], int) and line["frame_time"] >= 0
        assert line["state"] in ("action", "still", "absent")
        assert line["no_action"] == (line["state"] != "action")
        assert (line["top"] is None) == line["no_action"] or line["state"] == "absent"
        assert line["latency_ms"] > 0 and line["model_ms"] >= 0 and line["pose_ms"] >= 0
        scores = [entry["score"] for entry in line["top_k"]]
        assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    return lines


def assert_one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    for word in words:
        assert word in errors[0]
    return errors[0]


@pytest.mark.slow
def test_headless_video_prints_json_lines_and_records_them(
    random_checkpoint: Path, isolated_env: dict[str, str], tmp_path: Path
) -> None:
    video = shared_path(*SAMPLE_VIDEO)
    record = tmp_path / "run.jsonl"
    args = ["--headless", "--video", str(video), "--fast", "--labels", LABELS, "--top-k", "3"]
    result = run_cli(*args, "--checkpoint", str(random_checkpoint), "--record", str(record), env=isolated_env)
    assert result.returncode == 0, result.stderr
    lines = parse_lines(result.stdout)
    # 72 frames; a window from 1 s of history on, every 4 frames: about 10 per person found.
    assert len(lines) >= 8
    assert all(len(line["top_k"]) == 3 for line in lines if line["state"] != "absent")
    assert {e["label"] for line in lines for e in line["top_k"]} <= set(LABELS.split(","))
    persons = [line for line in lines if line["track_id"] is not None]
    assert persons and all(line["pose_ms"] > 0 for line in persons)  # MediaPipe ran on the frames
    assert max(line["frame_index"] for line in lines) >= 64
    assert record.read_text(encoding="utf-8").splitlines() == result.stdout.splitlines()


@pytest.mark.slow
def test_headless_replays_a_real_ntu_skeleton(
    random_checkpoint: Path, isolated_env: dict[str, str], tmp_path: Path
) -> None:
    readers = pytest.importorskip("pose.readers", reason="pose.readers (worker 'readers') is not available")
    from pose.skeleton import save_npz

    raw = shared_path("ntu_skeletons", "S015C003P007R001A023.skeleton")
    skeleton = readers.read_ntu_skeleton(raw)
    interchange = tmp_path / "a023.npz"
    save_npz(skeleton, interchange)
    args = ["--headless", "--skeleton-file", str(interchange), "--fast", "--labels", LABELS]
    result = run_cli(*args, "--checkpoint", str(random_checkpoint), env=isolated_env)
    assert result.returncode == 0, result.stderr
    lines = parse_lines(result.stdout)
    frames = skeleton.num_frames
    assert len(lines) == len(range(31, frames, 4))  # every window of the one person, in order
    assert all(line["pose_ms"] == 0 and line["track_id"] == 0 for line in lines)  # no pose stage
    assert {line["reference"] for line in lines} == {skeleton.label}


def test_missing_camera_is_one_line_and_exit_2(isolated_env: dict[str, str]) -> None:
    assert_one_line_error(run_cli("--headless", "--camera", "7", env=isolated_env, timeout=60), "camera 7")


def test_text_file_as_video_is_one_line_and_exit_2(isolated_env: dict[str, str], tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a video\n", encoding="utf-8")
    line = assert_one_line_error(run_cli("--headless", "--video", str(text), env=isolated_env, timeout=60))
    assert str(text) in line


def test_broken_checkpoint_is_one_line_and_exit_2(isolated_env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"this is not a checkpoint")
    args = ("--headless", "--demo", "--checkpoint", str(bad))
    assert_one_line_error(run_cli(*args, env=isolated_env, timeout=120), str(bad))
    missing = tmp_path / "nothing.pt"
    args = ("--headless", "--demo", "--checkpoint", str(missing))
    assert_one_line_error(run_cli(*args, env=isolated_env, timeout=120), str(missing))


def test_no_display_without_headless_says_how_to_run(isolated_env: dict[str, str]) -> None:
    env = {
        k: v for k, v in isolated_env.items() if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")
    }
    line = assert_one_line_error(run_cli("--demo", env=env, timeout=60))
    assert "--headless" in line and "QT_QPA_PLATFORM=offscreen" in line and "xvfb" in line


def test_help_reads_well(isolated_env: dict[str, str]) -> None:
    result = run_cli("--help", env=isolated_env, timeout=60)
    assert result.returncode == 0
    assert "examples:" in result.stdout and "--skeleton-file FILE" in result.stdout


# Each scripted motion and an action it clearly is not (upper body against lower body and back).
UNRELATED = {
    "wave": "sit down",
    "raise hands": "kick",
    "clap hands": "kick",
    "squat": "wave",
    "walk": "clap hands",
    "jump": "clap hands",
    "bow": "wave",
    "kick": "wave",
}


def pair_win_rates(lines: list[dict], pairs: dict[str, str]) -> dict[str, float]:
    """Per scripted motion, how often its own label ranks above the unrelated one.

    Only windows well inside a motion count: the first window-length of each still holds the
    motion before it.
    """
    wins: dict[str, list[bool]] = defaultdict(list)
    for line in lines:
        ref = line["reference"]
        if ref in pairs and script_at(line["frame_time"])[1] > WINDOW_SECONDS:
            order = [entry["label"] for entry in line["top_k"]]
            wins[ref].append(order.index(ref) < order.index(pairs[ref]))
    return {ref: sum(w) / len(w) for ref, w in wins.items()}


@pytest.mark.slow
def test_demo_ranks_the_scripted_motion_above_unrelated_actions(isolated_env: dict[str, str]) -> None:
    from neuron_core.checkpoint import DEFAULT_CHECKPOINT

    if not Path(DEFAULT_CHECKPOINT).exists():
        pytest.skip(f"the trained default model {DEFAULT_CHECKPOINT} is not there yet (training worker)")
    labels = sorted(set(UNRELATED) | set(UNRELATED.values()))
    args = ["--headless", "--demo", "--fast", "--labels", ",".join(labels), "--top-k", str(len(labels))]
    result = run_cli(*args, env=isolated_env)
    assert result.returncode == 0, result.stderr
    rates = pair_win_rates(parse_lines(result.stdout), UNRELATED)
    assert set(rates) == set(UNRELATED)
    assert rates["wave"] > 0.5, rates
    assert sum(rate > 0.5 for rate in rates.values()) >= 6, rates
