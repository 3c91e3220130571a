"""Camera-space placement: MediaPipe's hip-centred joints moved to where the person stands.

Synthetic bodies projected through a pinhole camera check the solve against a known translation;
the real NTU clip and street video check that the depths are plausible and that walking moves.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from pose.backends.mediapipe import mediapipe_to_ntu25
from pose.camera_space import (
    DEFAULT_DEPTH_M,
    DEFAULT_HFOV_DEG,
    MIN_POINTS,
    CameraSpace,
    ray_slopes,
    solve_translation,
)
from pose.errors import PoseError
from pose.estimator import PoseEstimator, PoseResult
from pose.layouts import J
from pose.sources import Frame, VideoSource
from tests.conftest import shared_path

# A person facing the camera in MediaPipe world axes (x to the image's right, y down, z away from
# the camera), origin between the hips: the body's left side is on the image's right.
_LEFT_SIDE = {
    "eye_inner": (0.015, -0.66, -0.08),
    "eye": (0.03, -0.66, -0.08),
    "eye_outer": (0.045, -0.66, -0.07),
    "ear": (0.075, -0.64, 0.0),
    "mouth": (0.025, -0.58, -0.08),
    "shoulder": (0.18, -0.5, 0.0),
    "elbow": (0.22, -0.22, 0.02),
    "wrist": (0.24, 0.02, -0.02),
    "pinky": (0.25, 0.1, -0.02),
    "index": (0.24, 0.11, -0.04),
    "thumb": (0.22, 0.07, -0.05),
    "hip": (0.1, 0.0, 0.0),
    "knee": (0.11, 0.43, -0.02),
    "ankle": (0.11, 0.83, 0.02),
    "heel": (0.11, 0.88, 0.05),
    "foot_index": (0.12, 0.9, -0.1),
}
SIDES = ("left", "right")
_ORDER = (
    ["nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye"]
    + ["right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right"]
    + [
        f"{side}_{part}"
        for part in ("shoulder", "elbow", "wrist", "pinky", "index", "thumb")
        for side in SIDES
    ]
    + [f"{side}_{part}" for part in ("hip", "knee", "ankle", "heel", "foot_index") for side in SIDES]
)


def _point(name: str) -> tuple[float, float, float]:
    if name == "nose":
        return (0.0, -0.62, -0.1)
    if name.startswith("mouth_"):
        x, y, z = _LEFT_SIDE["mouth"]
        return (x if name.endswith("left") else -x, y, z)
    side, part = name.split("_", 1)
    x, y, z = _LEFT_SIDE[part]
    return (x if side == "left" else -x, y, z)


BODY = np.array([_point(n) for n in _ORDER], np.float64)
W, H = 1280, 720


def posed_body(rng: np.random.Generator) -> np.ndarray:
    """The standing body turned about the vertical by up to 60 degrees, limbs jiggled, hip-centred."""
    yaw = math.radians(rng.uniform(-60, 60))
    rot = np.array([[math.cos(yaw), 0, math.sin(yaw)], [0, 1, 0], [-math.sin(yaw), 0, math.cos(yaw)]])
    world = (BODY + rng.normal(0, 0.05, BODY.shape)) @ rot.T
    return world - (world[23] + world[24]) / 2


def project(points: np.ndarray, hfov_deg: float, width: int = W, height: int = H) -> np.ndarray:
    """Camera-space points (N, 3) to MediaPipe image landmarks (N, 4): normalised x, y, 0, visibility 1."""
    f = width / 2 / math.tan(math.radians(hfov_deg) / 2)
    u = f * points[:, 0] / points[:, 2] + width / 2
    v = f * points[:, 1] / points[:, 2] + height / 2
    return np.stack([u / width, v / height, np.zeros(len(points)), np.ones(len(points))], axis=1)


def random_case(rng: np.random.Generator, hfov_deg: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """World landmarks, image landmarks and the true translation of a body somewhere in view, with
    1.5 px of image noise, 1 cm of world noise and three hidden landmarks whose image points are wrong."""
    world = posed_body(rng)
    depth = rng.uniform(1.0, 6.0)
    slope = math.tan(math.radians(hfov_deg) / 2)
    t = np.array([rng.uniform(-0.5, 0.5) * slope * depth, rng.uniform(-0.2, 0.2) * slope * depth, depth])
    image = project(world + t, hfov_deg)
    image[:, 0] += rng.normal(0, 1.5 / W, len(image))
    image[:, 1] += rng.normal(0, 1.5 / H, len(image))
    image[:, 3] = 0.95
    hidden = rng.choice(len(image), 3, replace=False)
    image[hidden, :2] += 0.2
    image[hidden, 3] = 0.2
    return world + rng.normal(0, 0.01, world.shape), image, t


def recover(world: np.ndarray, image: np.ndarray, hfov_deg: float) -> np.ndarray | None:
    weights = np.where(image[:, 3] >= 0.5, image[:, 3], 0.0)
    return solve_translation(world, ray_slopes(image, W, H, hfov_deg), weights, (0.5, 8.0))


def test_exact_projection_is_recovered_exactly() -> None:
    rng = np.random.default_rng(1)
    world = posed_body(rng)
    t = np.array([0.4, -0.3, 3.2])
    found = recover(world, project(world + t, 60.0), 60.0)
    assert found is not None
    np.testing.assert_allclose(found, t, atol=1e-9)


@pytest.mark.parametrize("hfov_deg", [DEFAULT_HFOV_DEG, 84.1])
def test_noisy_translation_is_recovered_within_a_few_percent(hfov_deg: float) -> None:
    rng = np.random.default_rng(7)
    errors = []
    for _ in range(200):
        world, image, t = random_case(rng, hfov_deg)
        found = recover(world, image, hfov_deg)
        assert found is not None
        errors.append((abs(found[2] - t[2]) / t[2], np.linalg.norm(found[:2] - t[:2])))
    depth_err, lateral_err = np.array(errors).T
    assert np.median(depth_err) < 0.01 and depth_err.max() < 0.04, (np.median(depth_err), depth_err.max())
    assert np.median(lateral_err) < 0.01 and lateral_err.max() < 0.05, lateral_err.max()


def test_hidden_landmarks_do_not_count() -> None:
    rng = np.random.default_rng(3)
    world = posed_body(rng)
    t = np.array([-0.5, 0.2, 2.0])
    image = project(world + t, 60.0)
    image[:8, :2] = 0.95  # eight wild guesses, marked as such
    image[:8, 3] = 0.1
    np.testing.assert_allclose(recover(world, image, 60.0), t, atol=1e-9)


def test_out_of_range_depth_is_clamped_keeping_the_direction() -> None:
    world = posed_body(np.random.default_rng(4))
    t = np.array([3.0, -1.0, 20.0])  # a tiny body far away
    found = recover(world, project(world + t, 60.0), 60.0)
    assert found is not None and found[2] == 8.0
    np.testing.assert_allclose(found[:2] / found[2], t[:2] / t[2], atol=0.01)


def test_too_few_or_coincident_landmarks_give_no_depth() -> None:
    world = posed_body(np.random.default_rng(5))
    image = project(world + [0, 0, 3.0], 60.0)
    few = image.copy()
    few[MIN_POINTS - 1 :, 3] = 0.0
    assert recover(world, few, 60.0) is None
    one_spot = image.copy()
    one_spot[:, :2] = 0.4
    assert recover(world, one_spot, 60.0) is None


def test_fallbacks_keep_the_last_depth_and_follow_the_image() -> None:
    camera = CameraSpace()
    world = posed_body(np.random.default_rng(6))
    blind = project(world + [0.3, 0.0, 4.0], 60.0)
    blind[:, 3] = 0.1  # MediaPipe unsure of everything: no depth
    root = camera.root(1, world, blind, W, H, 0.0)
    assert root[2] == pytest.approx(DEFAULT_DEPTH_M)  # a new person: the default depth ...
    assert root[0] / root[2] == pytest.approx(-0.3 / 4.0, abs=0.01)  # ... on the right ray (Kinect x)
    camera.root(2, world, project(world + [0.0, 0.0, 4.0], 60.0), W, H, 0.0)
    root = camera.root(2, world, blind, W, H, 0.1)
    assert root[2] == pytest.approx(4.0) and root[0] == pytest.approx(-0.3, abs=0.01)  # its last depth
    camera.keep({1})
    root = camera.root(2, world, blind, W, H, 0.2)
    assert root[2] == pytest.approx(DEFAULT_DEPTH_M)  # forgotten: a new person again


def test_a_turning_camera_is_taken_out_of_a_still_persons_position() -> None:
    """A camera that pans (and tilts) moves a still person across the picture with the background;
    told the background's shift (``turn``), the camera-space root stays where it was. Without it the
    person would travel by their depth times the turned slopes."""
    world = posed_body(np.random.default_rng(7))
    at = np.array([0.2, 0.1, 3.0])  # MediaPipe axes: where the person stands
    camera, naive = CameraSpace(), CameraSpace()
    first = camera.root(1, world, project(world + at, 60.0), W, H, 0.0)
    naive.root(1, world, project(world + at, 60.0), W, H, 0.0)
    shift = np.zeros(2)
    for k in range(1, 20):  # 19 frames, the picture moves 1.5% of its width left and 0.4% up per frame
        step = np.array([-0.015, -0.004])
        shift += step
        seen = project(world + at, 60.0)
        seen[:, :2] += shift  # the still person moves in the picture with the background
        camera.turn(step, W, H)
        last = camera.root(1, world, seen, W, H, k / 30)
        moved = naive.root(1, world, seen, W, H, k / 30)
    # Within 3 cm after a turn of about 18 degrees (the joints' own depths about the hips make the
    # shift of the solved position differ slightly from the depth times the slope).
    np.testing.assert_allclose(last, first, atol=0.03)
    assert np.abs(moved - first)[:2].max() > 0.5  # uncorrected: over half a metre of travel
    # A person first seen after the turn starts from where they are seen: no offset of their own.
    late = camera.root(2, world, project(world + at, 60.0), W, H, 1.0)
    np.testing.assert_allclose(late, first, atol=0.03)


def test_result_is_in_kinect_axes() -> None:
    """Right of the image centre is MediaPipe +x, Kinect -x; above it MediaPipe -y, Kinect +y."""
    world = posed_body(np.random.default_rng(8))
    root = CameraSpace().root(1, world, project(world + [0.5, -0.4, 3.0], 60.0), W, H, 0.0)
    assert root.dtype == np.float32 and root.shape == (3,)
    np.testing.assert_allclose(root, [-0.5, 0.4, 3.0], atol=1e-5)


def test_each_track_has_its_own_smoother() -> None:
    made: list[list[float]] = []

    def smoother():
        seen: list[float] = []
        made.append(seen)

        def smooth(x: np.ndarray, t: float) -> np.ndarray:
            seen.append(t)
            return x * 0 + [0.0, 0.0, 5.0]

        return smooth

    camera = CameraSpace(smoother=smoother)
    world = posed_body(np.random.default_rng(9))
    image = project(world + [0, 0, 3.0], 60.0)
    for t in (0.0, 0.1):
        for track in (1, 2):
            assert camera.root(track, world, image, W, H, t)[2] == 5.0
    assert made == [[0.0, 0.1], [0.0, 0.1]]


@pytest.mark.parametrize(
    "kwargs", [{"hfov_deg": 0.0}, {"hfov_deg": 180.0}, {"depth_range": (0.0, 8.0)}, {"default_depth": 9.0}]
)
def test_bad_settings_are_refused(kwargs: dict) -> None:
    with pytest.raises(PoseError):
        CameraSpace(**kwargs)


def test_estimator_refuses_a_bad_field_of_view_before_starting_mediapipe(monkeypatch) -> None:
    monkeypatch.setattr(PoseEstimator, "_create", staticmethod(lambda *args: pytest.fail("started")))
    with pytest.raises(PoseError, match="field of view"):
        PoseEstimator(hfov_deg=200.0)


class OneBody:
    """Stands in for MediaPipe: the same landmarks every frame."""

    name = "fake"

    def __init__(self, world: np.ndarray, image: np.ndarray) -> None:
        self.pose = (world.astype(np.float32), image.astype(np.float32))

    def detect(self, rgb: np.ndarray, timestamp_ms: int) -> list:
        return [self.pose]

    def close(self) -> None:
        pass


@pytest.mark.parametrize("camera_space", [True, False])
def test_estimator_adds_the_root_to_the_unchanged_pose(monkeypatch, camera_space: bool) -> None:
    world = posed_body(np.random.default_rng(10))
    t = np.array([0.6, 0.1, 3.5])
    backend = OneBody(world, project(world + t, 75.0, 640, 480))
    monkeypatch.setattr(PoseEstimator, "_create", staticmethod(lambda *args: backend))
    est = PoseEstimator(max_persons=1, camera_space=camera_space, hfov_deg=75.0, face_camera=False)
    person = est.process(Frame(np.zeros((480, 640, 3), np.uint8), 0, 0.0, 0.0)).persons[0]
    hip_centred = mediapipe_to_ntu25(world)
    root = person.joints[J["spine_base"]]
    np.testing.assert_allclose(person.joints - root, hip_centred - hip_centred[J["spine_base"]], atol=1e-5)
    expected = [-t[0], -t[1], t[2]] if camera_space else [0.0, 0.0, 0.0]
    np.testing.assert_allclose(root, expected, atol=1e-4)


def run_video(name: str, **kwargs) -> list[PoseResult]:
    kwargs.setdefault("face_camera", False)  # where people are, as filmed
    with PoseEstimator(max_persons=2, **kwargs) as est, VideoSource(shared_path("media", name)) as source:
        return [est.process(frame) for frame in source]


def roots_by_track(results: list[PoseResult]) -> dict[int, np.ndarray]:
    tracks: dict[int, list[np.ndarray]] = {}
    for r in results:
        for p in r.persons:
            assert np.isfinite(p.joints).all()
            tracks.setdefault(p.track_id, []).append(p.joints[J["spine_base"]])
    return {k: np.array(v) for k, v in tracks.items()}


@pytest.mark.slow
def test_ntu_clip_at_the_kinect_field_of_view_has_ntu_depths() -> None:
    """The NTU clip was filmed by a Kinect v2 (colour camera about 84 degrees wide): with that field
    of view the two hugging persons stand where NTU subjects stand (median spine base 2.5 to 4.3 m
    deep in the 17 recordings of ../shared/data/ntu_skeletons), at one depth, side by side."""
    results = run_video("mmaction2_ntu_sample.avi", hfov_deg=84.1)
    tracks = {k: v for k, v in roots_by_track(results).items() if len(v) >= 10}
    assert len(tracks) == 2
    (a, b) = tracks.values()
    for roots in (a, b):
        assert 2.3 <= np.median(roots[:, 2]) <= 4.5
        assert np.ptp(roots[:, 2]) < 0.4  # they hug in place
    assert abs(np.median(a[:, 2]) - np.median(b[:, 2])) < 0.3
    assert 0.3 < abs(np.median(a[:, 0]) - np.median(b[:, 0])) < 1.0
    joints = np.array([p.joints for r in results for p in r.persons])
    assert np.mean(joints[:, J["left_shoulder"], 0] < joints[:, J["right_shoulder"], 0]) > 0.9


@pytest.mark.slow
def test_street_walkers_move_through_plausible_depths() -> None:
    tracks = roots_by_track(run_video("openpose_video.avi"))
    long = {k: v for k, v in tracks.items() if len(v) >= 100}
    assert long, {k: len(v) for k, v in tracks.items()}
    for roots in tracks.values():
        # The clamped range, give or take MediaPipe's hip centre sitting a hair off its origin.
        assert np.all((roots[:, 2] >= 0.49) & (roots[:, 2] <= 8.01))
    for roots in long.values():
        assert 2.0 <= np.median(roots[:, 2]) <= 8.0
    # The walker in front, the longest track (a bystander may be the other): the position ten frames
    # from the end is far from the one at the start (she walks toward the camera and to the side),
    # far more than the frame-to-frame jitter would carry it.
    walker = max(long.values(), key=len)
    travel = np.linalg.norm(walker[-10:].mean(0) - walker[:10].mean(0))
    jitter = np.median(np.linalg.norm(np.diff(walker, axis=0), axis=1))
    assert travel > 0.3 and travel > 10 * jitter, (travel, jitter)
