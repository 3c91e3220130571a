"""Bad input found by trying it: recordings too short to score, and labels the text encoder cannot read.

Both used to pass silently (exit code 0 and no output; noise scored as if it meant something).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from neuron_core.checkpoint import CheckpointMeta, save_checkpoint
from neuron_core.config import ModelConfig
from neuron_core.model import NeuronModel
from neuron_core.prompts import foreign_script
from neuron_core.recognizer import ZeroShotRecognizer
from neuron_core.text_encoders import HashingEncoder
from pose.skeleton import Skeleton, save_npz
from tests.test_recognizer import CONFIG, DIM


@pytest.fixture(scope="module")
def hash_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small random model paired with the hashing text encoder: the app's path, quickly."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "random.pt"
    save_checkpoint(
        path, NeuronModel(ModelConfig(**CONFIG)), CheckpointMeta(text_encoder=f"hash-{DIM}", text_dim=DIM)
    )
    return path


def run_cli(args: list[str], checkpoint: Path, capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    from app.cli import main

    code = main(["--headless", "--fast", "--labels", "wave,jump", "--checkpoint", str(checkpoint),
                 "--backend", "torch", *args])  # fmt: skip
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("NEURON_LIVE_CONFIG_DIR", str(tmp_path / "config"))
    # main() configures logging once per process: a handler an earlier in-process run left on a
    # since-closed captured stderr must not stand in for this test's.
    root = logging.getLogger()
    stale = [h for h in root.handlers if type(h) is logging.StreamHandler]
    for handler in stale:
        root.removeHandler(handler)
    yield tmp_path
    for handler in [h for h in root.handlers if type(h) is logging.StreamHandler]:
        root.removeHandler(handler)  # the one this test's run added, on its captured stderr
    for handler in stale:
        root.addHandler(handler)


def one_frame(path: Path, frames: int = 1) -> Path:
    joints = np.zeros((frames, 2, 25, 3), np.float32)
    joints[:, 0] = np.random.default_rng(0).standard_normal((25, 3)) * 0.2
    valid = np.zeros((frames, 2), bool)
    valid[:, 0] = True
    save_npz(Skeleton(joints, valid, fps=30.0), path)
    return path


def test_a_one_frame_recording_says_nothing_was_scored_and_exits_2(
    isolated: Path, hash_checkpoint: Path, capsys: pytest.CaptureFixture
) -> None:
    code, out, err = run_cli(
        ["--skeleton-file", str(one_frame(isolated / "one.npz"))], hash_checkpoint, capsys
    )
    lines = err.strip().splitlines()
    assert code == 2 and out == ""
    assert len(lines) == 1 and lines[0].startswith("error: nothing was scored: "), err
    assert "one.npz is too short (1 frame, 0.03 s)" in lines[0] and "1 s" in lines[0]


def test_a_long_enough_recording_still_exits_0(
    isolated: Path, hash_checkpoint: Path, capsys: pytest.CaptureFixture
) -> None:
    code, out, err = run_cli(
        ["--skeleton-file", str(one_frame(isolated / "two.npz", 60))], hash_checkpoint, capsys
    )
    assert code == 0 and out.strip() and "error" not in err


def test_an_image_renamed_to_mp4_says_nothing_was_scored_and_exits_2(
    isolated: Path, hash_checkpoint: Path, capsys: pytest.CaptureFixture
) -> None:
    cv2 = pytest.importorskip("cv2")
    image = isolated / "photo.png"
    assert cv2.imwrite(str(image), np.full((120, 160, 3), 128, np.uint8))
    fake = image.rename(isolated / "clip.mp4")
    code, out, err = run_cli(["--video", str(fake)], hash_checkpoint, capsys)
    lines = [line for line in err.strip().splitlines() if line.startswith("error")]
    assert code == 2 and out == ""
    assert len(lines) == 1 and lines[0].startswith("error: nothing was scored: "), err
    assert "clip.mp4" in lines[0] and ("too short" in lines[0] or "no frames" in lines[0])


@pytest.mark.parametrize(
    ("label", "script"),
    [("прыжок", "CYRILLIC"), ("跳", "CJK"), ("ジャンプ", "KATAKANA"), ("قفز", "ARABIC"), ("άλμα", "GREEK"),
     ("👋", "no letters"), ("jump up", None), ("sauter à pieds joints", None), ("kick 2", None),
     ("wave your hand, привет", None), ("wave привет", "CYRILLIC")],
)  # fmt: skip
def test_foreign_scripts_are_told_for_english_encoders_only(label: str, script: str | None) -> None:
    assert foreign_script(label, "minilm-l6-v2") == script
    assert foreign_script(label, "openclip:ViT-B-32:openai") == script
    assert foreign_script(label, f"hash-{DIM}") is None  # the test stand-in reads anything


class EnglishEncoder(HashingEncoder):
    """Stands in for MiniLM by name: an English-only encoder."""

    def __init__(self, dim: int) -> None:
        super().__init__(dim)
        self.name = "minilm-l6-v2"


def test_a_label_the_encoder_cannot_read_is_warned_about_once(caplog: pytest.LogCaptureFixture) -> None:
    meta = CheckpointMeta(text_encoder="minilm-l6-v2", text_dim=DIM)
    rec = ZeroShotRecognizer(NeuronModel(ModelConfig(**CONFIG)), meta, EnglishEncoder(DIM), k=2)
    with caplog.at_level(logging.WARNING, logger="neuron_core.recognizer"):
        rec.set_labels(["wave", "прыжок", "跳"])
        rec.set_labels(["прыжок"])
        rec.set_labels(["wave", "прыжок", "跳"])
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2, warnings
    assert "'прыжок' is written in Cyrillic script" in warnings[0] and "noise" in warnings[0]
    assert "'跳' is written in CJK script" in warnings[1]
    assert rec.scores(np.zeros((1, 3, 16, 25, 2), np.float32)).shape == (1, 3)  # still scored
