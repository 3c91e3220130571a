"""The streaming pipeline: capture -> pose -> window -> recogniser, four threads, bounded hand-overs.

Shared by the headless command line and the Qt window (no Qt here). Live, every hand-over keeps only
the newest items (``latest wins``): a slow pose stage lowers the frame rate it sees, a slow model
lowers the prediction rate, and neither ever delays the video or lets memory grow. With ``lossless``
(``--fast`` on a recording) the hand-overs block instead, so every frame and every window is
processed, as fast as the machine allows, and the output does not depend on timing.

Each frame keeps its capture stamp to the prediction it leads to, so latency is measured end to
end. Labels may change at any time. Live, a fifth thread encodes new labels (a text encoder takes
tenths of a second) while predictions go on with the old set, and swaps the new set in when it is
ready, so adding a label never pauses predictions; with ``lossless`` the recogniser thread applies
them before its next prediction, so the output does not depend on timing.
``stop`` ends every thread within a second and hands every prediction made to the sinks first.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from app.smoothing import ABSENT, ScoreSmoother
from app.synthetic import PosedFrame
from neuron_core.errors import NeuronCoreError, one_line
from pose.errors import NeuronLiveError, PoseError, SourceError
from pose.estimator import PoseResult
from pose.normalize import DEFAULT_WINDOW, TEST_CROP
from pose.sources import Frame, FrameSource
from pose.window import SlidingWindow, WindowSample

log = logging.getLogger(__name__)

JOIN_TIMEOUT_S = 1.0
POLL_S = 0.05
CAMERA_RETRY_S = 1.0
# Live: frames wait in a slot of one (latest wins); windows in a slot per person.
LIVE_FRAME_SLOTS = 1
# Lossless: enough to ride out a model hiccup, small enough that memory stays flat.
LOSSLESS_SLOTS = 8
MAX_BATCH = 8
STATS_SPAN_S = 2.0
EMA_WEIGHT = 0.2
# A source silent this long (while not paused) is reported, and again when frames come back.
STALL_S = 2.0
# A frame or window lost to a fault is always counted, but reported at most this often per stage.
FAULT_REPORT_S = 5.0


class Recognizer(Protocol):
    """What the pipeline needs of ``neuron_core.recognizer.ZeroShotRecognizer``.

    A recogniser may also offer ``prepare_labels(labels)``: encode them without changing the active
    set. The pipeline then calls it beside the scoring and ``set_labels`` only to swap the prepared
    set in; without it, ``set_labels`` holds the scoring up while it encodes.
    """

    @property
    def labels(self) -> list[str]: ...

    def set_labels(self, labels: list[str]) -> None: ...

    def scores(self, windows: np.ndarray) -> np.ndarray: ...


class Estimator(Protocol):
    def process(self, frame: Frame) -> PoseResult: ...

    def close(self) -> None: ...


class _Marker:
    """An in-band signal in a hand-over; never dropped to make room."""


class _End(_Marker):
    """The stream has ended."""


class _Reset(_Marker):
    """A recording restarted (loop): windows and smoothing start afresh."""


END = _End()
RESET = _Reset()


class Channel:
    """A bounded hand-over between two threads.

    When full, ``put`` either drops the oldest item (``drop_oldest``: live, latest wins; drops are
    counted) or waits for room (lossless back-pressure). ``close`` lets the consumer drain what is
    left and then read END.
    """

    def __init__(self, maxsize: int, drop_oldest: bool, stop: threading.Event) -> None:
        self.maxsize = maxsize
        self.drop_oldest = drop_oldest
        self.dropped = 0
        self._stop = stop
        self._items: deque[Any] = deque()
        self._closed = False
        self._cond = threading.Condition()

    def put(self, item: Any) -> bool:
        """Hand over ``item``; False when the pipeline is stopping and it was not taken."""
        with self._cond:
            if self.drop_oldest:
                while len(self._items) >= self.maxsize:
                    victim = next((x for x in self._items if not isinstance(x, _Marker)), None)
                    if victim is None:
                        break
                    self._items.remove(victim)
                    self.dropped += 1
            else:
                while len(self._items) >= self.maxsize:
                    if self._stop.is_set():
                        return False
                    self._cond.wait(POLL_S)
            self._items.append(item)
            self._cond.notify_all()
            return True

    def get(self, timeout: float = POLL_S) -> Any:
        """The oldest item, END once closed and empty, or None after ``timeout`` with nothing."""
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait(timeout)
            if self._items:
                item = self._items.popleft()
                self._cond.notify_all()
                return item
            return END if self._closed else None

    def drain(self, limit: int) -> list[Any]:
        """Up to ``limit`` items that are waiting now (never END, never waits)."""
        with self._cond:
            out = [self._items.popleft() for _ in range(min(limit, len(self._items)))]
            self._cond.notify_all()
            return out

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


@dataclass
class Prediction:
    """One prediction update for one person (or, with ``track_id`` None, "nobody in view").

    ``scores`` are every active label's smoothed score, best first; ``top`` the stable top label
    (None in the no-action states); ``state`` "action", "still" or "absent".
    """

    frame_index: int
    frame_time: float
    t_capture: float
    track_id: int | None
    scores: list[tuple[str, float]]
    top: str | None
    state: str
    motion: float | None
    latency_ms: float
    pose_ms: float
    model_ms: float
    reference: str | None = None

    @property
    def no_action(self) -> bool:
        return self.state != "action"

    def to_json(self, top_k: int) -> dict[str, Any]:
        """The record of a JSON line: plain types, rounded to what is meaningful."""
        wall = time.time() - (time.monotonic() - self.t_capture)
        return {
            "time": round(wall, 3),
            "frame_time": round(self.frame_time, 3),
            "frame_index": self.frame_index,
            "track_id": self.track_id,
            "state": self.state,
            "no_action": self.no_action,
            "top": self.top,
            "top_k": [{"label": label, "score": round(float(s), 4)} for label, s in self.scores[:top_k]],
            "motion": None if self.motion is None else round(self.motion, 4),
            "latency_ms": round(self.latency_ms, 1),
            "pose_ms": round(self.pose_ms, 1),
            "model_ms": round(self.model_ms, 1),
            "reference": self.reference,
        }


@dataclass
class Status:
    """Something the user should know: ``kind`` is warning, error, camera_lost, camera_back or ended."""

    kind: str
    message: str


@dataclass
class Stats:
    """Rates and timings for the status bar (moving averages)."""

    fps: float = 0.0
    pose_ms: float = 0.0
    model_ms: float = 0.0
    latency_ms: float = 0.0
    frames: int = 0
    predictions: int = 0
    dropped_frames: int = 0


@dataclass
class View:
    """What the screen shows now: the newest frame and its persons."""

    frame: Frame
    pose: PoseResult


@dataclass
class _Observation:
    frame: Frame
    pose: PoseResult
    reference: str | None


@dataclass
class _Job:
    """A window to score, or (``sample`` None) a frame in which nobody was seen."""

    frame_index: int
    frame_time: float
    t_capture: float
    pose_ms: float
    reference: str | None
    sample: WindowSample | None = None


class _Ema:
    def __init__(self) -> None:
        self.value = 0.0
        self._seeded = False

    def add(self, x: float) -> float:
        self.value = x if not self._seeded else (1 - EMA_WEIGHT) * self.value + EMA_WEIGHT * x
        self._seeded = True
        return self.value


class Pipeline:
    """Runs a source through pose, windows and the recogniser until it ends or ``stop`` is called.

    ``reopen`` makes a fresh source: used when ``loop`` replays a recording and when a camera
    (``retry``) vanishes. ``realtime`` paces recordings at their own rate. Predictions go to every
    sink, on the recogniser thread, in order; a sink must be quick.
    """

    def __init__(
        self,
        source: FrameSource,
        recognizer: Recognizer,
        estimator: Estimator | None = None,
        *,
        reopen: Callable[[], FrameSource] | None = None,
        realtime: bool = True,
        lossless: bool = False,
        loop: bool = False,
        retry: bool = False,
        window: int = DEFAULT_WINDOW,
        crop: float = TEST_CROP,
        rate: int = 4,
        smoothing: float = 0.4,
        hysteresis: float = 0.05,
        still_threshold: float = 0.02,
        max_frames: int | None = None,
        sinks: Sequence[Callable[[Prediction], None]] = (),
    ) -> None:
        self.source = source
        self.recognizer = recognizer
        self.estimator = estimator
        self.realtime = realtime
        self.lossless = lossless
        self.loop = loop
        self.retry = retry
        self.rate = rate
        self.max_frames = max_frames
        self.sinks = list(sinks)
        self._reopen = reopen
        self._window_frames = window
        self._window_crop = crop
        self._smoothing = (smoothing, hysteresis, still_threshold)
        self._smoothers: dict[int, ScoreSmoother] = {}

        self._stop = threading.Event()
        self._resume = threading.Event()
        self._resume.set()
        slots = LOSSLESS_SLOTS if lossless else LIVE_FRAME_SLOTS
        self._frames = Channel(slots, not lossless, self._stop)
        self._poses = Channel(LOSSLESS_SLOTS, not lossless, self._stop)
        self._jobs = Channel(LOSSLESS_SLOTS, not lossless, self._stop)
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        # Held while the recogniser scores, and while a prepared label set is swapped in: labels and
        # scores then always belong together.
        self._model_lock = threading.Lock()
        self._labels_wanted = threading.Event()
        self._scoring_ended = threading.Event()  # the label thread has nobody left to serve
        self._pending_labels: list[str] | None = None
        self._encoding = False
        self._requested_labels = list(recognizer.labels)
        self._view: View | None = None
        self._status: deque[Status] = deque(maxlen=100)
        self._frame_times: deque[float] = deque()
        self._pose_ms, self._model_ms, self._latency_ms = _Ema(), _Ema(), _Ema()
        self._stats = Stats()
        self._t_start = time.monotonic()
        self.error: BaseException | None = None
        self.ended = False
        self._faults: dict[str, int] = {}
        self._fault_reported: dict[str, float] = {}
        self._last_frame = time.monotonic()
        self._stalled = False

    # -- control -------------------------------------------------------------------------------

    def start(self) -> Pipeline:
        self._last_frame = time.monotonic()
        stages = (
            ("capture", self._capture),
            ("pose", self._pose),
            ("window", self._window),
            ("recognize", self._recognize),
        )
        if not self.lossless:
            stages += (("labels", self._label_changes),)
        for name, target in stages:
            thread = threading.Thread(
                target=self._guard, args=(name, target), name=f"neuron-{name}", daemon=True
            )
            self._threads.append(thread)
            thread.start()
        return self

    def stop(self, timeout: float = JOIN_TIMEOUT_S) -> bool:
        """Stop every stage; True when all threads ended within ``timeout`` seconds in total."""
        self._stop.set()
        self._resume.set()
        self._labels_wanted.set()
        self.source.interrupt()
        for channel in (self._frames, self._poses, self._jobs):
            channel.close()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in self._threads if t.is_alive()]
        if alive:
            log.warning("threads still running after %.1f s: %s", timeout, ", ".join(alive))
        if self.estimator is not None and not alive:
            self.estimator.close()
            self.estimator = None
        return not alive

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the stream has been fully processed (or failed); True if it has."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def pause(self) -> None:
        self._resume.clear()

    def resume(self) -> None:
        self._resume.set()

    @property
    def paused(self) -> bool:
        return not self._resume.is_set()

    def set_labels(self, labels: Sequence[str]) -> None:
        """Score against ``labels`` as soon as they are encoded (lossless: from the next prediction
        on). Validated by the caller; returns at once."""
        with self._lock:
            self._pending_labels = list(labels)
            self._requested_labels = list(labels)
        self._labels_wanted.set()

    @property
    def labels_pending(self) -> bool:
        """Whether a label change is still being encoded (not yet scored)."""
        with self._lock:
            return self._pending_labels is not None or self._encoding

    @property
    def labels(self) -> list[str]:
        with self._lock:
            return list(self._requested_labels)

    def view(self) -> View | None:
        with self._lock:
            return self._view

    def stats(self) -> Stats:
        with self._lock:
            return Stats(**vars(self._stats))

    def poll_status(self) -> list[Status]:
        """Messages since the last call, oldest first."""
        out = []
        with self._lock:
            while self._status:
                out.append(self._status.popleft())
        return out

    def _say(self, kind: str, message: str) -> None:
        # Errors reach the user through the edge (the window, or the command line's one line).
        log.log(logging.WARNING if kind in ("warning", "camera_lost") else logging.INFO, "%s", message)
        with self._lock:
            self._status.append(Status(kind, message))

    def _fault(self, stage: str, message: str) -> None:
        """A frame or window lost to a fault: always counted, reported at most every FAULT_REPORT_S."""
        now = time.monotonic()
        with self._lock:
            count = self._faults[stage] = self._faults.get(stage, 0) + 1
            last = self._fault_reported.get(stage)
            if last is not None and now - last < FAULT_REPORT_S:
                return
            self._fault_reported[stage] = now
        self._say("warning", f"{stage}: {message}; {count} so far, still running")

    def faults(self) -> dict[str, int]:
        """Frames or windows lost so far, per stage (capture, pose, model)."""
        with self._lock:
            return dict(self._faults)

    def _watch_source(self, arrived: bool) -> None:
        """Report a source that went silent for STALL_S while running, and its return."""
        now = time.monotonic()
        if arrived:
            if self._stalled:
                self._stalled = False
                self._say("camera_back", f"{self.source.name}: frames again")
            self._last_frame = now
        elif not self._resume.is_set():
            self._last_frame = now  # paused: silence is expected
        elif not self._stalled and now - self._last_frame > STALL_S:
            self._stalled = True
            self._say(
                "camera_lost", f"{self.source.name}: no frames for {now - self._last_frame:.0f} s; waiting"
            )

    def _guard(self, name: str, target: Callable[[], None]) -> None:
        """Run a stage; an unexpected failure stops the whole pipeline with one clear message."""
        try:
            target()
        except Exception as exc:
            if self.error is None:
                self.error = exc
            if isinstance(exc, (NeuronLiveError, NeuronCoreError)):
                self._say("error", str(exc))
            else:
                log.exception("%s stage failed", name)
                self._say("error", f"{name} stage failed: {type(exc).__name__}: {exc}")
            self._stop.set()
            self._resume.set()
            for channel in (self._frames, self._poses, self._jobs):
                channel.close()

    # -- stages --------------------------------------------------------------------------------

    def _capture(self) -> None:
        """Read frames, pace recordings, replay or reconnect; the one stage that touches the source."""
        count = 0
        clock: tuple[float, float] | None = None  # (monotonic, media time) the pacing counts from
        try:
            while not self._stop.is_set():
                if not self._resume.is_set():
                    self._resume.wait(POLL_S)
                    clock = None  # pacing starts afresh after a pause
                    continue
                reason = "no more frames"
                try:
                    frame = self.source.read()
                except Exception as exc:  # a driver may raise anything; every kind means "the source broke"
                    if not isinstance(exc, SourceError):
                        exc = SourceError(f"{self.source.name}: {one_line(exc)}")
                    if not self.retry:  # a broken recording ends the stream; what was read is still scored
                        self.error = exc
                        self._say("error", str(exc))
                        break
                    frame, reason = None, str(exc)
                if frame is None:
                    if not self._restart(reason):
                        break
                    clock = None
                    continue
                problem = _frame_problem(frame)
                if problem is not None:  # a corrupt frame is dropped; the next one may be fine
                    self._fault("capture", f"{self.source.name}: {problem}")
                    continue
                if self.realtime and frame.t_media is not None:
                    if clock is None:
                        clock = (time.monotonic(), frame.t_media)
                    delay = clock[0] + (frame.t_media - clock[1]) - time.monotonic()
                    if delay > 0 and self._stop.wait(delay):
                        break
                    _restamp(frame, time.monotonic())
                if not self._frames.put(frame):
                    break
                count += 1
                if self.max_frames is not None and count >= self.max_frames:
                    self.ended = True
                    self._say("ended", f"{self.source.name}: stopped after {count} frames (--max-frames)")
                    break
        finally:
            self._frames.close()
            self.source.close()
            with self._lock:
                self._stats.dropped_frames = self._frames.dropped

    def _restart(self, reason: str) -> bool:
        """After a source ended: replay it, wait for the camera to return, or end. False = end."""
        if self._stop.is_set():
            return False
        if self.retry and self._reopen is not None:
            self.source.close()
            self._say("camera_lost", f"{reason}; retrying every {CAMERA_RETRY_S:g} s")
            self._stalled = True  # reported: the silence watch need not say it again
            while not self._stop.wait(CAMERA_RETRY_S):
                try:
                    self.source = self._reopen()
                except SourceError:
                    continue
                self._stalled = False
                self._say("camera_back", f"{self.source.name}: frames again")
                return True
            return False
        if self.loop and self._reopen is not None:
            self.source.close()
            self.source = self._reopen()
            self._frames.put(RESET)
            return True
        self.ended = True
        self._say("ended", f"{self.source.name}: ended")
        return False

    def _pose(self) -> None:
        try:
            while True:
                frame = self._frames.get()
                if frame is None:
                    if self._stop.is_set():
                        return
                    self._watch_source(arrived=False)
                    continue
                if frame is END or self._stop.is_set():
                    return
                self._watch_source(arrived=True)
                if frame is RESET:
                    self._poses.put(RESET)
                    continue
                if isinstance(frame, PosedFrame) and frame.pose is not None:
                    result, reference = frame.pose, frame.reference
                elif self.estimator is not None:
                    try:
                        result, reference = self.estimator.process(frame), None
                    except PoseError:  # the estimator itself is broken: not about this frame
                        raise
                    except Exception as exc:  # this frame only: drop it, keep the stream
                        self._fault("pose", f"frame {frame.index} dropped ({one_line(exc)})")
                        continue
                else:
                    raise SourceError(f"{self.source.name}: frames need a pose estimator and none was given")
                self._count_frame(frame, result)
                if not self._poses.put(_Observation(frame, result, reference)):
                    return
        finally:
            self._poses.close()

    def _count_frame(self, frame: Frame, result: PoseResult) -> None:
        now = time.monotonic()
        with self._lock:
            self._frame_times.append(now)
            while self._frame_times and self._frame_times[0] < now - STATS_SPAN_S:
                self._frame_times.popleft()
            span = self._frame_times[-1] - self._frame_times[0]
            self._stats.fps = (len(self._frame_times) - 1) / span if span > 0 else 0.0
            self._stats.frames += 1
            self._stats.pose_ms = self._pose_ms.add(result.pose_ms)
            self._stats.dropped_frames = self._frames.dropped
            self._view = View(frame, result)

    def _window(self) -> None:
        windows = SlidingWindow(window=self._window_frames, stride=self.rate, crop=self._window_crop)
        absent = 0
        try:
            while True:
                obs = self._poses.get()
                if obs is None:
                    if self._stop.is_set():
                        return
                    continue
                if obs is END or self._stop.is_set():
                    return
                if obs is RESET:
                    windows.reset()
                    self._jobs.put(RESET)
                    continue
                result = obs.pose
                base = _Job(
                    result.frame_index,
                    self._frame_time(obs.frame),
                    result.t_capture,
                    result.pose_ms,
                    obs.reference,
                )
                if result.persons:
                    absent = 0
                else:
                    absent += 1
                    if absent % self.rate == 0 and not self._jobs.put(base):
                        return
                for sample in windows.push(result):
                    job = _Job(**{**vars(base), "sample": sample})
                    if not self._jobs.put(job):
                        return
        finally:
            self._jobs.close()

    def _frame_time(self, frame: Frame) -> float:
        return frame.t_media if frame.t_media is not None else frame.t_capture - self._t_start

    def _recognize(self) -> None:
        try:
            self._score_jobs()
        finally:
            self._scoring_ended.set()
            self._labels_wanted.set()

    def _score_jobs(self) -> None:
        while True:
            first = self._jobs.get()
            if first is None:
                if self._stop.is_set():
                    return
                continue
            if first is END or self._stop.is_set():
                return
            batch = [first, *self._jobs.drain(MAX_BATCH - 1)]
            if RESET in batch:
                self._smoothers.clear()
                batch = [job for job in batch if job is not RESET]
            if self.lossless:
                self._apply_labels()
            else:
                batch = _latest_per_person(batch)
            self._predict(batch)

    def _label_changes(self) -> None:
        """Live: encode each requested label set beside the scoring, then swap it in at once."""
        while not (self._stop.is_set() or self._scoring_ended.is_set()):
            if self._labels_wanted.wait(POLL_S) and not (self._stop.is_set() or self._scoring_ended.is_set()):
                self._apply_labels()

    def _apply_labels(self) -> None:
        """Encode the newest requested labels (outside the model lock where the recogniser can prepare
        them) and make them the active set; older requests that were overtaken are skipped."""
        with self._lock:
            labels, self._pending_labels = self._pending_labels, None
            self._labels_wanted.clear()
            self._encoding = labels is not None
        if labels is None:
            return
        try:
            prepare = getattr(self.recognizer, "prepare_labels", None)
            if prepare is not None:
                prepare(labels)  # slow: predictions go on with the current labels meanwhile
            with self._model_lock:
                self.recognizer.set_labels(labels)
        except NeuronCoreError as exc:  # keep recognising with the labels that worked
            self._say("warning", f"labels not changed: {exc}")
            with self._lock:
                if self._pending_labels is None:
                    self._requested_labels = list(self.recognizer.labels)
        finally:
            with self._lock:
                self._encoding = False

    def _predict(self, batch: list[_Job]) -> None:
        windows = [job for job in batch if job.sample is not None]
        with self._model_lock:
            labels = list(self.recognizer.labels)
            probs = np.zeros((len(windows), len(labels)), np.float32)
            model_ms = 0.0
            if windows and labels:
                start = time.perf_counter()
                try:
                    data = np.stack([job.sample.data for job in windows])
                    probs = np.asarray(self.recognizer.scores(data))
                    if probs.shape != (len(windows), len(labels)):
                        expected = (len(windows), len(labels))
                        raise ValueError(f"scores of shape {probs.shape}, expected {expected}")
                except Exception as exc:  # these windows only: the next ones are scored
                    self._fault("model", f"{len(windows)} window(s) not scored ({one_line(exc)})")
                    return
                model_ms = (time.perf_counter() - start) * 1000.0
        row = {id(job): i for i, job in enumerate(windows)}
        for job in batch:
            if job.sample is None:
                self._smoothers.clear()
                pred = self._make(job, None, [], None, ABSENT, None, model_ms)
            else:
                smoother = self._smoothers.get(job.sample.track_id)
                if smoother is None:
                    smoother = self._smoothers[job.sample.track_id] = ScoreSmoother(*self._smoothing)
                scores = {label: float(p) for label, p in zip(labels, probs[row[id(job)]], strict=True)}
                smoothed = smoother.update(scores, job.sample.motion)
                pred = self._make(
                    job,
                    job.sample.track_id,
                    smoothed.scores,
                    smoothed.top,
                    smoothed.state,
                    job.sample.motion,
                    model_ms,
                )
            self._emit(pred)

    def _make(
        self,
        job: _Job,
        track_id: int | None,
        scores: list[tuple[str, float]],
        top: str | None,
        state: str,
        motion: float | None,
        model_ms: float,
    ) -> Prediction:
        latency = (time.monotonic() - job.t_capture) * 1000.0
        return Prediction(
            job.frame_index,
            job.frame_time,
            job.t_capture,
            track_id,
            scores,
            top,
            state,
            motion,
            latency,
            job.pose_ms,
            model_ms,
            job.reference,
        )

    def _emit(self, pred: Prediction) -> None:
        with self._lock:
            self._stats.predictions += 1
            if pred.model_ms:
                self._stats.model_ms = self._model_ms.add(pred.model_ms)
            self._stats.latency_ms = self._latency_ms.add(pred.latency_ms)
        for sink in self.sinks:
            sink(pred)


def _frame_problem(frame: object) -> str | None:
    """Why a source's frame cannot be used, or None: the stages need a BGR uint8 (H, W, 3) image."""
    if not isinstance(frame, Frame):
        return f"delivered a {type(frame).__name__}, not a frame"
    image = frame.image
    if not isinstance(image, np.ndarray):
        return f"frame {frame.index} has no image ({type(image).__name__})"
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or 0 in image.shape:
        return f"frame {frame.index} is corrupt ({image.dtype} {image.shape}, expected uint8 (H, W, 3))"
    return None


def _latest_per_person(batch: list[_Job]) -> list[_Job]:
    """Live: only the newest window per person (and the newest 'nobody' frame) is worth scoring."""
    latest: dict[int | None, _Job] = {}
    for job in batch:
        latest[None if job.sample is None else job.sample.track_id] = job
    return sorted(latest.values(), key=lambda job: job.frame_index)


def _restamp(frame: Frame, t: float) -> None:
    """A paced recording frame is 'captured' when it is due, not when it was decoded ahead of time."""
    frame.t_capture = t
    if isinstance(frame, PosedFrame) and frame.pose is not None:
        frame.pose.t_capture = t
