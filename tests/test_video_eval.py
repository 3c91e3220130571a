"""The video evaluation command: the app's live path on a real labelled clip, and its detections cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app import video_eval
from app.cli import main as cli_main
from pose.skeleton import load_npz
from tests.conftest import shared_path

LABELS = "falling,walking,sitting down,waving one hand,doing squats"


@pytest.fixture
def detections_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private cache for detections (the pose bundle stays in the user's cache: it is costly)."""
    monkeypatch.setattr(video_eval, "cache_dir", lambda: tmp_path / "cache")
    return tmp_path / "cache"


@pytest.mark.slow
def test_real_clip_scored_then_rescored_from_the_cache(
    tmp_path: Path, detections_cache: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    clip = shared_path("videos", "21_falling_urfd.avi")  # 40 frames, one person falling
    argv = [
        "evaluate-videos", "--videos", str(clip), "--truth-label", "falling", "--labels", LABELS,
        "--backend", "torch", "--device", "cpu", "--no-progress",
    ]  # fmt: skip
    assert cli_main([*argv, "--out", str(tmp_path / "first")]) == 0
    first = json.loads((tmp_path / "first" / "video_eval.json").read_text())
    assert first["timing"]["cache_hits"] == 0 and first["timing"]["frames"] == 40
    assert list(detections_cache.glob("video_detections/*.npz"))
    row = first["clips"][0]
    # MediaPipe finds the person (it loses them on the floor): a prediction every 4 frames once 1 s
    # of history exists, at 15 fps.
    assert row["predictions"] >= 3 and row["absent"] < 0.5
    assert 1 <= row["mean_rank"] <= 5
    assert row["most_frequent"] in [*LABELS.split(","), video_eval.STILL]
    assert sum(row["counts"].values()) == row["predictions"]
    for name in ("video_eval.json", "video_eval.md", "confusion.png"):
        assert (tmp_path / "first" / name).stat().st_size > 0

    def no_pose(*args, **kwargs):
        raise AssertionError("the pose stage ran although the detections were cached")

    monkeypatch.setattr(video_eval, "detect_video", no_pose)
    second_argv = [*argv, "--out", str(tmp_path / "second"), "--snapshots", "2"]
    reference = tmp_path / "live_reference.npy"
    assert cli_main([*second_argv, "--export-skeletons", str(tmp_path / "skeletons"),
                     "--live-reference-out", str(reference)]) == 0  # fmt: skip
    live = np.load(reference)  # the mean live window of the clip, per step, for export --live-reference
    assert live.shape == (6, 384) and np.isfinite(live).all() and 0 < np.linalg.norm(live, axis=1).max() <= 1
    assert (tmp_path / "second" / "persons_21_falling_urfd.png").stat().st_size > 0
    exported = load_npz(tmp_path / "skeletons" / "21_falling_urfd.npz")
    assert exported.label == "falling" and exported.valid[:, 0].sum() >= 30
    second = json.loads((tmp_path / "second" / "video_eval.json").read_text())
    assert second["timing"]["cache_hits"] == 1
    # The replay goes through the same pose stage, windows and model: the same predictions.
    assert second["clips"] == first["clips"]
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["cache_hits"] == 1


def test_detections_survive_the_cache_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    pose = (rng.normal(size=(33, 3)).astype(np.float32), rng.uniform(size=(33, 4)).astype(np.float32))
    frames = [[pose], [], [pose, pose]]
    shifts = np.array([[np.nan, np.nan], [0.01, -0.002], [0.0, 0.0]])  # the first frame has none
    saved = video_eval.Detections(
        "tasks", 25.0, (360, 640), np.arange(3) / 25.0, np.array([0, 40, 80]), frames, shifts
    )
    saved.save(tmp_path / "d.npz")
    loaded = video_eval.Detections.load(tmp_path / "d.npz")
    assert [len(f) for f in loaded.frames] == [1, 0, 2]
    assert loaded.size == (360, 640) and loaded.backend == "tasks"
    np.testing.assert_array_equal(loaded.frames[2][1][1], pose[1])
    replay = video_eval.RecordedDetector(loaded)
    assert len(replay.detect(np.zeros((1, 1, 3), np.uint8), 80)) == 2 and replay.missed == 0
    assert replay.detect(np.zeros((1, 1, 3), np.uint8), 81) == [] and replay.missed == 1
    # The camera's motion as it was measured, by timestamp (None where it was not known).
    blank = np.zeros((1, 1, 3), np.uint8)
    assert replay.shift(blank, 0, []) is None and replay.shift(blank, 81, []) is None
    np.testing.assert_array_equal(replay.shift(blank, 40, []), [0.01, -0.002])


def clip_row(truth: str, counts: dict[str, int], ranks: list[int]) -> dict:
    shown = [video_eval.Shown(label, None, 1) for label, n in counts.items() for _ in range(n)]
    for s, r in zip(shown, ranks, strict=False):
        s.rank = r
    return video_eval.clip_summary(video_eval.Clip(Path(f"{truth}.mp4"), truth), shown)


def test_summary_balances_classes_and_counts_still_as_wrong() -> None:
    clips = [
        clip_row("walk", {"walk": 3, "run": 1}, [1, 1, 1, 2]),  # top-1 0.75, top-5 1
        clip_row("walk", {"walk": 1, video_eval.STILL: 3}, [1, 1, 9, 9]),  # still counts as wrong
        clip_row("run", {"walk": 4}, [6, 6, 6, 6]),  # top-1 0, top-5 0
    ]
    assert [c["most_frequent"] for c in clips] == ["walk", video_eval.STILL, "walk"]
    assert clips[1]["top1"] == 0.25 and clips[1]["top5"] == 0.5 and clips[1]["mean_rank"] == 5.0
    s = video_eval.summarise(clips, ["walk", "run"])
    assert s["clip_accuracy"] == pytest.approx(1 / 3, abs=1e-4)
    # Classes weigh the same whatever their clip count: walk (0.75 + 0.25) / 2, run 0.
    assert s["class_balanced_top1"] == pytest.approx(0.25)
    assert s["class_balanced_top5"] == pytest.approx((0.75 + 0.0) / 2)
    assert s["confusion"]["rows"] == ["walk", "run"]
    assert s["confusion"]["counts"] == [[4, 1, 3, 0], [4, 0, 0, 0]]


def test_user_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    video = tmp_path / "clip.avi"
    video.write_bytes(b"not a video")
    assert cli_main(["evaluate-videos", "--videos", str(video), "--out", str(tmp_path / "o")]) == 2
    assert (
        capsys.readouterr().err.strip() == "error: a single video needs --truth-label (the action it shows)"
    )
    argv = ["evaluate-videos", "--videos", str(video), "--truth-label", "jump", "--labels", "walk,run"]
    assert cli_main(argv) == 2
    assert capsys.readouterr().err.strip() == "error: true label(s) not among --labels: jump"
    (tmp_path / "labels.tsv").write_text("file\tlabel\nmissing.mp4\twalk\n")
    assert cli_main(["evaluate-videos", "--videos", str(tmp_path)]) == 2
    assert "missing.mp4 not found" in capsys.readouterr().err


def test_the_live_reference_counts_every_clip_once() -> None:
    """Each clip's mean unit window, then their mean: a long clip does not outweigh a short one, a
    clip without windows is skipped, and none at all is one clear error."""
    long_clip = np.tile(np.array([2.0, 0.0], np.float32), (100, 6, 1))  # unit (1, 0) after scaling
    short_clip = np.tile(np.array([0.0, 3.0], np.float32), (2, 6, 1))  # unit (0, 1)
    reference = video_eval.live_reference([long_clip, np.zeros((0, 6, 2), np.float32), short_clip])
    np.testing.assert_allclose(reference, np.tile([0.5, 0.5], (6, 1)))
    with pytest.raises(video_eval.VideoEvalError, match="no windows"):
        video_eval.live_reference([])
