"""The facing normalisation: every recording turned so its first person faces the camera at the
first frame, as the live path's FaceCamera turns people (one convention for Kinect, mocap and live)."""

from __future__ import annotations

import numpy as np
import pytest

from app.demo_motion import body_joints, walk
from pose.camera_space import heading
from pose.normalize import PREPROCESS, Preprocess, UnsupportedPreprocess, contract_window, normalize_window
from pose.skeleton import MAX_PERSONS
from training.config import ConfigError, TrainConfig

FACING = "spine-mid-first-frame-facing"


def turned(joints: np.ndarray, yaw: float) -> np.ndarray:
    """Joints (..., 3) turned by ``yaw`` radians about the vertical (Kinect y) axis."""
    c, s = np.cos(yaw), np.sin(yaw)
    out = joints.copy()
    out[..., 0] = c * joints[..., 0] + s * joints[..., 2]
    out[..., 2] = -s * joints[..., 0] + c * joints[..., 2]
    return out


def walking_clip(frames: int = 40, turn_by: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """A walking body (T, M, 25, 3), turning by ``turn_by`` radians over the clip; the second person
    slot empty."""
    joints = np.zeros((frames, MAX_PERSONS, 25, 3), np.float32)
    for t in range(frames):
        joints[t, 0] = turned(body_joints(walk(t / 30.0)), turn_by * t / (frames - 1))
    valid = np.zeros((frames, MAX_PERSONS), bool)
    valid[:, 0] = True
    return joints, valid


@pytest.mark.parametrize("yaw", [0.4, 1.2, -1.5, 2.8])
def test_a_recording_seen_from_aside_becomes_the_frontal_one(yaw: float) -> None:
    joints, valid = walking_clip()
    front = normalize_window((joints, valid), 32, normalisation=FACING)
    aside = normalize_window((turned(joints, yaw), valid), 32, normalisation=FACING)
    assert np.allclose(front, aside, atol=1e-4)
    # the default normalisation keeps the view, so the two differ there
    plain = normalize_window((turned(joints, yaw), valid), 32)
    assert not np.allclose(plain, normalize_window((joints, valid), 32), atol=1e-2)


def test_turning_during_the_window_stays_visible() -> None:
    joints, valid = walking_clip(turn_by=np.pi / 2)
    out = normalize_window((turned(joints, 0.9), valid), 40, crop=1.0, normalisation=FACING)
    first, last = out[:, 0, :, 0].T, out[:, -1, :, 0].T  # (25, 3) joints of the first and last frame
    assert abs(np.angle(heading(first))) < 0.05
    assert abs(abs(np.angle(heading(last))) - np.pi / 2) < 0.1


def test_absent_persons_and_frames_stay_zero() -> None:
    joints, valid = walking_clip()
    valid[:5, 0] = False
    joints[:5] = 0.0
    out = normalize_window((turned(joints, 1.0), valid), 40, crop=1.0, normalisation=FACING)
    assert np.all(out[..., 1] == 0.0)  # the empty second person


def test_the_contract_names_it_and_the_code_refuses_what_it_does_not_know() -> None:
    contract = Preprocess(window=32, normalisation=FACING)
    joints, valid = walking_clip()
    aside = contract_window((turned(joints, 1.0), valid), contract)
    front = contract_window((joints, valid), contract)
    assert aside.shape == (3, 32, 25, MAX_PERSONS) and np.allclose(aside, front, atol=1e-4)
    assert PREPROCESS.normalisation == "spine-mid-first-frame"  # old checkpoints keep theirs
    with pytest.raises(UnsupportedPreprocess):
        Preprocess(normalisation="spine-mid-every-frame")
    with pytest.raises(UnsupportedPreprocess):
        normalize_window((joints, valid), 32, normalisation="spine-mid-every-frame")


def test_training_writes_the_normalisation_it_trained_with() -> None:
    from training.train import contract_preprocess

    cfg = TrainConfig()
    cfg.augment.normalisation = FACING
    assert contract_preprocess(cfg.validate()).normalisation == FACING
    cfg.augment.normalisation = "upside-down"
    with pytest.raises(ConfigError, match="augment.normalisation"):
        cfg.validate()
