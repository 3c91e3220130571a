"""Choosing the people a user means in a crowd, and keeping their ids when people cross."""

from __future__ import annotations

import numpy as np

import pose.estimator as estimator_module
from pose.estimator import PoseEstimator, default_candidates, prominence
from pose.layouts import J
from pose.sources import Frame
from tests.conftest import FakeBackend, fake_pose

BLANK = np.zeros((100, 100, 3), np.uint8)


def cut_off(pose: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The same body, half of it beyond the picture's right edge and unseen."""
    world, image = pose
    image = image.copy()
    half = image[:, 0] > np.median(image[:, 0])
    image[half, 0] += 0.1
    image[half, 3] = 0.1
    return world, image


def hips_x(person) -> float:
    return round(float(person.image_xy[J["spine_base"], 0]), 2)


def test_asks_mediapipe_for_more_people_than_it_tracks() -> None:
    backend = FakeBackend()
    est = PoseEstimator(max_persons=2, detector=backend)
    assert est.candidates == default_candidates(2) > 2
    assert est.detector_settings["num_poses"] == est.candidates


def test_prominence_prefers_large_whole_central_bodies() -> None:
    near = prominence(fake_pose(0.5, 0.8, 0.3)[1], 1.0)
    assert near > prominence(fake_pose(0.5, 0.4, 0.08)[1], 1.0)  # small: far away
    assert near > prominence(cut_off(fake_pose(0.9, 0.8, 0.3))[1], 1.0)  # half out of the picture
    assert near > prominence(fake_pose(0.05, 0.8, 0.3)[1], 1.0)  # at the edge


def test_the_prominent_people_are_picked_and_keep_their_ids() -> None:
    """MediaPipe lists two small background people first (its own ranking): the person in front and
    the one walking past are the ones tracked, frame after frame, under the same ids."""
    backend = FakeBackend()
    est = PoseEstimator(max_persons=2, detector=backend, camera_space=False)
    seen: list[list[tuple[float, int]]] = []
    for k in range(30):
        t = k / 30.0
        walker_x = 0.15 + 0.25 * t  # walks at a quarter of the picture a second
        backend.poses = [
            fake_pose(0.2, 0.35, 0.06),  # far behind, left
            fake_pose(0.8, 0.35, 0.06),  # far behind, right
            cut_off(fake_pose(0.93, 0.85, 0.3)),  # close, but mostly out of the picture
            fake_pose(0.55, 0.85, 0.3),  # in front, central
            fake_pose(walker_x, 0.7, 0.18),  # walking past
        ]
        persons = est.process(Frame(BLANK, k, t, t)).persons
        seen.append(sorted((hips_x(p), p.track_id) for p in persons))
    for k, frame in enumerate(seen):
        walker_x = 0.15 + 0.25 * k / 30.0
        assert np.allclose([x for x, _ in frame], [walker_x, 0.55], atol=0.011), f"frame {k}: {frame}"
    ids = {track_id for frame in seen for _, track_id in frame}
    assert len(ids) == 2, f"ids changed: {seen}"


def crossing_tracks(est: PoseEstimator, backend: FakeBackend) -> list[list[float]]:
    """Two people pass each other (10 frames a second, 0.7 picture widths a second), the near one
    left to right, the far one right to left: each track's hip positions, in order."""
    tracks: dict[int, list[float]] = {}
    for k in range(8):
        t = k / 10.0
        backend.poses = [fake_pose(0.255 + 0.07 * k, 0.70, 0.25), fake_pose(0.745 - 0.07 * k, 0.66, 0.15)]
        for person in est.process(Frame(BLANK, k, t, t)).persons:
            tracks.setdefault(person.track_id, []).append(hips_x(person))
    return sorted(tracks.values())


def test_ids_follow_two_people_who_cross(monkeypatch) -> None:
    """At the crossing each is nearer the other's last position than its own: matching to where
    each track is heading keeps the ids right; matching to where it was swaps them."""
    backend = FakeBackend()
    near = [0.255 + 0.07 * k for k in range(8)]
    far = [0.745 - 0.07 * k for k in range(8)]

    def right(tracks: list[list[float]]) -> bool:
        return [len(t) for t in tracks] == [8, 8] and np.allclose(tracks, sorted([near, far]), atol=0.011)

    tracks = crossing_tracks(PoseEstimator(max_persons=2, detector=backend, camera_space=False), backend)
    assert right(tracks), tracks
    monkeypatch.setattr(estimator_module, "MAX_PREDICT_S", 0.0)  # no prediction: the old tracker
    backend = FakeBackend()
    tracks = crossing_tracks(PoseEstimator(max_persons=2, detector=backend, camera_space=False), backend)
    assert not right(tracks)


def test_a_body_that_jumps_keeps_its_id_unless_someone_else_could_be_it() -> None:
    """Landmarks jump after a missed frame or a half-hidden body: alone, the body keeps its id within
    a looser gate; with a rival near, the tight gate decides and the newcomer gets a new id."""
    backend = FakeBackend()
    est = PoseEstimator(max_persons=2, detector=backend, camera_space=False)

    def ids(t: float, *xs: float) -> list[int]:
        backend.poses = [fake_pose(x, 0.7, 0.2) for x in xs]
        return [p.track_id for p in sorted(est.process(Frame(BLANK, 0, t, t)).persons, key=hips_x)]

    assert ids(0.0, 0.3) == [1]
    assert ids(0.1, 0.44) == [1]  # 0.7 torso lengths away, nobody else: the same person
    assert ids(0.2, 0.44, 0.6) == [1, 2]  # 0.8 torso lengths from the first: someone new
    assert ids(0.3, 0.6) == [2]  # the first is not seen; the second is where it was
    assert ids(0.4, 0.9) == [3]  # 1.5 torso lengths away: beyond even the looser gate


def test_a_person_unseen_for_a_frame_is_held_and_keeps_their_place() -> None:
    """MediaPipe misses the person in front for a frame (or pose.follow looks at them on the next
    frame only): they stay in view as last seen (``held``, drawn and counted, not a new pose for the
    windows) and keep their place against a bystander; unseen for longer than HOLD_S, they are gone."""
    backend = FakeBackend()
    est = PoseEstimator(max_persons=2, detector=backend, camera_space=False, smooth=False)
    front, walker = fake_pose(0.55, 0.85, 0.3), fake_pose(0.25, 0.7, 0.18)
    bystander = fake_pose(0.85, 0.4, 0.06)
    backend.poses = [front, walker, bystander]
    first = est.process(Frame(BLANK, 0, 0.0, 0.0))
    assert [hips_x(p) for p in first.persons] == [0.55, 0.25] and first.held == []
    ids = {hips_x(p): p.track_id for p in first.persons}
    backend.poses = [walker, bystander]  # the person in front unseen
    missed = est.process(Frame(BLANK, 1, 1 / 30, 1 / 30))
    assert [hips_x(p) for p in missed.persons] == [0.25]  # the bystander does not take the place
    assert [(hips_x(p), p.track_id) for p in missed.held] == [(0.55, ids[0.55])]
    np.testing.assert_array_equal(missed.held[0].joints, first.persons[0].joints)
    assert [p.track_id for p in missed.in_view] == sorted(ids.values())
    backend.poses = [front, walker, bystander]
    back = est.process(Frame(BLANK, 2, 2 / 30, 2 / 30))
    assert {hips_x(p): p.track_id for p in back.persons} == ids and back.held == []
    backend.poses = [walker, bystander]
    for k in range(3, 10):  # gone for good: held for HOLD_S, then the bystander is reported
        t = k / 30
        result = est.process(Frame(BLANK, k, t, t))
        gone = t - 2 / 30 > estimator_module.HOLD_S + 1e-9
        assert [hips_x(p) for p in result.held] == ([] if gone else [0.55]), k
        assert sorted(hips_x(p) for p in result.persons) == ([0.25, 0.85] if gone else [0.25]), k
