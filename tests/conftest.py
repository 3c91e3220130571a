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
