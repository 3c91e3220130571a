"""``--output``: the annotated video decodes, has the source's frames at its rate, and is drawn on;
an output that cannot be written is one ``error:`` line before anything runs."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from app.cli import main
from app.pipeline import Prediction
from app.video_writer import AnnotatedVideoWriter, VideoOutputError, check_output, draw
from pose.estimator import PersonPose, PoseResult
from pose.sources import Frame
from tests.conftest import shared_path
from tests.test_app_cli import LABELS, SAMPLE_VIDEO, random_checkpoint  # noqa: F401 (a shared fixture)


def _frames(path: Path) -> tuple[list[np.ndarray], float]:
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames, fps


def _person(track: int) -> PersonPose:
    xy = np.stack([np.linspace(0.3, 0.7, 25), np.linspace(0.2, 0.9, 25)], 1).astype(np.float32)
    return PersonPose(track, np.zeros((25, 3), np.float32), xy, 1.0)


def test_draw_puts_skeleton_id_and_ranking_on_a_copy() -> None:
    image = np.zeros((360, 480, 3), np.uint8)
    pred = Prediction(0, 0.0, 0.0, 1, [("wave", 0.7), ("jump", 0.2)], "wave", "action", 0.3, 1.0, 1.0, 1.0)
    out = draw(image, PoseResult(0, 0.0, [_person(1)]), {1: pred})
    assert not image.any()  # the source frame is untouched
    assert out.shape == image.shape and out.any()
    assert out[:60, :240].any()  # the ranking panel, top left
    bare = draw(image, PoseResult(0, 0.0, [_person(1)]), {})
    assert (out != bare).any()  # the ranking adds to the skeleton alone
    assert not draw(image, None, {1: pred}).any()  # nobody found: nothing drawn


def test_an_output_that_cannot_be_written_fails_early(tmp_path: Path) -> None:
    with pytest.raises(VideoOutputError, match="does not exist"):
        check_output(tmp_path / "missing" / "out.mp4")
    with pytest.raises(VideoOutputError, match="is a folder"):
        check_output(tmp_path)
    check_output(tmp_path / "fine.mp4")
    assert not (tmp_path / "fine.mp4").exists()  # the probe leaves nothing behind


def test_a_live_source_keeps_its_rate_when_frames_were_skipped(tmp_path: Path) -> None:
    """A camera's frames the pose stage skipped are filled with the previous one: real time is kept."""
    out = tmp_path / "live.avi"
    writer = AnnotatedVideoWriter(out, fps=10.0, live=True)
    shades = (40, 120, 200)
    for t, shade in zip((100.0, 100.1, 100.5), shades, strict=True):
        writer.write(Frame(np.full((48, 64, 3), shade, np.uint8), 0, t), PoseResult(0, t))
    writer.close()
    frames, fps = _frames(out)
    assert fps == pytest.approx(10.0) and writer.frames == len(frames) == 6
    nearest = [min(shades, key=lambda shade: abs(f.mean() - shade)) for f in frames]
    assert nearest == [40, 120, 120, 120, 120, 200]  # the second frame held for the 0.4 s skipped


@pytest.mark.slow
def test_annotated_video_has_the_source_frames_at_its_rate_and_draws_on_them(
    random_checkpoint: Path,  # noqa: F811 (the shared fixture imported above)
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys,
) -> None:
    monkeypatch.setenv("NEURON_LIVE_CONFIG_DIR", str(tmp_path / "config"))
    video = shared_path(*SAMPLE_VIDEO)
    out = tmp_path / "annotated.mp4"
    code = main(["--headless", "--video", str(video), "--output", str(out), "--labels", LABELS,
                 "--checkpoint", str(random_checkpoint), "--backend", "torch"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    source, source_fps = _frames(video)
    written, fps = _frames(out)
    assert len(written) == len(source) == 72
    assert fps == pytest.approx(source_fps, abs=0.01)
    assert written[0].shape == source[0].shape
    # Drawn on: against the same frames merely re-encoded (the codec's own changes), the written
    # frames have many strongly changed pixels (skeletons) on nearly every frame (pose finds a person
    # in most of the 72) and, once rankings exist, in the ranking panel at the top left.
    plain = tmp_path / "plain.mp4"
    writer = cv2.VideoWriter(str(plain), cv2.VideoWriter_fourcc(*"mp4v"), source_fps, source[0].shape[1::-1])
    for frame in source:
        writer.write(frame)
    writer.release()
    reencoded, _ = _frames(plain)

    def strong(a: np.ndarray, b: np.ndarray) -> int:
        return int((np.abs(a.astype(int) - b.astype(int)).max(axis=2) > 80).sum())

    codec = max(strong(r, s) for r, s in zip(reencoded, source, strict=True))
    drawn = [strong(w, s) for w, s in zip(written, source, strict=True)]
    assert sum(d > 10 * codec + 500 for d in drawn) >= 0.9 * len(drawn), (codec, drawn)
    panel = strong(written[-1][:200, :600], source[-1][:200, :600])
    assert panel > 10 * codec + 500, (codec, panel)


def test_bad_output_is_one_error_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("NEURON_LIVE_CONFIG_DIR", str(tmp_path / "config"))
    video = shared_path(*SAMPLE_VIDEO)
    code = main(["--headless", "--video", str(video), "--output", str(tmp_path / "nope" / "x.mp4")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and "does not exist" in err and len(err.splitlines()) == 1
    code = main(["--headless", "--demo", "--output", str(tmp_path / "x.mp4")])
    assert code == 2 and "--output" in capsys.readouterr().err
    code = main(["--headless", "--video", str(video), "--output", str(tmp_path / "x.mkv")])
    assert code == 2 and ".mp4" in capsys.readouterr().err
    code = main(["--headless", "--video", str(video), "--loop", "--output", str(tmp_path / "x.mp4")])
    assert code == 2 and "--loop" in capsys.readouterr().err
