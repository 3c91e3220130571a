"""Pose backends behind one interface, chosen by name: the table, the --pose-backend setting, and an
estimator that runs a backend whose keypoints are not MediaPipe's."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest

import pose.backends as backends
from app.cli import main as live_main
from app.config import ConfigError, LiveConfig
from app.session import pose_estimator
from pose.backends import Detection, RawPose
from pose.backends.mediapipe import BACKEND as MEDIAPIPE
from pose.convert import main as convert_main
from pose.errors import PoseError
from pose.estimator import PoseEstimator, detection_settings
from pose.layouts import J
from pose.sources import Frame
from tests.conftest import FakeBackend, fake_pose


def test_the_table_names_each_backend_once_and_refuses_others() -> None:
    assert backends.POSE_BACKEND_NAMES == ("mediapipe",)
    assert backends.pose_backend() is MEDIAPIPE
    with pytest.raises(PoseError, match="unknown pose backend 'openpose'; choose one of mediapipe"):
        backends.pose_backend("openpose")
    assert "mediapipe (MediaPipe Pose" in backends.backends_help()


def test_mediapipe_maps_its_raw_pose_to_ntu25_and_image_points() -> None:
    world, image = fake_pose(0.5)
    found = MEDIAPIPE.to_detection((world, image))
    assert found.joints.shape == (25, 3) and found.image_xy.shape == (25, 2)
    assert found.visibility == pytest.approx(0.9)
    np.testing.assert_allclose(found.image_xy[J["spine_base"]], image[[23, 24], :2].mean(0), atol=1e-6)
    assert found.world is world and found.image is image
    assert MEDIAPIPE.smooth_after("tasks") and not MEDIAPIPE.smooth_after("legacy")
    assert MEDIAPIPE.max_poses("legacy") == 1 and MEDIAPIPE.max_poses("tasks") is None


def test_the_setting_is_validated_once_with_the_choices() -> None:
    assert LiveConfig().pose_backend == "mediapipe"
    with pytest.raises(ConfigError, match=r"--pose-backend must be one of mediapipe, got 'openpose'"):
        LiveConfig(pose_backend="openpose")
    assert pose_estimator(LiveConfig(max_persons=1), FakeBackend()).pose_backend == "mediapipe"


def test_an_unknown_backend_is_one_error_line_and_exit_2(capsys, tmp_path: Path) -> None:
    assert live_main(["--pose-backend", "openpose", "--demo", "--headless"]) == 2
    err = capsys.readouterr().err
    assert err == "error: --pose-backend must be one of mediapipe, got 'openpose'\n"
    out = tmp_path / "out.npz"
    assert convert_main([str(tmp_path), "-o", str(out), "--pose-backend", "openpose", "-q"]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("error: unknown pose backend 'openpose'; choose one of mediapipe")
        and err.count("\n") == 1
    )


def test_the_default_backend_keeps_the_detection_cache_key() -> None:
    settings = detection_settings(4)
    assert set(settings) == {"backend", "num_poses", "min_confidence", "mediapipe"}


class _Ntu25Backend:
    """A backend whose keypoints are NTU-25 itself (as a Kinect-like detector would give): the
    estimator must not assume MediaPipe's 33 landmarks anywhere."""

    name = "ntu25"
    variants = ("default",)

    def open(self, variant, num_poses, min_confidence, bundle_dir, smooth):
        raise AssertionError("the test passes its own detector")

    def to_detection(self, raw: RawPose) -> Detection:
        world, image = raw
        kinect = world * np.array([-1.0, -1.0, 1.0], np.float32)
        return Detection(kinect, image[:, :2].copy(), float(image[:, 3].mean()), world, image)

    def version(self) -> str:
        return "1"

    def smooth_after(self, detector_name: str) -> bool:
        return False

    def max_poses(self, detector_name: str) -> int | None:
        return None


def _ntu25_pose(x: float) -> RawPose:
    world = np.random.default_rng(1).normal(0, 0.2, (25, 3)).astype(np.float32)
    world[J["spine_base"]], world[J["head"]] = (0.0, 0.0, 0.0), (0.0, -0.6, 0.0)  # y down in image axes
    image = np.zeros((25, 4), np.float32)
    image[:, 0] = x
    image[:, 1] = np.linspace(0.2, 0.8, 25)
    image[J["spine_base"], 1], image[J["left_shoulder"], 1], image[J["right_shoulder"], 1] = 0.6, 0.3, 0.3
    image[J["left_shoulder"], 0], image[J["right_shoulder"], 0] = x + 0.05, x - 0.05
    image[:, 3] = 1.0
    return world, image


def test_a_new_backend_is_one_module_and_one_row(monkeypatch) -> None:
    module = types.ModuleType("tests_ntu25_backend")
    module.BACKEND = _Ntu25Backend()
    assert all(callable(getattr(module.BACKEND, m)) for m in ("open", "to_detection", "version"))
    monkeypatch.setitem(sys.modules, module.__name__, module)
    row = backends.BackendEntry("ntu25", "a detector giving NTU-25 joints", module.__name__)
    monkeypatch.setattr(backends, "POSE_BACKENDS", (*backends.POSE_BACKENDS, row))
    monkeypatch.setattr(backends, "POSE_BACKEND_NAMES", (*backends.POSE_BACKEND_NAMES, "ntu25"))
    detector = FakeBackend()
    estimator = PoseEstimator(
        max_persons=2, backend="default", detector=detector, pose_backend="ntu25", face_camera=False
    )
    assert estimator.pose_backend == "ntu25" and estimator.detector_settings["pose_backend"] == "ntu25"
    image = np.zeros((120, 160, 3), np.uint8)
    for k in range(3):
        detector.poses = [_ntu25_pose(0.3), _ntu25_pose(0.7)]
        result = estimator.process(Frame(image, k, k / 30.0))
    assert [p.track_id for p in result.persons] == [1, 2]
    left, right = result.persons
    assert left.image_xy[J["spine_base"], 0] == pytest.approx(0.3)
    assert left.joints[J["head"], 1] > left.joints[J["spine_base"], 1]  # y up after the backend's mapping
    assert left.joints[J["spine_base"], 2] >= 0.5  # placed in front of the camera from the image points
    assert right.joints[J["spine_base"], 0] < left.joints[J["spine_base"], 0]  # image right is Kinect -x
    with pytest.raises(PoseError, match="unknown ntu25 variant 'auto'"):
        PoseEstimator(detector=FakeBackend(), pose_backend="ntu25")
