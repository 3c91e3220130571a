"""SlidingWindow on synthetic pose streams: time-based resampling, stride, staleness, motion."""

from __future__ import annotations

import numpy as np
import pytest

from pose.estimator import PersonPose, PoseResult
from pose.normalize import normalize_window
from pose.window import SlidingWindow

REST = np.random.default_rng(0).uniform(-0.3, 0.3, (25, 3)).astype(np.float32)


def moving_pose(t: float) -> np.ndarray:
    """A body whose joints each sway on a smooth 0.7 Hz curve (phase by joint)."""
    phase = np.arange(25)[:, None] * 0.3 + np.arange(3)[None, :]
    return (REST + 0.2 * np.sin(2 * np.pi * 0.7 * t + phase)).astype(np.float32)


def result(index: int, t: float, persons: dict[int, np.ndarray], media: bool = False) -> PoseResult:
    people = [PersonPose(k, joints, np.zeros((25, 2), np.float32), 1.0) for k, joints in persons.items()]
    return PoseResult(index, 1000.0 + t if media else t, people, 20.0, t_media=t if media else None)


def stream(window: SlidingWindow, fps: float, seconds: float, start: float = 0.0) -> list:
    samples = []
    for i in range(int(round(seconds * fps))):
        t = start + i / fps
        samples += window.push(result(i, t, {1: moving_pose(t)}))
    return samples


def test_any_frame_rate_covers_the_same_time() -> None:
    last = {}
    for fps in (15.0, 30.0):
        samples = stream(SlidingWindow(stride=1), fps, seconds=3.0 + 1 / fps)
        last[fps] = samples[-1]
    a, b = last[15.0], last[30.0]
    assert a.seconds == pytest.approx(2.2) and b.seconds == pytest.approx(2.2)
    assert a.t_capture == pytest.approx(b.t_capture)  # same instant, 3 s in
    assert a.data.shape == b.data.shape == (3, 64, 25, 2) and a.data.dtype == np.float32
    # The same motion sampled at two rates gives nearly the same window.
    assert np.abs(a.data - b.data).max() < 0.02
    # ... and differs from a window of a different stretch of time.
    shifted = stream(SlidingWindow(stride=1), 30.0, seconds=3.5 + 1 / 30)[-1]
    assert np.abs(shifted.data - b.data).max() > 0.1


def test_stride_and_min_seconds() -> None:
    window = SlidingWindow(stride=4, min_seconds=1.0)
    emitted = []
    for i in range(90):
        t = i / 30
        for sample in window.push(result(i, t, {1: moving_pose(t)})):
            emitted.append(sample.frame_index)
    assert emitted[0] >= 30  # nothing before one second of history
    assert all(index % 4 == 3 for index in emitted)  # the 4th, 8th ... frame of the track
    assert np.all(np.diff(emitted) == 4)
    assert emitted[-1] == 87


def test_sample_is_normalised_single_person() -> None:
    sample = stream(SlidingWindow(), 30.0, seconds=2.5)[-1]
    assert sample.track_id == 1 and sample.frame_index == 71
    assert np.all(sample.data[..., 1] == 0)  # the second person slot is empty
    # At 30 fps the 30 Hz grid hits the frames themselves: the last 2.2 s are frames 5 ... 71, and
    # the sample must be exactly what THE normalisation makes of them.
    joints = np.zeros((67, 2, 25, 3), np.float32)
    joints[:, 0] = [moving_pose(i / 30) for i in range(5, 72)]
    valid = np.zeros((67, 2), bool)
    valid[:, 0] = True
    np.testing.assert_allclose(sample.data, normalize_window((joints, valid)), atol=1e-5)


def test_stale_tracks_are_dropped() -> None:
    window = SlidingWindow(stale_seconds=0.5, min_seconds=0.5, stride=1)
    for i in range(30):
        window.push(result(i, i / 30, {1: moving_pose(i / 30), 2: moving_pose(i / 30)}))
    assert window.track_ids == [1, 2]
    for i in range(30, 60):  # person 1 leaves
        window.push(result(i, i / 30, {2: moving_pose(i / 30)}))
    assert window.track_ids == [2]
    # Coming back, person 1 starts from scratch: no sample before min_seconds again.
    back = [window.push(result(i, i / 30, {1: moving_pose(i / 30)})) for i in range(60, 70)]
    assert not any(s.track_id == 1 for samples in back for s in samples)
    assert window.track_ids == [1, 2]  # person 2 was seen 0.33 s ago: not stale yet
    window.push(result(80, 80 / 30, {}))
    assert window.track_ids == [1]
    window.push(result(100, 100 / 30, {}))
    assert window.track_ids == []


def test_history_is_bounded() -> None:
    window = SlidingWindow(seconds=2.0)
    stream(window, 30.0, seconds=20.0)
    assert len(window._tracks[1].times) <= 2.0 * 30 + 2


def test_motion_is_near_zero_when_still_and_measures_speed() -> None:
    window = SlidingWindow(stride=1)
    still = [window.push(result(i, i / 30, {1: REST})) for i in range(60)][-1][0]
    assert still.motion < 1e-6
    window = SlidingWindow(stride=1)
    samples = []
    for i in range(60):  # every joint moves at 0.5 m/s along x, with 5 mm of jitter
        t = i / 30
        jitter = np.random.default_rng(i).normal(0, 0.005, (25, 3))
        samples += window.push(result(i, t, {1: REST + np.array([0.5 * t, 0, 0]) + jitter}))
    assert samples[-1].motion == pytest.approx(0.5, abs=0.05)


def test_media_time_wins_and_a_restart_is_survived() -> None:
    window = SlidingWindow(stride=1, min_seconds=1.0)
    # A recording processed in a burst: capture stamps 1 ms apart, media time 1/30 s apart.
    samples = []
    for i in range(40):
        r = result(i, i / 30, {1: moving_pose(i / 30)}, media=True)
        r.t_capture = 5000.0 + i * 0.001
        samples += window.push(r)
    assert samples and samples[-1].seconds == pytest.approx(39 / 30)
    assert samples[-1].t_capture == pytest.approx(5000.039)
    # The replay loops: media time jumps back to 0; history restarts instead of breaking.
    again = [window.push(result(i, i / 30, {1: moving_pose(i / 30)}, media=True)) for i in range(10)]
    assert not any(again)
    assert window.track_ids == [1]


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        SlidingWindow(stride=0)
    with pytest.raises(ValueError):
        SlidingWindow(seconds=1.0, min_seconds=2.0)
    with pytest.raises(ValueError, match="rate=0"):
        SlidingWindow(rate=0)


def test_windows_resample_at_the_contract_frame_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    """The history is resampled on the checkpoint's frame-rate grid before normalisation."""
    import pose.window as pw

    grids: list[float] = []
    original = pw._Track.resample
    monkeypatch.setattr(
        pw._Track, "resample", lambda self, span, rate: grids.append(rate) or original(self, span, rate)
    )
    for rate in (15.0, 30.0):
        stream(SlidingWindow(stride=1, rate=rate), 30.0, seconds=1.5)
    assert set(grids) == {15.0, 30.0}
