"""PoseEstimator: MediaPipe on real video, NTU-25 anatomy, tracking, and survival of bad frames."""

from __future__ import annotations

import logging
import time
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

import pose.backends.mediapipe as mediapipe_backend
from pose.backends.mediapipe import pose_landmarker_bundle
from pose.errors import PoseError
from pose.estimator import PoseEstimator, PoseResult
from pose.layouts import NTU25_BONES, J
from pose.sources import Frame, VideoSource
from pose.window import SlidingWindow
from tests.conftest import FakeBackend, fake_pose, shared_path

NTU_CLIP = ("media", "mmaction2_ntu_sample.avi")


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("neuron-live-cache")


@pytest.fixture(scope="module")
def estimator(bundle_dir: Path):
    with PoseEstimator(max_persons=2, bundle_dir=bundle_dir) as est:
        yield est


@pytest.fixture(scope="module")
def clip_results(estimator: PoseEstimator) -> list[PoseResult]:
    with VideoSource(shared_path(*NTU_CLIP)) as source:
        return [estimator.process(frame) for frame in source]


def frame_of(image: np.ndarray, index: int = 0) -> Frame:
    return Frame(image, index, time.monotonic(), None)


@pytest.mark.slow
def test_tasks_route_works_offline(estimator: PoseEstimator, bundle_dir: Path) -> None:
    assert estimator.backend_name == "tasks"
    bundles = list(bundle_dir.glob("*.task"))
    assert len(bundles) == 1
    with zipfile.ZipFile(bundles[0]) as zf:
        assert sorted(zf.namelist()) == ["pose_detector.tflite", "pose_landmarks_detector.tflite"]


@pytest.mark.slow
def test_finds_a_person_in_most_frames(clip_results: list[PoseResult]) -> None:
    assert len(clip_results) == 72
    found = sum(1 for r in clip_results if r.persons)
    assert found >= 0.9 * 72
    assert all(len(r.persons) <= 2 for r in clip_results)
    assert all(r.pose_ms > 0 for r in clip_results)
    assert [r.frame_index for r in clip_results] == list(range(72))
    for r in clip_results:
        for p in r.persons:
            assert p.joints.shape == (25, 3) and p.joints.dtype == np.float32
            assert p.image_xy.shape == (25, 2)
            assert np.isfinite(p.joints).all() and np.isfinite(p.image_xy).all()
            assert 0.0 <= p.visibility <= 1.0


def bone(joints: np.ndarray, a: str, b: str) -> np.ndarray:
    return np.linalg.norm(joints[..., J[a], :] - joints[..., J[b], :], axis=-1)


@pytest.mark.slow
def test_skeleton_is_anatomically_right(clip_results: list[PoseResult]) -> None:
    joints = np.array([p.joints for r in clip_results for p in r.persons])
    for side in ("left", "right"):
        upper_arm = np.median(bone(joints, f"{side}_shoulder", f"{side}_elbow"))
        forearm = np.median(bone(joints, f"{side}_elbow", f"{side}_wrist"))
        thigh = np.median(bone(joints, f"{side}_hip", f"{side}_knee"))
        shin = np.median(bone(joints, f"{side}_knee", f"{side}_ankle"))
        assert 0.15 <= upper_arm <= 0.45, upper_arm
        assert 0.15 <= forearm <= 0.40, forearm
        assert 0.25 <= thigh <= 0.60, thigh
        assert 0.25 <= shin <= 0.60, shin
    # Every bone of the tree is shorter than any human bone could be long.
    lengths = np.stack([np.linalg.norm(joints[:, c] - joints[:, p], axis=-1) for c, p in NTU25_BONES], 1)
    assert np.median(lengths, axis=0).max() < 0.65
    # Kinect axes: y up, so the head is well above the spine base (standing people).
    assert np.median(joints[:, J["head"], 1] - joints[:, J["spine_base"], 1]) > 0.4


@pytest.mark.slow
def test_head_above_spine_base_after_normalisation(clip_results: list[PoseResult]) -> None:
    window = SlidingWindow(stride=8)
    samples = [s for r in clip_results for s in window.push(r)]
    assert samples
    for sample in samples:
        person = sample.data[..., 0]  # (3, T, 25)
        assert np.all(person[1, :, J["head"]] > person[1, :, J["spine_base"]] + 0.3)


@pytest.mark.slow
def test_track_ids_are_stable(clip_results: list[PoseResult]) -> None:
    """Two persons hug in this clip and MediaPipe sometimes reports one, sometimes the other: each
    id must keep following one body (no jump of the hips between consecutive sightings)."""
    tracks: dict[int, list[tuple[int, np.ndarray]]] = {}
    for r in clip_results:
        for p in r.persons:
            hips = p.image_xy[J["spine_base"]] * (16 / 9, 1)  # in image heights
            tracks.setdefault(p.track_id, []).append((r.frame_index, hips))
    assert 1 <= len(tracks) <= 2
    assert max(len(v) for v in tracks.values()) >= 36
    for sightings in tracks.values():
        for (i, a), (j, b) in zip(sightings, sightings[1:], strict=False):
            if j == i + 1:
                assert np.linalg.norm(a - b) < 0.1, (i, j)  # a swap of bodies is about 0.2


@pytest.mark.slow
def test_tasks_matches_legacy_and_left_is_left(bundle_dir: Path) -> None:
    image = cv2.imread(str(shared_path("media", "grace_hopper.jpg")))
    with PoseEstimator(max_persons=1, bundle_dir=bundle_dir) as tasks:
        a = tasks.process(frame_of(image)).persons
    with PoseEstimator(max_persons=1, backend="legacy") as legacy:
        assert legacy.backend_name == "legacy"
        b = legacy.process(frame_of(image)).persons
    assert len(a) == len(b) == 1
    assert np.abs(a[0].joints - b[0].joints).max() < 0.01  # metres
    # Image joints agree too; the least sure ones (her elbows, outside the portrait) by a little less.
    image_diff = np.abs(a[0].image_xy - b[0].image_xy)
    assert np.median(image_diff) < 0.002 and image_diff.max() < 0.03
    # As in the Kinect recordings, a person facing the camera has the left shoulder at smaller x;
    # in the unmirrored image her left shoulder is on the image's right.
    p = a[0]
    assert p.joints[J["left_shoulder"], 0] < p.joints[J["right_shoulder"], 0] - 0.15
    assert p.image_xy[J["left_shoulder"], 0] > p.image_xy[J["right_shoulder"], 0]


def test_bundle_is_cached_and_rebuilt_when_damaged(tmp_path: Path) -> None:
    first = pose_landmarker_bundle(tmp_path)
    stamp = first.stat().st_mtime_ns
    assert pose_landmarker_bundle(tmp_path) == first and first.stat().st_mtime_ns == stamp
    first.write_bytes(b"garbage")
    again = pose_landmarker_bundle(tmp_path)
    assert zipfile.is_zipfile(again)
    assert not list(tmp_path.glob("*.tmp"))


def test_falls_back_to_legacy_when_tasks_fails(monkeypatch, caplog, tmp_path: Path) -> None:
    def broken(directory=None):
        raise OSError("disk full")

    monkeypatch.setattr(mediapipe_backend, "pose_landmarker_bundle", broken)
    with caplog.at_level(logging.WARNING, logger="pose.estimator"):
        with PoseEstimator(max_persons=1) as est:
            assert est.backend_name == "legacy"
    assert "disk full" in caplog.text
    with pytest.raises(PoseError, match="disk full"):
        PoseEstimator(backend="tasks")


@pytest.fixture
def fake(monkeypatch) -> tuple[PoseEstimator, FakeBackend]:
    backend = FakeBackend()
    monkeypatch.setattr(PoseEstimator, "_create", staticmethod(lambda *args: backend))
    return PoseEstimator(max_persons=3, search_every_s=None), backend  # every frame searched


BLANK = np.zeros((100, 100, 3), np.uint8)


def test_nan_landmarks_yield_no_person(fake, caplog) -> None:
    est, backend = fake
    world, image = fake_pose(0.5)
    world[3, 1] = np.nan
    backend.poses = [(world, image)]
    with caplog.at_level(logging.WARNING, logger="pose.estimator"):
        result = est.process(Frame(BLANK, 0, 0.0, 0.0))
    assert result.persons == []
    assert "non-finite" in caplog.text


def test_a_failing_frame_yields_no_person_and_the_next_works(fake, caplog) -> None:
    est, backend = fake
    backend.error = RuntimeError("graph exploded")
    with caplog.at_level(logging.WARNING, logger="pose.estimator"):
        assert est.process(Frame(BLANK, 0, 0.0, 0.0)).persons == []
    assert "graph exploded" in caplog.text
    backend.error = None
    backend.poses = [fake_pose(0.5)]
    persons = est.process(Frame(BLANK, 1, 0.1, 0.1)).persons
    assert len(persons) == 1 and np.isfinite(persons[0].joints).all()
    # A frame that is not an image at all is one bad frame too.
    assert est.process(Frame(np.zeros((3,), np.uint8), 2, 0.2, 0.2)).persons == []


def test_timestamps_strictly_increase(fake) -> None:
    est, backend = fake
    for t in (0.0, 0.0, 0.0004, 1.0, 0.5):  # repeats, sub-millisecond steps, a restart
        est.process(Frame(BLANK, 0, t, t))
    assert np.all(np.diff(backend.stamps) > 0)


def test_a_recording_that_restarts_keeps_the_detector_clock_at_frame_pace(fake) -> None:
    """A looped recording starts its media time again at 0: the detector's clock goes on one frame
    interval later, not 1 ms a frame (which held back MediaPipe's tracking and the followers'
    searches, timed on it, for as long as the recording had lasted)."""
    est, backend = fake
    times = [k / 25.0 for k in range(50)]  # two seconds at 25 fps, then again from 0
    for t in times + times[:10]:
        est.process(Frame(BLANK, 0, t, t))
    stamps = np.diff(backend.stamps)
    assert np.all(stamps > 0)
    assert stamps.tolist() == [40] * (len(times) + 9)


def test_tracking_follows_people_and_drops_duplicates(fake) -> None:
    est, backend = fake

    def ids(t: float, *xs: float) -> list[tuple[float, int]]:
        backend.poses = [fake_pose(x) for x in xs]
        persons = est.process(Frame(BLANK, 0, t, t)).persons
        return sorted((round(float(p.image_xy[J["spine_base"], 0]), 2), p.track_id) for p in persons)

    assert ids(0.0, 0.2, 0.7) == [(0.2, 1), (0.7, 2)]
    assert ids(0.1, 0.72, 0.22) == [(0.22, 1), (0.72, 2)]  # reported in the other order
    assert ids(0.2, 0.22, 0.72, 0.721) == [(0.22, 1), (0.72, 2)]  # one body reported twice
    assert ids(0.3, 0.45) == [(0.45, 3)]  # too far from both: someone new
    assert ids(2.0, 0.22) == [(0.22, 4)]  # everyone forgotten after the timeout
