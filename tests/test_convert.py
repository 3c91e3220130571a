"""neuron-convert: one-line errors with exit code 2, and real conversions to the interchange file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from pose.convert import assign_slots, main
from pose.skeleton import load_npz
from tests.conftest import shared_path

NTU_CLIP = ("media", "mmaction2_ntu_sample.avi")


def run_cli(*args: str, cache: Path) -> subprocess.CompletedProcess:
    script = Path(sys.executable).with_name("neuron-convert")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "pose.convert"]
    env = dict(os.environ, NEURON_LIVE_CACHE=str(cache))
    return subprocess.run(command + list(args), capture_output=True, text=True, timeout=120, env=env)


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 16 frames of the NTU sample at a third of its size (keeps the test quick)."""
    path = tmp_path_factory.mktemp("clip") / "hug16.avi"
    source = cv2.VideoCapture(str(shared_path(*NTU_CLIP)))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (640, 360))
    for _ in range(16):
        ok, image = source.read()
        assert ok
        writer.write(cv2.resize(image, (640, 360), interpolation=cv2.INTER_AREA))
    writer.release()
    source.release()
    return path


def bad_inputs(tmp_path: Path) -> dict[str, str]:
    data = shared_path(*NTU_CLIP).read_bytes()
    truncated = tmp_path / "truncated.avi"
    truncated.write_bytes(data[: len(data) // 2])
    empty = tmp_path / "empty.avi"
    empty.touch()
    notes = tmp_path / "notes.mp4"
    notes.write_text("not a video\n")
    folder = tmp_path / "no_images"
    folder.mkdir()
    return {
        "truncated": str(truncated),
        "empty": str(empty),
        "not a video": str(notes),
        "no such file": str(tmp_path / "absent.avi"),
        "no images": str(folder),
    }


@pytest.mark.slow
def test_bad_inputs_give_one_error_line_and_exit_code_2(tmp_path: Path) -> None:
    inputs = bad_inputs(tmp_path)
    probe = cv2.VideoCapture(0)
    if not probe.isOpened():
        inputs["camera 0"] = "0"
    probe.release()
    for expected, spec in inputs.items():
        done = run_cli(spec, "-o", str(tmp_path / "out.npz"), cache=tmp_path)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2, (spec, done.stderr)
        assert len(lines) == 1, (spec, done.stderr)
        assert lines[0].startswith("error: ") and expected in lines[0], lines[0]
        assert "Traceback" not in done.stderr
        assert not (tmp_path / "out.npz").exists()


def test_output_folder_and_options_are_checked_first(tmp_path: Path, capsys) -> None:
    out = tmp_path / "missing" / "out.npz"
    assert main([str(tmp_path), "-o", str(out)]) == 2
    assert capsys.readouterr().err.strip() == f"error: {out}: its folder does not exist"
    assert main([str(tmp_path), "-o", str(tmp_path / "out.npz"), "--label", "   "]) == 2
    assert "label" in capsys.readouterr().err


@pytest.mark.slow
def test_converts_a_video(tmp_path: Path, short_clip: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("NEURON_LIVE_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "hug.npz"
    assert main([str(short_clip), "-o", str(out), "--label", "  hugging   other person ", "-q"]) == 0
    assert "wrote" in capsys.readouterr().out
    skeleton = load_npz(out)
    assert skeleton.num_frames == 16
    assert skeleton.fps == pytest.approx(30.0)
    assert skeleton.label == "hugging other person"
    assert skeleton.meta["dataset"] == "neuron-convert"
    assert skeleton.valid.any(axis=1).sum() >= 14  # a person in (nearly) every frame
    observed = skeleton.joints[skeleton.valid]  # (N, 25, 3) in camera space
    assert np.isfinite(observed).all()
    assert np.abs(observed - observed[:, :1]).max() < 2.0  # metres around the hips (joint 0)
    assert np.all((observed[:, 0, 2] > 0.5) & (observed[:, 0, 2] < 8.5))  # in front of the camera


@pytest.mark.slow
def test_converts_an_image_folder(tmp_path: Path, short_clip: Path, monkeypatch) -> None:
    monkeypatch.setenv("NEURON_LIVE_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "frames"
    folder.mkdir()
    source = cv2.VideoCapture(str(short_clip))
    for i in range(6):
        ok, image = source.read()
        assert ok
        cv2.imwrite(str(folder / f"{i:03d}.jpg"), image)
    source.release()
    out = tmp_path / "frames.npz"
    assert main([str(folder), "-o", str(out), "--fps", "15", "--max-persons", "1", "-q"]) == 0
    skeleton = load_npz(out)
    assert skeleton.num_frames == 6 and skeleton.fps == pytest.approx(15.0)
    assert skeleton.label is None
    assert not skeleton.valid[:, 1].any()  # one person asked for, one slot used


def test_slots_go_to_the_longest_tracks_without_overlap() -> None:
    frames: list[dict[int, np.ndarray]] = [{} for _ in range(10)]
    joints = np.zeros((25, 3), np.float32)
    for t in range(10):
        frames[t][1] = joints  # present throughout
    for t in range(5):
        frames[t][2] = joints
    for t in range(6, 10):
        frames[t][3] = joints  # person 2 re-found under a new id
    for t in (2, 3):
        frames[t][4] = joints  # a third body while both slots are taken
    assert assign_slots(frames) == {1: 0, 2: 1, 3: 1}
    assert assign_slots([{}, {}]) == {}
