"""Faults survived: a source that stalls, delivers corrupt frames or raises; a pose stage that fails on a
frame; a model that fails on a window. The pipeline keeps running, says so (a status the GUI shows and
the log records), counts what it lost, and goes on with the next frame or window.

Stand-ins (no camera, no MediaPipe, no torch) drive the real ``app.pipeline.Pipeline`` through the
constructor's own hooks: ``source``, ``estimator``, ``recognizer`` and ``reopen``.
"""

from __future__ import annotations

import logging
import threading
import time

import numpy as np
import pytest

import app.capture as capture_module
import app.status as status_module
from app.demo_motion import DemoMotion
from app.pipeline import Pipeline, Prediction, Status
from app.synthetic import project
from neuron_core.errors import ModelError
from pose.errors import PoseError, SourceError
from pose.estimator import PersonPose, PoseResult
from pose.sources import Frame, FrameSource
from tests.doubles import FakeRecognizer

GOOD = np.zeros((48, 64, 3), np.uint8)


class Recognizer(FakeRecognizer):
    """The shared stand-in with uniform scores; ``fail`` maps a call number to the error it raises."""

    def __init__(self, labels: list[str], fail: dict[int, BaseException] | None = None) -> None:
        super().__init__(labels, fail=fail, uniform=True)


class Estimator:
    """The demo person in every frame; raises ``error`` on the frames ``failing`` picks."""

    def __init__(self, failing=lambda index: False, error: BaseException | None = None) -> None:
        self.failing, self.error = failing, error or ValueError("landmark graph returned garbage")
        self.motion = DemoMotion()
        self.seen: list[int] = []

    def process(self, frame: Frame) -> PoseResult:
        assert frame.image.dtype == np.uint8 and frame.image.ndim == 3, "a corrupt frame reached pose"
        self.seen.append(frame.index)
        if self.failing(frame.index):
            raise self.error
        result = PoseResult(frame.index, frame.t_capture, t_media=frame.t_media, pose_ms=1.0)
        joints, _ = self.motion.frame(1000 + frame.index)
        result.persons = [PersonPose(0, joints, project(joints), 1.0)]
        return result

    def close(self) -> None:
        pass


class ScriptedSource(FrameSource):
    """Frames 0..count-1 at ``fps``; ``script(index)`` may return a replacement (a corrupt frame, any
    object), raise, or stall; a stall waits on ``resume`` and honours ``interrupt``. With ``media``
    the frames carry a recording's time stamps (30 per second of video), as a video file's do."""

    def __init__(
        self,
        count: int,
        script=lambda index: None,
        fps: float = 200.0,
        name: str = "test camera",
        media=False,
    ) -> None:
        super().__init__()
        self.count, self.script, self.fps, self.name, self.media = count, script, fps, name, media
        self.index = 0
        self.resume = threading.Event()

    def read(self):
        if self.index >= self.count:
            return None
        index, self.index = self.index, self.index + 1
        self._wake.wait(1.0 / self.fps)
        special = self.script(index)
        if isinstance(special, str) and special == "stall":
            while not self.resume.is_set() and not self._wake.is_set():
                self.resume.wait(0.02)
        elif special is not None:
            return special
        return Frame(GOOD.copy(), index, time.monotonic(), index / 30.0 if self.media else None)


def wait_for(condition, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def finish(pipeline: Pipeline, timeout: float = 30.0) -> Pipeline:
    assert pipeline.wait(timeout), "the pipeline did not finish"
    assert pipeline.stop()
    return pipeline


# ---------------------------------------------------------------- the source


CORRUPT = {
    3: Frame(None, 3, 0.0),  # type: ignore[arg-type] # no image at all
    7: Frame(np.zeros((48, 64), np.uint8), 7, 0.0),  # grey, not BGR
    11: Frame(np.zeros((48, 64, 3), np.float32), 11, 0.0),  # wrong dtype
    13: Frame(np.zeros((0, 64, 3), np.uint8), 13, 0.0),  # empty
    17: np.zeros((48, 64, 3), np.uint8),  # an image, not a Frame
    19: "garbage",
}


def test_corrupt_frames_are_dropped_and_reported() -> None:
    preds: list[Prediction] = []
    estimator = Estimator()
    source = ScriptedSource(150, lambda i: CORRUPT.get(i % 20), media=True)
    pipeline = finish(
        Pipeline(
            source,
            Recognizer(["wave", "jump"]),
            estimator,
            realtime=False,
            lossless=True,
            sinks=[preds.append],
        ).start()
    )
    corrupt = sum(1 for i in range(150) if i % 20 in CORRUPT)
    assert pipeline.error is None and pipeline.ended
    assert pipeline.faults() == {"capture": corrupt}
    assert len(estimator.seen) == 150 - corrupt  # every good frame, and only those, reached pose
    assert preds and all(p.scores for p in preds if p.track_id is not None)
    warnings = [s for s in pipeline.poll_status() if s.kind == "warning"]
    assert warnings and "test camera" in warnings[0].message and "still running" in warnings[0].message


@pytest.mark.parametrize(
    "error",
    [RuntimeError("driver crashed"), OSError(5, "Input/output error"), SourceError("usb reset")],
    ids=["RuntimeError", "OSError", "SourceError"],
)
def test_a_source_raising_mid_run_is_reported_and_retried(error: BaseException) -> None:
    preds: list[Prediction] = []
    opened: list[ScriptedSource] = []

    def fail_at_30(index: int):
        if index == 30:
            raise error

    def reopen() -> FrameSource:
        opened.append(ScriptedSource(10_000))
        return opened[-1]

    pipeline = Pipeline(
        ScriptedSource(10_000, fail_at_30),
        Recognizer(["wave"]),
        Estimator(),
        reopen=reopen,
        retry=True,
        sinks=[preds.append],
    ).start()
    try:
        wait_for(lambda: opened and opened[-1].index > 40)
        assert pipeline.running, "the pipeline stopped on a source fault"
        statuses = pipeline.poll_status()
    finally:
        assert pipeline.stop()
    kinds = [s.kind for s in statuses]
    assert kinds[:2] == ["camera_lost", "camera_back"], statuses
    assert str(error).split(": ")[-1] in statuses[0].message or "Input/output" in statuses[0].message
    assert pipeline.error is None and pipeline.stats().frames > 40


def test_a_recording_that_raises_ends_with_one_line_not_a_crash() -> None:
    """No retry (a file): the stream ends with a SourceError naming the source; what was read is scored."""
    preds: list[Prediction] = []

    def fail_at_100(index: int):
        if index == 100:
            raise RuntimeError("decoder state corrupt\nat packet 4411")

    pipeline = finish(
        Pipeline(
            ScriptedSource(1000, fail_at_100, name="clip.mp4", media=True),
            Recognizer(["wave"]),
            Estimator(),
            realtime=False,
            lossless=True,
            sinks=[preds.append],
        ).start()
    )
    assert isinstance(pipeline.error, SourceError)
    assert str(pipeline.error) == "clip.mp4: RuntimeError: decoder state corrupt"
    assert preds and max(p.frame_index for p in preds) >= 90


def test_a_source_that_stops_delivering_is_reported_while_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(capture_module, "STALL_S", 0.3)
    preds: list[Prediction] = []
    seen: list[Status] = []
    source = ScriptedSource(100_000, lambda i: "stall" if i == 80 else None)
    pipeline = Pipeline(source, Recognizer(["wave"]), Estimator(), sinks=[preds.append]).start()

    def said(kind: str) -> bool:
        seen.extend(pipeline.poll_status())  # each status is handed out once: keep them all
        return any(s.kind == kind for s in seen)

    try:
        wait_for(lambda: source.index > 80)  # now blocked inside read()
        wait_for(lambda: said("camera_lost"))
        assert pipeline.running
        stalled_at = len(preds)
        source.resume.set()
        wait_for(lambda: said("camera_back"))
        wait_for(lambda: len(preds) > stalled_at + 3)  # predictions go on after the stall
    finally:
        assert pipeline.stop()
    lost = [s for s in seen if s.kind == "camera_lost"]
    assert len(lost) == 1 and "no frames" in lost[0].message and "test camera" in lost[0].message


def test_a_paused_pipeline_is_not_reported_as_stalled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(capture_module, "STALL_S", 0.2)
    pipeline = Pipeline(ScriptedSource(100_000), Recognizer(["wave"]), Estimator()).start()
    try:
        wait_for(lambda: pipeline.stats().frames > 10)
        pipeline.pause()
        time.sleep(0.8)
        pipeline.resume()
        wait_for(lambda: pipeline.stats().frames > 40)
        kinds = [s.kind for s in pipeline.poll_status()]
    finally:
        assert pipeline.stop()
    assert "camera_lost" not in kinds


# ---------------------------------------------------------------- the pose stage


def test_pose_failing_on_some_frames_drops_only_those(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(status_module, "FAULT_REPORT_S", 60.0)  # however slow the machine, one report
    preds: list[Prediction] = []
    estimator = Estimator(failing=lambda index: index % 7 == 3)
    with caplog.at_level(logging.WARNING, logger="app.status"):
        pipeline = finish(
            Pipeline(
                ScriptedSource(200, media=True),
                Recognizer(["wave", "jump"]),
                estimator,
                realtime=False,
                lossless=True,
                sinks=[preds.append],
            ).start()
        )
    failed = sum(1 for i in range(200) if i % 7 == 3)
    assert pipeline.error is None and pipeline.ended
    assert pipeline.faults() == {"pose": failed}
    assert pipeline.stats().frames == 200 - failed and len(estimator.seen) == 200
    assert preds and max(p.frame_index for p in preds) >= 190  # frames after the failures were used
    # Reported, but not once per frame: one warning for a burst within FAULT_REPORT_S.
    reports = [r for r in caplog.records if "pose:" in r.getMessage()]
    assert len(reports) == 1 and "ValueError" in reports[0].getMessage()


def test_a_broken_estimator_stops_with_its_own_message() -> None:
    """PoseError means the estimator itself failed, not one frame: that ends the run, in one line."""
    error = PoseError("MediaPipe pose graph could not be started")
    pipeline = finish(
        Pipeline(ScriptedSource(50), Recognizer(["wave"]), Estimator(lambda i: i == 5, error)).start()
    )
    assert pipeline.error is error
    assert [s.message for s in pipeline.poll_status() if s.kind == "error"] == [str(error)]


# ---------------------------------------------------------------- the model


def test_a_model_error_on_one_window_is_logged_and_the_next_is_scored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    preds: list[Prediction] = []
    recognizer = Recognizer(
        ["wave", "jump"],
        fail={2: RuntimeError("CUDA error: an illegal memory access"), 4: ModelError("bad shape")},
    )
    with caplog.at_level(logging.WARNING, logger="app.status"):
        pipeline = finish(
            Pipeline(
                ScriptedSource(160, media=True),
                recognizer,
                Estimator(),
                realtime=False,
                lossless=True,
                sinks=[preds.append],
            ).start()
        )
    assert pipeline.error is None and pipeline.ended
    assert pipeline.faults() == {"model": 2}
    assert recognizer.calls > 4 and recognizer.scored > 0  # calls after each failure were made and used
    assert len([p for p in preds if p.track_id is not None]) == recognizer.scored
    assert any("model:" in r.getMessage() and "CUDA error" in r.getMessage() for r in caplog.records)


def test_scores_of_the_wrong_shape_count_as_a_model_fault() -> None:
    class Wrong(Recognizer):
        def scores(self, windows: np.ndarray) -> np.ndarray:
            self.calls += 1
            return np.zeros((len(windows), 99), np.float32)

    pipeline = finish(
        Pipeline(
            ScriptedSource(120, media=True), Wrong(["wave"]), Estimator(), realtime=False, lossless=True
        ).start()
    )
    assert pipeline.error is None and pipeline.faults()["model"] >= 1


# ---------------------------------------------------------------- on screen


@pytest.mark.slow
def test_the_window_shows_a_warning_and_keeps_playing(qtbot) -> None:
    pytest.importorskip("pytestqt", reason="pytest-qt is not installed")
    from app.gui import MainWindow, PredictionInbox

    inbox = PredictionInbox()
    source = ScriptedSource(100_000, fps=60.0)
    pipeline = Pipeline(source, Recognizer(["wave"]), Estimator(lambda i: i == 20), sinks=[inbox])
    window = MainWindow(pipeline, inbox, ["wave"], kind="camera")
    qtbot.addWidget(window)
    window.show()
    window.start()
    try:
        qtbot.waitUntil(lambda: "Warning: pose" in window.statusBar().currentMessage(), timeout=15_000)
        frames = pipeline.stats().frames
        qtbot.waitUntil(lambda: pipeline.stats().frames > frames + 10, timeout=15_000)
        assert pipeline.running and window.status_text is None
    finally:
        window.close()
        pipeline.stop()
