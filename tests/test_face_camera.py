"""Turning live persons to face the camera, as the training clips are placed."""

from __future__ import annotations

import cmath
import math

import numpy as np
import pytest

from pose.camera_space import FaceCamera, heading
from pose.layouts import J


def body(yaw_deg: float, x: float = 0.0, z: float = 3.0) -> np.ndarray:
    """Shoulders and hips of a person at (x, z) whose left-to-right line is turned ``yaw_deg`` from
    the image plane (0: facing the camera, Kinect axes)."""
    joints = np.zeros((25, 3), np.float32)
    turn = cmath.exp(1j * math.radians(yaw_deg))
    for name, half, height in (("shoulder", 0.2, 1.4), ("hip", 0.1, 0.9)):
        for side, sign in (("left", -1), ("right", 1)):
            offset = sign * half * turn
            joints[J[f"{side}_{name}"]] = (x + offset.real, height, z + offset.imag)
    joints[J["spine_base"]] = (x, 0.9, z)
    return joints


def yaw_of(joints: np.ndarray) -> float:
    return math.degrees(cmath.phase(heading(joints)))


def test_a_person_seen_from_the_side_faces_the_camera_and_walks_toward_it() -> None:
    face = FaceCamera()
    out = [face(1, body(90.0, x=0.05 * k), k / 30.0) for k in range(30)]  # walking across, side-on
    for joints in out:
        assert yaw_of(joints) == pytest.approx(0.0, abs=1e-3)
        assert joints[J["left_shoulder"], 0] < joints[J["right_shoulder"], 0]
    path = np.array([joints[J["spine_base"]] for joints in out])
    steps = np.diff(path, axis=0)
    assert np.allclose(np.linalg.norm(steps, axis=1), 0.05, atol=1e-5)  # same speed
    assert np.allclose(steps[:, 0], 0.0, atol=1e-5)  # now along the camera's axis


def test_a_turn_within_a_window_stays_visible() -> None:
    """A quarter turn in half a second still shows as most of a turn (the facing follows slowly)."""
    face = FaceCamera()
    for k in range(30):
        face(1, body(0.0), k / 30.0)
    yaws = [yaw_of(face(1, body(90.0 * min(k / 15.0, 1.0)), 1.0 + k / 30.0)) for k in range(16)]
    assert yaws[0] == pytest.approx(0.0, abs=1e-3)
    assert yaws[-1] > 60.0


def test_each_person_keeps_their_own_turn() -> None:
    face = FaceCamera()
    front, side = face(1, body(0.0), 0.0), face(2, body(90.0, x=1.0), 0.0)
    assert yaw_of(front) == pytest.approx(0.0, abs=1e-3) and yaw_of(side) == pytest.approx(0.0, abs=1e-3)
    face.keep({1})
    assert yaw_of(face(2, body(45.0, x=1.0), 0.1)) == pytest.approx(0.0, abs=1e-3)  # forgotten: afresh
