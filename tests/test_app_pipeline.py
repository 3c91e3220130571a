"""The streaming pipeline with stand-ins for the model and the camera: rates, label changes,
no-action states, camera loss, looping and clean shutdown; and its parts (the stage loop, per-person
scoring, posed frames, the scoring defaults). No Qt, no torch, no MediaPipe."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from app.channels import END, RESET, Channel, stage_loop
from app.config import LiveConfig
from app.demo_motion import DemoMotion
from app.pipeline import Pipeline, Prediction
from app.records import JsonLinesSink
from app.synthetic import DemoSource, SkeletonReplaySource, project
from app.track_scoring import FrameInfo, ScoreSmoother, ScoringSettings, TrackScorer
from pose.errors import SourceError
from pose.estimator import PersonPose, PoseResult
from pose.skeleton import Skeleton
from pose.sources import Frame, FrameSource, PosedFrame
from tests import doubles


class FakeRecognizer(doubles.FakeRecognizer):
    """The shared stand-in, checking that every window is the default contract's (3, 64, 25, 2)."""

    def __init__(self, labels: list[str], delay: float = 0.0) -> None:
        super().__init__(labels, delay=delay, shape=(3, 64, 25, 2))


class FakeCamera(FrameSource):
    """A camera that delivers ``frames`` frames at ``fps`` and then breaks."""

    def __init__(self, frames: int, fps: float = 60.0) -> None:
        super().__init__()
        self.fps, self.name, self.frames, self._index = fps, "fake camera", frames, 0

    def read(self) -> Frame | None:
        if self._index >= self.frames:
            raise SourceError(f"{self.name}: stopped delivering frames")
        self._wake.wait(1 / self.fps)
        self._index += 1
        return Frame(np.zeros((48, 64, 3), np.uint8), self._index - 1, time.monotonic(), None)


class FakeEstimator:
    """Pose from the demo motion, or nobody when ``present`` is false."""

    def __init__(self, present: bool = True) -> None:
        self.present = present
        self.motion = DemoMotion()
        self.closed = False

    def process(self, frame: Frame) -> PoseResult:
        result = PoseResult(frame.index, frame.t_capture, t_media=frame.t_media, pose_ms=1.5)
        if self.present:
            joints, _ = self.motion.frame(1000 + frame.index)
            result.persons = [PersonPose(0, joints, project(joints), 1.0)]
        return result

    def close(self) -> None:
        self.closed = True


def run(pipeline: Pipeline, timeout: float = 30.0) -> Pipeline:
    pipeline.start()
    assert pipeline.wait(timeout), "the pipeline did not finish"
    assert pipeline.stop()
    assert pipeline.error is None, pipeline.error
    return pipeline


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_lossless_run_scores_every_window_in_order() -> None:
    preds: list[Prediction] = []
    recognizer = FakeRecognizer(["wave", "sit down", "jump"])
    pipeline = Pipeline(
        DemoSource(seed=0), recognizer, realtime=False, lossless=True, max_frames=250, sinks=[preds.append]
    )
    run(pipeline)
    # First window after 1 s (30 frames), then one every 4 frames up to frame 250.
    assert len(preds) == len(range(31, 250, 4))
    assert [p.frame_index for p in preds] == sorted(p.frame_index for p in preds)
    assert all(p.latency_ms >= p.model_ms >= 0 and p.track_id == 0 for p in preds)
    assert all([label for label, _ in p.scores] == ["sit down", "wave", "jump"] for p in preds)
    # The script starts with 3 s of standing: the no-action state, then waving with a label.
    assert preds[0].state == "still" and preds[0].top is None and preds[0].reference is None
    assert preds[-1].reference == "wave" and preds[-1].state == "action" and preds[-1].top == "sit down"
    assert pipeline.ended and [s.kind for s in pipeline.poll_status()] == ["ended"]


def test_labels_change_at_the_next_prediction() -> None:
    preds: list[Prediction] = []
    pipeline = Pipeline(DemoSource(seed=0), FakeRecognizer(["wave", "jump"]), sinks=[preds.append]).start()
    try:
        wait_for(lambda: len(preds) >= 2)
        pipeline.set_labels(["wave", "jump", "drink a glass of water"])
        asked = len(preds)
        wait_for(lambda: any("drink a glass of water" in dict(p.scores) for p in preds[asked:]))
        first = next(i for i, p in enumerate(preds) if "drink a glass of water" in dict(p.scores))
        assert first - asked <= 2  # the next prediction, or the one being made when asked
        assert preds[-1].scores[0][0] == "drink a glass of water"
        assert pipeline.labels == ["wave", "jump", "drink a glass of water"]
        pipeline.set_labels(["wave"])
        asked = len(preds)
        wait_for(lambda: len(preds) >= asked + 3)
        assert [label for label, _ in preds[-1].scores] == ["wave"]
    finally:
        assert pipeline.stop()


def test_a_slow_model_lowers_the_prediction_rate_not_the_frame_rate() -> None:
    preds: list[Prediction] = []
    pipeline = Pipeline(DemoSource(seed=0), FakeRecognizer(["wave"], delay=0.4), sinks=[preds.append]).start()
    try:
        time.sleep(3.0)
        stats = pipeline.stats()
    finally:
        assert pipeline.stop()
    assert stats.fps > 20  # the video keeps its 30 fps
    # At most one prediction per 0.4 s model call after the first second (windows at 7.5 Hz).
    assert 1 <= len(preds) <= 7
    assert max(p.latency_ms for p in preds) < 1500  # stale windows were skipped, not queued


def test_stop_is_quick_and_loses_no_recorded_line(tmp_path: Path) -> None:
    preds: list[Prediction] = []
    record = JsonLinesSink.append_to(tmp_path / "rec.jsonl", top_k=2)
    pipeline = Pipeline(
        DemoSource(seed=0), FakeRecognizer(["wave", "jump"], delay=0.05), sinks=[preds.append, record]
    )
    pipeline.start()
    wait_for(lambda: len(preds) >= 5)
    start = time.monotonic()
    assert pipeline.stop()
    assert time.monotonic() - start < 1.0
    assert not any(t.name.startswith("neuron-") for t in threading.enumerate())
    record.close()
    lines = (tmp_path / "rec.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(preds)
    assert [json.loads(line)["frame_index"] for line in lines] == [p.frame_index for p in preds]


def test_nobody_in_view_is_the_absent_state() -> None:
    preds: list[Prediction] = []
    estimator = FakeEstimator(present=False)
    # Lossless: live, two "nobody" frames waiting together are one update (latest wins), which on a
    # busy machine would make the count below depend on timing.
    pipeline = Pipeline(
        FakeCamera(frames=40),
        FakeRecognizer(["wave"]),
        estimator,
        realtime=False,
        lossless=True,
        sinks=[preds.append],
    )
    pipeline.start()
    assert pipeline.wait(10)
    pipeline.stop()
    assert isinstance(pipeline.error, SourceError)  # no retry asked: the broken camera ends the run
    assert len(preds) == 10 and all(p.state == "absent" and p.track_id is None for p in preds)
    assert all(p.no_action and p.scores == [] and p.pose_ms == 1.5 for p in preds)
    assert estimator.closed


def test_camera_lost_is_reported_and_retried() -> None:
    preds: list[Prediction] = []
    attempts = []

    def reopen() -> FrameSource:
        attempts.append(time.monotonic())
        if len(attempts) == 1:
            raise SourceError("fake camera: cannot be opened")
        return FakeCamera(frames=1000)

    pipeline = Pipeline(
        FakeCamera(frames=20),
        FakeRecognizer(["wave"]),
        FakeEstimator(),
        reopen=reopen,
        retry=True,
        sinks=[preds.append],
    ).start()
    try:
        wait_for(lambda: len(attempts) >= 2 and len(preds) >= 3, timeout=15)
        kinds = [s.kind for s in pipeline.poll_status()]
    finally:
        assert pipeline.stop()
    assert kinds[:2] == ["camera_lost", "camera_back"]
    assert pipeline.error is None and pipeline.stats().frames > 20


def test_loop_replays_a_recording_from_the_start() -> None:
    motion = DemoMotion(seed=3)
    joints = np.stack([motion.frame(1000 + i)[0] for i in range(45)])
    skeleton = Skeleton.from_single(joints, fps=30.0, label="wave", source="test")
    preds: list[Prediction] = []

    def replay() -> FrameSource:
        return SkeletonReplaySource(skeleton, "test replay")

    pipeline = Pipeline(
        replay(),
        FakeRecognizer(["wave"]),
        reopen=replay,
        realtime=False,
        lossless=True,
        loop=True,
        max_frames=140,
        sinks=[preds.append],
    )
    run(pipeline)
    indices = [p.frame_index for p in preds]
    # Each pass of 45 frames starts windows afresh: predictions at frames 31, 35, 39, 43 each time.
    assert indices == [31, 35, 39, 43] * 3
    assert {p.reference for p in preds} == {"wave"}


def test_pause_holds_the_video() -> None:
    pipeline = Pipeline(DemoSource(seed=0), FakeRecognizer(["wave"])).start()
    try:
        wait_for(lambda: pipeline.stats().frames > 5)
        pipeline.pause()
        time.sleep(0.1)
        frozen = pipeline.stats().frames
        time.sleep(1.0)
        assert pipeline.stats().frames == frozen and pipeline.paused
        pipeline.resume()
        wait_for(lambda: pipeline.stats().frames > frozen + 5)
        view = pipeline.view()
        # After the pause the video goes on from where it stopped, at its own pace: no jump of the
        # 30 frames the pause lasted.
        assert view is not None and view.frame.index < frozen + 15
    finally:
        assert pipeline.stop()


# -- the parts ----------------------------------------------------------------------------------------


def test_the_command_line_defaults_are_the_scoring_defaults() -> None:
    """Smoothing, hysteresis and the still threshold are defined once (ScoringSettings)."""
    config = LiveConfig()
    settings = ScoringSettings(config.smoothing, config.hysteresis, config.still_threshold)
    assert settings == ScoringSettings() == ScoreSmoother().settings == TrackScorer().settings


def test_a_frame_that_carries_its_pose_skips_the_estimator() -> None:
    """Recognised by its type (pose.sources.PosedFrame), whatever source made it."""
    motion = DemoMotion(seed=2)

    class Posed(FrameSource):
        def __init__(self) -> None:
            super().__init__()
            self.name, self.index = "posed", 0

        def read(self) -> PosedFrame | None:
            if self.index >= 40:
                return None
            i, self.index = self.index, self.index + 1
            pose = PoseResult(i, time.monotonic(), t_media=i / 30)
            joints, _ = motion.frame(1000 + i)
            pose.persons = [PersonPose(0, joints, project(joints), 1.0)]
            return PosedFrame(np.zeros((8, 8, 3), np.uint8), i, time.monotonic(), i / 30, pose, "wave")

    class Refusing(FakeEstimator):
        def process(self, frame: Frame) -> PoseResult:
            raise AssertionError("a posed frame reached the estimator")

    preds: list[Prediction] = []
    run(
        Pipeline(
            Posed(), FakeRecognizer(["wave"]), Refusing(), realtime=False, lossless=True, sinks=[preds.append]
        )
    )
    assert [p.frame_index for p in preds] == [31, 35, 39] and {p.reference for p in preds} == {"wave"}


def test_the_stage_loop_closes_its_outbox_however_it_ends() -> None:
    """A stage that fails still lets the next stage drain and end: no thread waits forever."""
    stop = threading.Event()
    inbox, outbox = Channel(4, False, stop), Channel(4, False, stop)
    seen: list[object] = []

    def handle(item: object) -> bool:
        if item == "bad":
            raise ValueError("this stage broke")
        seen.append(item)
        return outbox.put(item)

    for item in ("a", RESET, "bad", "never"):
        inbox.put(item)
    with pytest.raises(ValueError, match="broke"):
        stage_loop(inbox, stop, handle, outbox=outbox)
    assert seen == ["a", RESET]
    assert [outbox.get(0.01) for _ in range(3)] == ["a", RESET, END]
    idle: list[int] = []
    quiet = Channel(1, True, stop)
    threading.Timer(0.2, quiet.close).start()
    stage_loop(quiet, stop, handle, idle=lambda: idle.append(1))  # ends at END, idling meanwhile
    assert idle


def test_a_person_after_nobody_starts_afresh() -> None:
    scorer = TrackScorer(ScoringSettings(smoothing=0.5, hysteresis=0.0, still_threshold=0.0))
    about = FrameInfo(0, 0.0, time.monotonic())
    scorer.person(about, 0, {"wave": 1.0, "jump": 0.0}, 1.0, 2.0)
    assert dict(scorer.person(about, 0, {"wave": 0.0, "jump": 1.0}, 1.0, 2.0).scores) == {
        "wave": 0.5,
        "jump": 0.5,
    }
    gone = scorer.nobody(about, 0.0)
    assert (gone.state, gone.track_id, gone.scores, gone.top) == ("absent", None, [], None)
    back = scorer.person(about, 0, {"wave": 0.0, "jump": 1.0}, 1.0, 2.0)
    assert dict(back.scores) == {"wave": 0.0, "jump": 1.0} and back.top == "jump" and back.state == "action"
