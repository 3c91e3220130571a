"""Per-person sliding windows over live poses, ready for the model.

Each tracked person keeps a short history of (time, joints). Every ``stride`` frames the last
``seconds`` of it are resampled on a fixed grid by their timestamps, at the checkpoint's frame rate
(30 Hz: the NTU recordings the model learnt from; :class:`pose.normalize.Preprocess`), so a 15 fps
webcam, a 60 fps one and a video replayed faster than real time all give windows covering the same
stretch of time, and then normalised by :func:`pose.normalize.contract_window`, the very
normalisation training and evaluation use.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from pose.estimator import PoseResult
from pose.layouts import NUM_JOINTS
from pose.normalize import PREPROCESS, Preprocess, contract_window
from pose.skeleton import MAX_PERSONS

# The rate windows are resampled to before normalisation unless a checkpoint says otherwise.
RESAMPLE_HZ = PREPROCESS.frame_rate
# Speeds are measured over this lag, not frame to frame, so pose jitter barely counts as motion.
MOTION_LAG_S = 0.2
# A person's first window comes once this much of them has been seen (SlidingWindow's default).
MIN_SECONDS = 1.0
# Seconds a live window covers (SlidingWindow's default; measured against 2.9 and 3.8 s in
# docs/VIDEO_BENCHMARK.md).
WINDOW_SECONDS = 2.2
# A bound on any history, whatever the timestamps say: seconds at a camera rate no one has.
MAX_HZ = 240.0


@dataclass
class WindowSample:
    """One model input for one person.

    ``data`` is (3, window, 25, 2) float32 from normalize_window (this person in slot 0, slot 1
    empty: MediaPipe world joints are each centred on their own hips, so two persons' relative
    placement is unknown); ``t_capture`` and ``frame_index`` are those of the newest frame in it;
    ``motion`` is the mean joint speed over the window in m/s relative to the hips, near 0 for a
    person standing still; ``seconds`` the span of time the window covers.
    """

    track_id: int
    data: np.ndarray
    t_capture: float
    frame_index: int
    motion: float
    seconds: float


def _motion(joints: np.ndarray, rate: float) -> float:
    """How much a person moves (m/s): articulation and travel combined as one speed.

    Articulation is the mean joint speed relative to the spine base, each joint's displacement over
    MOTION_LAG_S. Travel is the spine base's speed between the mean of the first and of the last
    quarter of the window: averaging over many frames keeps the depth jitter of a live camera-space
    root (a few cm per frame) from reading as motion, while a walk still counts. They are combined
    like the components of a velocity.
    """
    lag = min(max(int(round(MOTION_LAG_S * rate)), 1), len(joints) - 1)
    if lag < 1:
        return 0.0
    root = joints[:, :1]
    local = joints - root
    articulation = float(np.linalg.norm(local[lag:] - local[:-lag], axis=-1).mean() * rate / lag)
    quarter = max(len(joints) // 4, 1)
    elapsed = (len(joints) - quarter) / rate
    travel = float(np.linalg.norm(root[-quarter:, 0].mean(0) - root[:quarter, 0].mean(0)) / elapsed)
    return float(np.hypot(articulation, travel))


class _Track:
    """History of one person: times on the result clock, joints (25, 3), bounded in time and length."""

    def __init__(self, maxlen: int) -> None:
        self.times: deque[float] = deque(maxlen=maxlen)
        self.joints: deque[np.ndarray] = deque(maxlen=maxlen)
        self.pushed = 0

    def add(self, t: float, joints: np.ndarray, keep_seconds: float) -> None:
        # The same instant twice keeps the newer pose (push drops a track whose clock went back).
        if self.times and t <= self.times[-1]:
            self.times.pop()
            self.joints.pop()
        self.times.append(t)
        self.joints.append(np.asarray(joints, np.float32))
        self.pushed += 1
        # Keep one sample older than the span so the window's first instant can be interpolated.
        while len(self.times) > 2 and self.times[1] <= t - keep_seconds:
            self.times.popleft()
            self.joints.popleft()

    def span(self) -> float:
        return self.times[-1] - self.times[0] if self.times else 0.0

    def resample(self, span: float, rate: float) -> np.ndarray:
        """Joints (N, 25, 3) about ``rate`` Hz apart over the last ``span`` seconds (<= ``span()``)."""
        times = np.fromiter(self.times, np.float64, len(self.times))
        joints = np.stack(self.joints).reshape(len(times), -1)
        grid = np.linspace(times[-1] - span, times[-1], int(round(span * rate)) + 1)
        out = np.stack([np.interp(grid, times, joints[:, k]) for k in range(joints.shape[1])], axis=1)
        return out.reshape(len(grid), NUM_JOINTS, 3).astype(np.float32)


class SlidingWindow:
    """Turns a stream of PoseResults into per-person WindowSamples.

    A person's first sample comes once ``min_seconds`` of history exist, then one every ``stride``
    frames of that person; the window covers the last ``seconds`` (less while history is shorter).
    A track not seen for ``stale_seconds`` is dropped. Times are the results' media time where
    they have one, else capture time. ``window``, ``crop`` and ``rate`` are the checkpoint's
    contract (:class:`pose.normalize.Preprocess`): the same windows as evaluation; ``normalisation``
    too (``preprocess`` gives all four at once, as a checkpoint holds them).
    """

    def __init__(
        self,
        window: int = PREPROCESS.window,
        seconds: float = WINDOW_SECONDS,
        stride: int = 4,
        min_seconds: float = MIN_SECONDS,
        stale_seconds: float = 1.0,
        crop: float = PREPROCESS.test_crop,
        rate: float = PREPROCESS.frame_rate,
        normalisation: str = PREPROCESS.normalisation,
    ) -> None:
        bad = window < 2 or stride < 1 or seconds <= 0 or not 0 <= min_seconds <= seconds
        if bad or stale_seconds <= 0 or rate <= 0:
            raise ValueError(
                f"bad window settings: window={window}, seconds={seconds}, stride={stride}, "
                f"min_seconds={min_seconds}, stale_seconds={stale_seconds}, rate={rate}"
            )
        # The checkpoint's contract as one value: windows are then made by the same call as
        # evaluation's (pose.normalize.contract_window).
        self.preprocess = Preprocess(
            window=window, test_crop=crop, frame_rate=rate, normalisation=normalisation
        )
        self.seconds = seconds
        self.stride = stride
        self.min_seconds = min_seconds
        self.stale_seconds = stale_seconds
        self._maxlen = int(seconds * MAX_HZ) + 2
        self._tracks: dict[int, _Track] = {}

    @classmethod
    def for_contract(
        cls, preprocess: Preprocess, stride: int, seconds: float = WINDOW_SECONDS
    ) -> SlidingWindow:
        """Windows as a checkpoint's contract says (window, crop, frame rate, normalisation), one
        every ``stride`` frames of a person: the app's window stage and the tools that re-score it."""
        return cls(
            window=preprocess.window,
            seconds=seconds,
            stride=stride,
            crop=preprocess.test_crop,
            rate=preprocess.frame_rate,
            normalisation=preprocess.normalisation,
        )

    @property
    def track_ids(self) -> list[int]:
        """Ids of the persons currently held."""
        return sorted(self._tracks)

    def reset(self) -> None:
        """Forget every person (a new source, a new session)."""
        self._tracks.clear()

    def push(self, result: PoseResult) -> list[WindowSample]:
        """Add one frame's persons; return the samples due now (possibly none)."""
        now = result.t
        for track_id, track in list(self._tracks.items()):
            if not now - self.stale_seconds <= track.times[-1] <= now:  # stale, or the clock went back
                del self._tracks[track_id]
        samples = []
        for person in result.persons:
            track = self._tracks.setdefault(person.track_id, _Track(self._maxlen))
            track.add(now, person.joints, self.seconds)
            if track.pushed % self.stride == 0 and track.span() >= self.min_seconds - 1e-6:
                samples.append(self._sample(person.track_id, track, result))
        return samples

    def _sample(self, track_id: int, track: _Track, result: PoseResult) -> WindowSample:
        seconds = min(self.seconds, track.span())
        joints = track.resample(seconds, self.preprocess.frame_rate)
        motion = _motion(joints, self.preprocess.frame_rate)
        full = np.zeros((len(joints), MAX_PERSONS, NUM_JOINTS, 3), np.float32)
        full[:, 0] = joints
        valid = np.zeros((len(joints), MAX_PERSONS), bool)
        valid[:, 0] = True
        data = contract_window((full, valid), self.preprocess)
        return WindowSample(track_id, data, result.t_capture, result.frame_index, motion, seconds)
