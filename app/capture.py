"""The capture stage: the one thread that touches the frame source.

It reads frames, drops corrupt ones, plays a recording at its own rate (``realtime``), replays it
(``loop``) or waits for a lost camera to come back (``retry``), and hands each frame to the pose
stage through a channel. Live, that channel is a slot of one: when pose is slower than the source,
only the newest frame waits, so the pipeline always works on the present (the app's one latest-frame
mechanism). :class:`SourceWatch` reports a source that went silent, seen from the stage that waits
for its frames, since a stalled source blocks this thread inside ``read``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np

from app.channels import POLL_S, RESET, Channel
from app.status import StatusBoard
from neuron_base.errors import one_line
from pose.errors import SourceError
from pose.sources import Frame, FrameSource

CAMERA_RETRY_S = 1.0
# A source silent this long (while not paused) is reported, and again when frames come back.
STALL_S = 2.0


class SourceWatch:
    """Says when the source has been silent for STALL_S while running, and when frames come back."""

    def __init__(self, board: StatusBoard, resume: threading.Event, name: Callable[[], str]) -> None:
        self._board = board
        self._resume = resume
        self._name = name
        self._last_frame = time.monotonic()
        self.stalled = False

    def restart(self) -> None:
        """The clock starts now (the pipeline starts)."""
        self._last_frame = time.monotonic()

    def arrived(self) -> None:
        """A frame (or marker) came from the source."""
        if self.stalled:
            self.stalled = False
            self._board.say("camera_back", f"{self._name()}: frames again")
        self._last_frame = time.monotonic()

    def silent(self) -> None:
        """Nothing came for a poll interval: report it once it has lasted STALL_S."""
        now = time.monotonic()
        if not self._resume.is_set():
            self._last_frame = now  # paused: silence is expected
        elif not self.stalled and now - self._last_frame > STALL_S:
            self.stalled = True
            self._board.say(
                "camera_lost", f"{self._name()}: no frames for {now - self._last_frame:.0f} s; waiting"
            )


class _Pacer:
    """Holds each recording frame until it is due by its media time, counting from the first frame
    read after a start, a pause or a reopened source."""

    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop
        self._clock: tuple[float, float] | None = None  # (monotonic, media time) pacing counts from

    def restart(self) -> None:
        self._clock = None

    def wait(self, t_media: float) -> bool:
        """Wait until the frame at ``t_media`` is due; False when the pipeline stopped meanwhile."""
        if self._clock is None:
            self._clock = (time.monotonic(), t_media)
        delay = self._clock[0] + (t_media - self._clock[1]) - time.monotonic()
        return not (delay > 0 and self._stop.wait(delay))


class Capture:
    """Reads ``source`` into ``out`` until it ends, ``max_frames`` were handed over, or ``stop``.

    ``reopen`` makes a fresh source: used when ``loop`` replays a recording and when a camera
    (``retry``) vanishes. ``realtime`` paces recordings at their own rate and stamps each frame when
    it is due. Without ``retry`` a source that breaks ends the stream (what was read is still
    scored) and ``error`` says why; ``ended`` is True once the stream ended by itself.
    """

    def __init__(
        self,
        source: FrameSource,
        out: Channel,
        stop: threading.Event,
        board: StatusBoard,
        *,
        resume: threading.Event | None = None,
        reopen: Callable[[], FrameSource] | None = None,
        realtime: bool = True,
        loop: bool = False,
        retry: bool = False,
        max_frames: int | None = None,
    ) -> None:
        self.source = source
        self.reopen = reopen
        self.realtime = realtime
        self.loop = loop
        self.retry = retry
        self.max_frames = max_frames
        self.captured = 0
        self.ended = False
        self.error: SourceError | None = None
        self._out = out
        self._stop = stop
        self._board = board
        if resume is None:
            resume = threading.Event()
            resume.set()
        self._resume = resume
        self.watch = SourceWatch(board, resume, lambda: self.source.name)

    def run(self) -> None:
        pacer = _Pacer(self._stop)
        try:
            while not self._stop.is_set():
                if not self._resume.is_set():
                    self._resume.wait(POLL_S)
                    pacer.restart()  # pacing starts afresh after a pause
                    continue
                try:
                    frame, reason = self.source.read(), "no more frames"
                except Exception as exc:  # a driver may raise anything; every kind means "the source broke"
                    error = exc if isinstance(exc, SourceError) else _source_error(self.source, exc)
                    if not self.retry:  # a broken recording ends the stream; what was read is still scored
                        self.error = error
                        self._board.say("error", str(error))
                        return
                    frame, reason = None, str(error)
                if frame is None:
                    if not self._next_source(reason):
                        return
                    pacer.restart()
                    continue
                problem = _frame_problem(frame)
                if problem is not None:  # a corrupt frame is dropped; the next one may be fine
                    self._board.fault("capture", f"{self.source.name}: {problem}")
                    continue
                if self.realtime and frame.t_media is not None:
                    if not pacer.wait(frame.t_media):
                        return
                    frame.restamp(time.monotonic())
                if not self._out.put(frame):
                    return
                self.captured += 1
                if self.max_frames is not None and self.captured >= self.max_frames:
                    self.ended = True
                    self._board.say(
                        "ended", f"{self.source.name}: stopped after {self.captured} frames (--max-frames)"
                    )
                    return
        finally:
            self._out.close()
            self.source.close()

    def _next_source(self, reason: str) -> bool:
        """After a source ended: wait for the camera to return, replay the recording, or end.
        False = the stream ends."""
        if self._stop.is_set():
            return False
        if self.retry and self.reopen is not None:
            self.source.close()
            self._board.say("camera_lost", f"{reason}; retrying every {CAMERA_RETRY_S:g} s")
            self.watch.stalled = True  # reported: the silence watch need not say it again
            while not self._stop.wait(CAMERA_RETRY_S):
                try:
                    self.source = self.reopen()
                except SourceError:
                    continue
                self.watch.stalled = False
                self._board.say("camera_back", f"{self.source.name}: frames again")
                return True
            return False
        if self.loop and self.reopen is not None:
            if not self.source.rewind():
                self.source.close()
                self.source = self.reopen()
            self._out.put(RESET)
            return True
        self.ended = True
        self._board.say("ended", f"{self.source.name}: ended")
        return False


def _source_error(source: FrameSource, exc: Exception) -> SourceError:
    """Whatever a driver raised, as one line naming the source."""
    return SourceError(f"{source.name}: {one_line(exc)}")


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
