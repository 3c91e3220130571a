"""The streaming pipeline, wired: capture -> pose -> window -> score -> sinks, one thread per stage.

```
source --Capture--> frames --PoseStage--> poses --WindowStage--> jobs --ScoreStage--> sinks
        (capture.py)         (stages.py)           (stages.py)          (stages.py, track_scoring.py)
```

Shared by the headless command line and the Qt window (no Qt here). Stages hand over through
bounded channels (:mod:`app.channels`). Live, every hand-over keeps only the newest items (``latest
wins``): a slow pose stage lowers the frame rate it sees, a slow model lowers the prediction rate,
and neither ever delays the video or lets memory grow. With ``lossless`` (``--fast`` on a
recording) the hand-overs block instead, so every frame and every window is processed, as fast as
the machine allows, and the output does not depend on timing.

Each frame keeps its capture stamp to the prediction it leads to, so latency is measured end to
end. Labels may change at any time (:mod:`app.label_swap`): live, a fifth thread encodes new labels
while predictions go on with the old set. ``stop`` ends every thread within a second and hands
every prediction made to the sinks first.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial

from app.capture import Capture
from app.channels import Channel
from app.label_swap import LabelSwap
from app.stages import Estimator, PoseStage, Recognizer, ScoreStage, WindowStage
from app.stats import Meter, Stats, View
from app.status import Status, StatusBoard
from app.track_scoring import DEFAULT_SCORING, Prediction, ScoringSettings, TrackScorer
from neuron_base.errors import NeuronLiveError
from pose.normalize import PREPROCESS, Preprocess
from pose.sources import FrameSource

__all__ = ["Estimator", "Pipeline", "Prediction", "Recognizer", "Stats", "Status", "View"]

log = logging.getLogger(__name__)

JOIN_TIMEOUT_S = 1.0
# Live: frames wait in a slot of one (latest wins); windows in a slot per person.
LIVE_FRAME_SLOTS = 1
# Lossless: enough to ride out a model hiccup, small enough that memory stays flat.
LOSSLESS_SLOTS = 8


class Pipeline:
    """Runs a source through pose, windows and the recogniser until it ends or ``stop`` is called.

    ``reopen`` makes a fresh source: used when ``loop`` replays a recording and when a camera
    (``retry``) vanishes. ``realtime`` paces recordings at their own rate. ``preprocess`` makes
    windows as the model was trained (the checkpoint's contract: window, crop, frame rate,
    normalisation). ``scoring``
    says how raw scores become predictions. Predictions go to every sink, on the recogniser thread,
    in order; a sink must be quick. ``estimator`` and ``sinks`` may be changed until ``start``.
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
        preprocess: Preprocess = PREPROCESS,
        rate: int = 4,
        scoring: ScoringSettings = DEFAULT_SCORING,
        max_frames: int | None = None,
        sinks: Sequence[Callable[[Prediction], None]] = (),
    ) -> None:
        self.recognizer = recognizer
        self.estimator = estimator
        self.sinks = list(sinks)
        self.lossless = lossless
        # A camera frame's time counts from the pipeline's making.
        self._window_stage = partial(WindowStage, preprocess=preprocess, rate=rate, t_start=time.monotonic())
        self._scoring = scoring
        self._stop = threading.Event()
        self._resume = threading.Event()
        self._resume.set()
        slots = LOSSLESS_SLOTS if lossless else LIVE_FRAME_SLOTS
        self._frames = Channel(slots, not lossless, self._stop)
        self._poses = Channel(LOSSLESS_SLOTS, not lossless, self._stop)
        self._jobs = Channel(LOSSLESS_SLOTS, not lossless, self._stop)
        self._board = StatusBoard()
        self._meter = Meter()
        self._labels = LabelSwap(recognizer, self._board.say)
        self._capture = Capture(
            source,
            self._frames,
            self._stop,
            self._board,
            resume=self._resume,
            reopen=reopen,
            realtime=realtime,
            loop=loop,
            retry=retry,
            max_frames=max_frames,
        )
        self._scoring_ended = threading.Event()  # the label thread has nobody left to serve
        self._threads: list[threading.Thread] = []
        self._failure: BaseException | None = None

    # -- the flow ------------------------------------------------------------------------------

    def start(self) -> Pipeline:
        # The stages are made here: the estimator and the sinks may change until now (the video
        # writer wraps the one and joins the other).
        stop = self._stop
        pose = PoseStage(
            self._frames,
            self._poses,
            stop,
            self.estimator,
            self._capture.watch,
            self._board,
            self._meter,
            lambda: self._capture.source.name,
        )
        window = self._window_stage(self._poses, self._jobs, stop)
        score = ScoreStage(
            self._jobs,
            stop,
            self.recognizer,
            self._labels,
            TrackScorer(self._scoring),
            self.sinks,
            self._board,
            self._meter,
            lossless=self.lossless,
        )
        stages: list[tuple[str, Callable[[], None]]] = [
            ("capture", self._capture.run),  # source -> frames
            ("pose", pose.run),  # frames -> poses
            ("window", window.run),  # poses -> windows
            ("recognize", lambda: self._score(score)),  # windows -> predictions -> sinks
        ]
        if not self.lossless:
            # New labels are scored at once on each person's last window, not at their next one.
            self._labels.after_swap = score.rescore_recent
            stages.append(("labels", lambda: self._labels.run(stop, self._scoring_ended)))
        self._capture.watch.restart()
        for name, target in stages:
            thread = threading.Thread(
                target=self._guard, args=(name, target), name=f"neuron-{name}", daemon=True
            )
            self._threads.append(thread)
            thread.start()
        return self

    def _score(self, stage: ScoreStage) -> None:
        try:
            stage.run()
        finally:
            self._scoring_ended.set()
            self._labels.wake()

    def _guard(self, name: str, target: Callable[[], None]) -> None:
        """Run a stage; an unexpected failure stops the whole pipeline with one clear message."""
        try:
            target()
        except Exception as exc:
            if self._failure is None:
                self._failure = exc
            if isinstance(exc, NeuronLiveError):  # ours: its message is the one line to show
                self._board.say("error", str(exc))
            else:
                log.exception("%s stage failed", name)
                self._board.say("error", f"{name} stage failed: {type(exc).__name__}: {exc}")
            self._stop.set()
            self._resume.set()
            self._close_channels()

    def _close_channels(self) -> None:
        for channel in (self._frames, self._poses, self._jobs):
            channel.close()

    # -- control -------------------------------------------------------------------------------

    def stop(self, timeout: float = JOIN_TIMEOUT_S) -> bool:
        """Stop every stage; True when all threads ended within ``timeout`` seconds in total."""
        self._stop.set()
        self._resume.set()
        self._labels.wake()
        self._capture.source.interrupt()
        self._close_channels()
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
        self._labels.request(labels)

    # -- what it reports -----------------------------------------------------------------------

    @property
    def source(self) -> FrameSource:
        """The source being read now (a fresh one after a replay or a reconnect)."""
        return self._capture.source

    @property
    def error(self) -> BaseException | None:
        """Why the stream ended early: the source broke (no retry), or a stage failed."""
        return self._capture.error or self._failure

    @property
    def ended(self) -> bool:
        """The stream ended by itself (the recording's end, or ``max_frames``)."""
        return self._capture.ended

    @property
    def labels_pending(self) -> bool:
        """Whether a label change is still being encoded (not yet scored)."""
        return self._labels.pending

    @property
    def labels(self) -> list[str]:
        return self._labels.requested

    def view(self) -> View | None:
        return self._meter.view()

    def stats(self) -> Stats:
        return self._meter.stats(dropped_frames=self._frames.dropped)

    def poll_status(self) -> list[Status]:
        """Messages since the last call, oldest first."""
        return self._board.poll()

    def faults(self) -> dict[str, int]:
        """Frames or windows lost so far, per stage (capture, pose, model)."""
        return self._board.faults()
