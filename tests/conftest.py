"""Shared test fixtures: where the real data lives, and skipping with a reason where it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from neuron_base.paths import REPO_ROOT as ROOT
from neuron_base.paths import shared_data_dir

SHARED_DATA = shared_data_dir()
# Test artefacts CI keeps (screenshots, benchmark output).
TEST_OUTPUT = ROOT / "test-output"

# Spinning OpenMP threads make torch many times slower on a busy 2-core machine (measured in training).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def shared_path(*parts: str) -> Path:
    """Path under ../shared/data, or skip the test saying which data is missing."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path} is absent (see ../shared/README.md)")
    return path


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip(f"real data not available: {SHARED_DATA} is absent")
    return SHARED_DATA


@pytest.fixture(scope="session")
def test_output() -> Path:
    TEST_OUTPUT.mkdir(exist_ok=True)
    return TEST_OUTPUT


# -- a stand-in for MediaPipe, shared by the pose tests ----------------------------------------------


class FakeBackend:
    """Stands in for MediaPipe: returns the poses it is given, or raises."""

    name = "fake"

    def __init__(self) -> None:
        self.poses: list = []
        self.error: Exception | None = None
        self.stamps: list[int] = []

    def detect(self, image: np.ndarray, timestamp_ms: int):
        self.stamps.append(timestamp_ms)
        if self.error:
            raise self.error
        return self.poses

    def close(self) -> None:
        pass


def fake_pose(x: float, y: float = 0.6, size: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """A standing body in MediaPipe-33 layout, hips at image (x, y), torso ``size`` tall."""
    rng = np.random.default_rng(int(x * 1000))
    world = rng.normal(0, 0.2, (33, 3)).astype(np.float32)
    image = np.zeros((33, 4), np.float32)
    image[:, 0] = x + rng.uniform(-0.05, 0.05, 33)
    image[:, 1] = y - size  # the upper body at the shoulders' height
    image[[23, 24, 25, 26, 27, 28, 29, 30, 31, 32], 1] = y  # hips and legs
    image[23, 0], image[24, 0] = x + 0.02, x - 0.02
    image[11, 0], image[12, 0] = x + 0.03, x - 0.03
    image[:, 3] = 0.9
    return world, image


def coordinate_frame(width: int, height: int) -> np.ndarray:
    """A BGR frame (at most 256 x 256) whose pixels say where they are: blue = x, green = y, red
    255 (0 where something blacked a pixel out), so a detector handed a crop of it knows where the
    crop lies (:class:`SceneDetector`)."""
    assert width <= 256 and height <= 256
    frame = np.full((height, width, 3), 255, np.uint8)
    frame[..., 0] = np.arange(width, dtype=np.uint8)[None, :]
    frame[..., 1] = np.arange(height, dtype=np.uint8)[:, None]
    return frame


class SceneDetector:
    """Stands in for MediaPipe on whole frames and on crops of a :func:`coordinate_frame`: it
    reports the poses of ``scene.poses`` (whole-frame normalised points, see :func:`fake_pose`)
    whose hips lie in the image it is handed, in that image's normalised coordinates, at most
    ``num_poses`` of them: on the whole frame in the scene's order, on a crop the nearest to its
    centre first (as a landmarker following one person keeps the one its crop is centred on). A
    person whose hips are blacked out is not seen. ``images`` records each call's image size."""

    name = "tasks"

    def __init__(
        self, scene: FakeBackend, width: int, height: int, num_poses: int, centre_first: bool = True
    ) -> None:
        self.scene, self.width, self.height, self.num_poses = scene, width, height, num_poses
        self.centre_first = centre_first  # False: a crop's people in the scene's order too
        self.images: list[tuple[int, int]] = []
        self.closed = False

    def detect(self, image: np.ndarray, timestamp_ms: int):
        h, w = image.shape[:2]
        rows, cols = np.nonzero(image[..., 2] == 255)
        if not len(rows):  # all blacked out
            return []
        x0, y0 = (
            int(image[rows[0], cols[0], 0]) - int(cols[0]),
            int(image[rows[0], cols[0], 1]) - int(rows[0]),
        )
        self.images.append((w, h))
        found = []
        for world, points in self.scene.poses:
            local = points.copy()
            local[:, 0] = (points[:, 0] * self.width - x0) / w
            local[:, 1] = (points[:, 1] * self.height - y0) / h
            local[:, 2] = points[:, 2] * self.width / w
            hips = local[[23, 24], :2].mean(0)
            if (hips >= 0).all() and (hips < 1).all() and image[int(hips[1] * h), int(hips[0] * w), 2]:
                found.append((float(np.abs(hips - 0.5).sum()), len(found), (world, local)))
        if (w, h) != (self.width, self.height) and self.centre_first:
            found.sort()
        return [pose for _, _, pose in found[: self.num_poses]]

    def close(self) -> None:
        self.closed = True
