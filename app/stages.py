"""The three stages after capture: pose, windows, and scoring. Each reads one channel with
:func:`app.channels.stage_loop` and writes the next (scoring writes to the sinks).

- :class:`PoseStage`: frames to persons (a frame that carries its pose passes as it is); a frame the
  estimator fails on is dropped and counted, an estimator that is broken stops the pipeline.
- :class:`WindowStage`: persons to per-person windows every ``rate`` frames, and a "nobody" job
  every ``rate`` frames without anyone, so the screen learns that nobody is there.
- :class:`ScoreStage`: windows to scores in batches, then to one prediction per person
  (:class:`app.track_scoring.TrackScorer`); live it scores only the newest window per person.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from app.capture import SourceWatch
from app.channels import RESET, Channel, stage_loop
from app.label_swap import LabelSwap
from app.stats import Meter
from app.status import StatusBoard
from app.track_scoring import FrameInfo, Prediction, TrackScorer
from neuron_base.errors import one_line
from pose.errors import PoseError, SourceError
from pose.estimator import PoseResult
from pose.normalize import Preprocess
from pose.sources import Frame, PosedFrame
from pose.window import SlidingWindow, WindowSample

# Windows scored in one model call at most (lossless: a backlog is worked off in batches).
MAX_BATCH = 8
# A person's last window is re-scored with new labels only while it is this fresh (a person not seen
# for longer is about to be dropped by the window stage anyway).
RESCORE_MAX_AGE_S = 1.0


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


@dataclass
class Observation:
    """A frame and the persons found in it."""

    frame: Frame
    pose: PoseResult
    reference: str | None


@dataclass
class Job:
    """A window to score, or (``sample`` None) a frame in which nobody was seen."""

    about: FrameInfo
    sample: WindowSample | None = None


class PoseStage:
    """Frames in, persons out; also the stage that notices a silent source (it waits for frames)."""

    def __init__(
        self,
        inbox: Channel,
        outbox: Channel,
        stop: threading.Event,
        estimator: Estimator | None,
        watch: SourceWatch,
        board: StatusBoard,
        meter: Meter,
        source_name: Callable[[], str],
    ) -> None:
        self._inbox, self._outbox, self._stop = inbox, outbox, stop
        self._estimator = estimator
        self._watch, self._board, self._meter = watch, board, meter
        self._source_name = source_name

    def run(self) -> None:
        stage_loop(self._inbox, self._stop, self._handle, outbox=self._outbox, idle=self._watch.silent)

    def _handle(self, frame: Frame) -> bool:
        self._watch.arrived()
        if frame is RESET:
            return self._outbox.put(RESET)
        if isinstance(frame, PosedFrame) and frame.pose is not None:
            result, reference = frame.pose, frame.reference
        elif self._estimator is not None:
            try:
                result, reference = self._estimator.process(frame), None
            except PoseError:  # the estimator itself is broken: not about this frame
                raise
            except Exception as exc:  # this frame only: drop it, keep the stream
                self._board.fault("pose", f"frame {frame.index} dropped ({one_line(exc)})")
                return True
        else:
            raise SourceError(f"{self._source_name()}: frames need a pose estimator and none was given")
        self._meter.frame(frame, result)
        return self._outbox.put(Observation(frame, result, reference))


class WindowStage:
    """Persons in, per-person windows (and "nobody" jobs) out, every ``rate`` frames."""

    def __init__(
        self,
        inbox: Channel,
        outbox: Channel,
        stop: threading.Event,
        *,
        preprocess: Preprocess,
        rate: int,
        t_start: float,
    ) -> None:
        self._inbox, self._outbox, self._stop = inbox, outbox, stop
        self._windows = SlidingWindow.for_contract(preprocess, stride=rate)
        self._rate = rate
        self._t_start = t_start  # a camera frame's time is counted from here
        self._absent = 0

    def run(self) -> None:
        stage_loop(self._inbox, self._stop, self._handle, outbox=self._outbox)

    def _handle(self, obs: Observation) -> bool:
        if obs is RESET:
            self._windows.reset()
            return self._outbox.put(RESET)
        result, frame = obs.pose, obs.frame
        frame_time = frame.t_media if frame.t_media is not None else frame.t_capture - self._t_start
        about = FrameInfo(result.frame_index, frame_time, result.t_capture, result.pose_ms, obs.reference)
        if result.in_view:
            self._absent = 0
        else:
            self._absent += 1
            if self._absent % self._rate == 0 and not self._outbox.put(Job(about)):
                return False
        return all(self._outbox.put(Job(about, sample)) for sample in self._windows.push(result))


class ScoreStage:
    """Scores windows and hands every prediction to the sinks, in order, on this thread (a sink must
    be quick). ``lossless`` applies label changes before each batch and scores every window."""

    def __init__(
        self,
        inbox: Channel,
        stop: threading.Event,
        recognizer: Recognizer,
        labels: LabelSwap,
        scorer: TrackScorer,
        sinks: Sequence[Callable[[Prediction], None]],
        board: StatusBoard,
        meter: Meter,
        *,
        lossless: bool,
    ) -> None:
        self._inbox, self._stop = inbox, stop
        self._recognizer, self._labels, self._scorer = recognizer, labels, scorer
        self._sinks = sinks
        self._board, self._meter = board, meter
        self._lossless = lossless
        self._recent: dict[int, Job] = {}  # the last window scored per person, for re-scoring
        self._recent_lock = threading.Lock()

    def run(self) -> None:
        stage_loop(self._inbox, self._stop, self._handle)

    def rescore_recent(self) -> int:
        """Queue again the last window of every person seen within ``RESCORE_MAX_AGE_S``: called when
        new labels are swapped in, so they are scored at once instead of at the next window (up to
        ``rate`` frames later). Returns how many windows were queued."""
        jobs = sorted(self._remember([]), key=lambda job: job.about.frame_index)
        return sum(self._inbox.put(job) for job in jobs)

    def _remember(self, windows: list[Job]) -> list[Job]:
        """Keep each person's last scored window (``windows`` are the newest) and return those of
        the persons seen within ``RESCORE_MAX_AGE_S``; older ones are forgotten, so the table does
        not grow with every person who ever passed."""
        now = time.monotonic()
        with self._recent_lock:
            self._recent.update((job.sample.track_id, job) for job in windows)
            stale = [k for k, job in self._recent.items() if now - job.about.t_capture > RESCORE_MAX_AGE_S]
            for track_id in stale:
                del self._recent[track_id]
            return list(self._recent.values())

    def _handle(self, first: Job) -> bool:
        batch = [first, *self._inbox.drain(MAX_BATCH - 1)]
        if RESET in batch:
            self._scorer.reset()
            with self._recent_lock:
                self._recent.clear()
            batch = [job for job in batch if job is not RESET]
        if self._lossless:
            self._labels.apply()
        else:
            batch = _latest_per_person(batch)
        self._predict(batch)
        return True

    def _predict(self, batch: list[Job]) -> None:
        windows = [job for job in batch if job.sample is not None]
        with self._labels.model_lock:
            labels = list(self._recognizer.labels)
            probs = np.zeros((len(windows), len(labels)), np.float32)
            model_ms = 0.0
            if windows and labels:
                start = time.perf_counter()
                try:
                    data = np.stack([job.sample.data for job in windows])
                    probs = np.asarray(self._recognizer.scores(data))
                    if probs.shape != (len(windows), len(labels)):
                        expected = (len(windows), len(labels))
                        raise ValueError(f"scores of shape {probs.shape}, expected {expected}")
                except Exception as exc:  # these windows only: the next ones are scored
                    self._board.fault("model", f"{len(windows)} window(s) not scored ({one_line(exc)})")
                    return
                model_ms = (time.perf_counter() - start) * 1000.0
        self._remember(windows)
        row = {id(job): i for i, job in enumerate(windows)}
        for job in batch:
            if job.sample is None:
                pred = self._scorer.nobody(job.about, model_ms)
            else:
                scores = {label: float(p) for label, p in zip(labels, probs[row[id(job)]], strict=True)}
                sample = job.sample
                pred = self._scorer.person(job.about, sample.track_id, scores, sample.motion, model_ms)
            self._meter.prediction(pred.model_ms, pred.latency_ms)
            for sink in self._sinks:
                sink(pred)


def _latest_per_person(batch: list[Job]) -> list[Job]:
    """Live: only the newest window per person (and the newest 'nobody' frame) is worth scoring."""
    latest: dict[int | None, Job] = {}
    for job in batch:
        latest[None if job.sample is None else job.sample.track_id] = job
    return sorted(latest.values(), key=lambda job: job.about.frame_index)
