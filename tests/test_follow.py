"""Searching the whole frame now and then, following the chosen people on crops in between
(pose/follow.py): the same people and points as a search on every frame, at a fraction of the searches."""

from __future__ import annotations

import numpy as np
import pytest

from pose.backends.mediapipe import BACKEND as MEDIAPIPE
from pose.camera_motion import MOTION_VERSION
from pose.estimator import PoseEstimator, detection_settings, live_detection_settings
from pose.follow import FOLLOW_VERSION, SEARCH_EVERY_S, FollowingDetector, crop_box, from_crop
from pose.layouts import J
from pose.sources import Frame
from tests.conftest import FakeBackend, SceneDetector, coordinate_frame, fake_pose

W, H = 240, 160
FRAME = coordinate_frame(W, H)


@pytest.fixture
def scene(monkeypatch) -> tuple[FakeBackend, list[SceneDetector]]:
    """The MediaPipe backend's detectors replaced by scene detectors (the first one opened searches)."""
    scene, opened = FakeBackend(), []

    def open_detector(variant, num_poses, min_confidence, bundle_dir, smooth):
        opened.append(SceneDetector(scene, W, H, num_poses))
        return opened[-1]

    monkeypatch.setattr(MEDIAPIPE, "open", open_detector)
    return scene, opened


def test_a_pose_found_in_a_crop_lands_where_it_is_in_the_frame() -> None:
    scene = FakeBackend()
    scene.poses = [fake_pose(0.6, 0.7, 0.2)]
    whole = SceneDetector(scene, W, H, 1).detect(FRAME, 0)[0]
    box = crop_box(np.array([150.0, 90.0]), 100.0, W, H)
    assert box == (86, 26, 128, 128)  # sides in steps of 64 px
    x0, y0, w, h = box
    in_crop = SceneDetector(scene, W, H, 1).detect(FRAME[y0 : y0 + h, x0 : x0 + w], 0)[0]
    np.testing.assert_allclose(from_crop(in_crop, box, W, H)[1], whole[1], atol=1e-5)
    assert crop_box(np.array([5.0, 5.0]), 400.0, W, H) == (0, 0, W, H)  # cut to the frame


def walk(est: PoseEstimator, scene: FakeBackend, frames: int, fps: float = 30.0) -> list[list[tuple]]:
    """Two small people far behind and one walking across in front: (hips x, id) per frame."""
    seen = []
    for k in range(frames):
        t = k / fps
        walker = fake_pose(0.3 + 0.2 * t, 0.8, 0.2)
        scene.poses = [fake_pose(0.15, 0.4, 0.05), fake_pose(0.85, 0.4, 0.05), walker]
        persons = est.process(Frame(FRAME, k, t, t)).persons
        seen.append([(round(float(p.image_xy[J["spine_base"], 0]), 3), p.track_id) for p in persons])
    return seen


def walk_in_view(est: PoseEstimator, scene: FakeBackend, frames: int, fps: float = 30.0) -> list[list[tuple]]:
    """The same scene as ``walk``: (hips x, id, seen now) of everyone in view, per frame."""
    seen = []
    for k in range(frames):
        t = k / fps
        scene.poses = [
            fake_pose(0.15, 0.4, 0.05),
            fake_pose(0.85, 0.4, 0.05),
            fake_pose(0.3 + 0.2 * t, 0.8, 0.2),
        ]
        result = est.process(Frame(FRAME, k, t, t))
        seen.append(
            [
                (round(float(p.image_xy[J["spine_base"], 0]), 3), p.track_id, p in result.persons)
                for p in result.in_view
            ]
        )
    return seen


def test_the_chosen_person_is_followed_on_a_crop_between_searches(scene) -> None:
    scene_poses, opened = scene
    est = PoseEstimator(max_persons=1, camera_space=False, smooth=False)
    seen = walk(est, scene_poses, 60)
    for k, frame in enumerate(seen):
        assert [x for x, _ in frame] == pytest.approx([0.3 + 0.2 * k / 30.0], abs=2e-3), f"frame {k}: {frame}"
    assert len({track for frame in seen for _, track in frame}) == 1
    search, followers = opened[0], opened[1:]
    assert search.num_poses == est.candidates and [f.num_poses for f in followers] == [1]
    # A search on the first frame and then every SEARCH_EVERY_S: 4 of 60 frames at 30 fps, not 60.
    assert len(search.images) == 1 + int(60 / 30.0 / SEARCH_EVERY_S - 1e-9)
    assert est.detector_settings == live_detection_settings(1)
    assert est.detector_settings["follow"] == [1, SEARCH_EVERY_S, FOLLOW_VERSION]
    w, h = followers[0].images[-1]
    assert w < W and h < H  # a crop around the walker, without the people behind
    est.close()
    assert all(d.closed for d in opened)


def test_the_same_people_as_searching_every_frame(scene) -> None:
    scene_poses, opened = scene
    options = {"max_persons": 2, "camera_space": False, "smooth": False}
    following = walk_in_view(PoseEstimator(**options), scene_poses, 45)
    followers = opened[1:]
    assert len(followers) == 2 and all(21 <= len(f.images) <= 23 for f in followers)  # half of 44 frames
    every = walk_in_view(PoseEstimator(**options, search_every_s=None), scene_poses, 45)
    assert all(seen for frame in every for _, _, seen in frame)
    for k, (mine, theirs) in enumerate(zip(following, every, strict=True)):
        assert [i for _, i, _ in mine] == [i for _, i, _ in theirs], k  # the same people, in view throughout
        for (x, _, seen), (x_now, _, _), (x_before, _, _) in zip(mine, theirs, every[k - 1], strict=True):
            assert x == (x_now if seen else x_before), k  # each as seen now, or as seen on the last frame
    # Two people followed, each looked at on every other frame (pose.follow.ALTERNATE_FROM).
    looked = [sum(seen for _, _, seen in frame) for frame in following[1:]]
    assert looked.count(1) >= 0.8 * len(looked), looked


def test_a_lost_person_makes_the_next_frame_a_search() -> None:
    scene = FakeBackend()
    search = SceneDetector(scene, W, H, 4)
    follower = SceneDetector(scene, W, H, 1)
    det = FollowingDetector(search, lambda: follower)
    scene.poses = [fake_pose(0.5, 0.8, 0.2)]
    first = det.detect(FRAME, 0)
    det.follow([first[0][1]])
    assert len(det.detect(FRAME, 33)) == 1 and det.searches == 1  # followed, not searched
    scene.poses = []  # they left
    assert det.detect(FRAME, 66) == [] and det.searches == 2
    det.follow([])
    assert det.detect(FRAME, 99) == [] and det.searches == 3  # nobody followed: search every frame


def test_two_followers_on_one_body_become_one() -> None:
    scene = FakeBackend()
    det = FollowingDetector(SceneDetector(scene, W, H, 4), lambda: SceneDetector(scene, W, H, 1))
    scene.poses = [fake_pose(0.5, 0.8, 0.2)]
    pose = det.detect(FRAME, 0)[0]
    det.follow([pose[1], pose[1] + np.float32([0.01, 0, 0, 0])])  # a body reported twice
    assert len(det.detect(FRAME, 33)) == 1
    assert len(det._following) == 1 and len(det._spare) == 1


def test_recorded_detections_are_not_followed_and_the_old_cache_key_stays() -> None:
    est = PoseEstimator(max_persons=2, detector=FakeBackend())
    assert "follow" not in est.detector_settings
    assert "follow" not in detection_settings(4)
    with pytest.raises(Exception, match="search_every_s must be positive"):
        PoseEstimator(max_persons=1, detector=FakeBackend(), search_every_s=0.0)


def test_on_real_video_the_followed_walker_matches_a_search_on_every_frame() -> None:
    """MediaPipe on a real clip (a person walking across): the walker's image joints when followed
    on crops are those found by searching every frame, within a few per cent of their height."""
    from pose.sources import VideoSource
    from tests.conftest import shared_path

    video = shared_path("videos", "01_walking_kthstyle.avi")
    reported: dict[float | None, list] = {}
    searches: dict[float | None, int | None] = {}
    for every in (SEARCH_EVERY_S, None):
        est = PoseEstimator(max_persons=1, search_every_s=every, smooth=False, camera_space=False)
        with VideoSource(video) as source, est:
            reported[every] = [est.process(f).persons for _, f in zip(range(60), source, strict=False)]
            searches[every] = getattr(est._backend, "searches", None)
    differences = [
        np.abs(a[0].image_xy - b[0].image_xy).mean() / np.ptp(b[0].image_xy[:, 1])
        for a, b in zip(reported[SEARCH_EVERY_S], reported[None], strict=True)
        if a and b
    ]
    assert len(differences) >= 55
    assert np.median(differences) < 0.03, np.median(differences)
    assert searches[None] is None  # a plain detector: every frame searched
    assert searches[SEARCH_EVERY_S] is not None and searches[SEARCH_EVERY_S] <= 10  # of 60 frames


def test_people_who_overlap_are_searched_every_frame_until_they_part() -> None:
    """Two bodies overlapping (a hug): a follower on one could slip onto the other, so nobody is
    followed and every frame is searched, until CROWDED_HOLD_S after they were last seen overlapping."""
    from pose.follow import CROWDED_HOLD_S

    scene = FakeBackend()
    det = FollowingDetector(SceneDetector(scene, W, H, 4), lambda: SceneDetector(scene, W, H, 1))
    hug = [fake_pose(0.45, 0.8, 0.25), fake_pose(0.5, 0.8, 0.25)]
    apart = [fake_pose(0.2, 0.8, 0.25), fake_pose(0.8, 0.8, 0.25)]
    frames = 0
    for t_ms, poses in [(k * 33, hug) for k in range(10)] + [(330 + k * 33, apart) for k in range(90)]:
        scene.poses = poses
        found = det.detect(FRAME, t_ms)
        det.follow([raw[1] for raw in found[:2]])
        frames += 1
        if t_ms < 330 + CROWDED_HOLD_S * 1000 - 33:
            assert det.searches == frames and det.crowded and not det._following, t_ms
    assert not det.crowded and len(det._following) == 2 and det.searches < frames


def test_a_follower_does_not_slip_onto_the_person_beside_them() -> None:
    """Two people side by side, each in the other's crop, and a landmarker that would take the first
    person it finds (the neighbour): everyone else's box is blacked out of a follower's crop, so
    each keeps their own person."""
    scene = FakeBackend()
    left, right = fake_pose(0.42, 0.8, 0.2), fake_pose(0.58, 0.8, 0.2)
    scene.poses = [right, left]  # the landmarker's order: the right one first
    det = FollowingDetector(
        SceneDetector(scene, W, H, 4), lambda: SceneDetector(scene, W, H, 1, centre_first=False)
    )
    found = det.detect(FRAME, 0)
    det.follow([raw[1] for raw in found])
    seen = []
    for k in range(1, 10):  # each followed on every other frame (ALTERNATE_FROM), always their own
        hips = [round(float(raw[1][[23, 24], 0].mean()), 2) for raw in det.detect(FRAME, 33 * k)]
        assert len(hips) == 1 and hips[0] in (0.42, 0.58), (k, hips)
        seen += hips
    assert all(a != b for a, b in zip(seen, seen[1:], strict=False)), seen
    assert det.searches == 1


def test_two_followers_run_side_by_side() -> None:
    """Each follower's landmarker runs on a thread of its own (MediaPipe releases the GIL), so two
    people cost about one person's time on two cores: two followers that can only finish together
    (a barrier that breaks after 5 s if they ran one after the other) both answer."""
    import threading

    scene = FakeBackend()
    barrier = threading.Barrier(2, timeout=5.0)

    class Waiting(SceneDetector):
        def detect(self, image: np.ndarray, timestamp_ms: int):
            if timestamp_ms > 0:  # the first frame is a search alone
                barrier.wait()
            return super().detect(image, timestamp_ms)

    det = FollowingDetector(SceneDetector(scene, W, H, 4), lambda: Waiting(scene, W, H, 1))
    scene.poses = [fake_pose(0.25, 0.8, 0.2), fake_pose(0.75, 0.8, 0.2)]
    det.follow([raw[1] for raw in det.detect(FRAME, 0)])
    # Frames 100 ms apart (a 10 fps source): both followers look at every frame (ALTERNATE_MAX_MS).
    assert len(det.detect(FRAME, 100)) == 2 and not barrier.broken
    det.close()


def test_the_setting_reaches_the_pose_stage_and_bad_values_are_one_error_line(scene, capsys) -> None:
    from app.cli import main
    from app.config import ConfigError, LiveConfig
    from app.session import pose_estimator

    assert LiveConfig().search_every == SEARCH_EVERY_S
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ConfigError, match="--search-every must be 0 or more seconds"):
            LiveConfig(search_every=bad)
    assert main(["--search-every", "-1", "--demo", "--headless"]) == 2
    assert capsys.readouterr().err == "error: --search-every must be 0 or more seconds, got -1.0\n"
    with pose_estimator(LiveConfig()) as est:
        assert isinstance(est._backend, FollowingDetector) and est._backend.search_every_s == SEARCH_EVERY_S
    with pose_estimator(LiveConfig(search_every=0.0)) as est:  # every frame searched, as before
        assert not isinstance(est._backend, FollowingDetector) and "follow" not in est.detector_settings
    with pose_estimator(LiveConfig(), FakeBackend()) as est:  # recorded detections: replayed as they are
        assert not isinstance(est._backend, FollowingDetector)
    assert live_detection_settings(2, None) == detection_settings(4, motion_version=MOTION_VERSION)
    assert live_detection_settings(2)["follow"] == [2, SEARCH_EVERY_S, FOLLOW_VERSION]


def test_a_search_beside_the_followers_is_answered_with_the_next_frame() -> None:
    """While someone is followed, a due search runs in the background: the frame it started on is
    answered by the follower alone, without waiting for it (a search held back until that frame was
    answered), and the next frame adds the people it found."""
    import threading

    scene = FakeBackend()
    walker, bystander = fake_pose(0.3, 0.8, 0.2), fake_pose(0.8, 0.8, 0.2)
    scene.poses = [walker, bystander]
    gate, started = threading.Event(), threading.Event()

    class Held(SceneDetector):
        def detect(self, image: np.ndarray, timestamp_ms: int):
            if timestamp_ms > 0:  # the first frame's search (nobody followed yet) answers at once
                started.set()
                assert gate.wait(5.0), "the frame waited for the search"
            return super().detect(image, timestamp_ms)

    det = FollowingDetector(Held(scene, W, H, 4), lambda: SceneDetector(scene, W, H, 1))
    first = det.detect(FRAME, 0)
    assert len(first) == 2 and det.searches == 1
    det.follow([first[0][1]])  # the walker only
    assert len(det.detect(FRAME, 33)) == 1 and det.searches == 1  # followed, no search due
    due = int(SEARCH_EVERY_S * 1000)
    answer = det.detect(FRAME, due)  # a search is due: it starts, held
    assert started.wait(5.0) and not gate.is_set() and det.searches == 2
    assert [round(float(raw[1][[23, 24], 0].mean()), 2) for raw in answer] == [0.3]
    gate.set()
    later = det.detect(FRAME, due + 33)
    assert sorted(round(float(raw[1][[23, 24], 0].mean()), 2) for raw in later) == [0.3, 0.8]
    det.close()
