"""Rates and timings for the status bar, and the frame the screen shows now.

The pose stage reports each frame it processed and the scoring stage each prediction; readers (the
GUI's timer, a benchmark) take a consistent copy at any time from another thread.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, replace

from pose.estimator import PoseResult
from pose.sources import Frame

# The frame rate is counted over this many seconds of frames: smooth, yet quick to follow a change.
STATS_SPAN_S = 2.0
# Weight of the newest timing in the moving averages.
EMA_WEIGHT = 0.2


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


class _Ema:
    def __init__(self) -> None:
        self.value = 0.0
        self._seeded = False

    def add(self, x: float) -> float:
        self.value = x if not self._seeded else (1 - EMA_WEIGHT) * self.value + EMA_WEIGHT * x
        self._seeded = True
        return self.value


class Meter:
    """Counts frames and predictions as they pass; ``stats`` and ``view`` are safe from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._frame_times: deque[float] = deque()
        self._pose_ms, self._model_ms, self._latency_ms = _Ema(), _Ema(), _Ema()
        self._stats = Stats()
        self._view: View | None = None

    def frame(self, frame: Frame, result: PoseResult) -> None:
        """A frame went through pose: it is now the one on screen."""
        now = time.monotonic()
        with self._lock:
            self._frame_times.append(now)
            while self._frame_times and self._frame_times[0] < now - STATS_SPAN_S:
                self._frame_times.popleft()
            span = self._frame_times[-1] - self._frame_times[0]
            self._stats.fps = (len(self._frame_times) - 1) / span if span > 0 else 0.0
            self._stats.frames += 1
            self._stats.pose_ms = self._pose_ms.add(result.pose_ms)
            self._view = View(frame, result)

    def prediction(self, model_ms: float, latency_ms: float) -> None:
        """A prediction went to the sinks (``model_ms`` 0: no model call behind it)."""
        with self._lock:
            self._stats.predictions += 1
            if model_ms:
                self._stats.model_ms = self._model_ms.add(model_ms)
            self._stats.latency_ms = self._latency_ms.add(latency_ms)

    def stats(self, dropped_frames: int) -> Stats:
        """A copy of the figures now, with the frames the capture hand-over dropped so far."""
        with self._lock:
            return replace(self._stats, dropped_frames=dropped_frames)

    def view(self) -> View | None:
        with self._lock:
            return self._view
