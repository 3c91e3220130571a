"""The no-travel normalisation: each person's travel over the floor taken away, the same in training and
live, so a walk on the spot (a camera panning with the walker, a treadmill) reads as the walk it is."""

from __future__ import annotations

import numpy as np

from pose.layouts import J
from pose.normalize import NORMALISATIONS, Preprocess, contract_window, hold_root, normalize_window
from tests.test_normalize_facing import walking_clip

NO_TRAVEL = "spine-mid-first-frame-no-travel"


def travelling(joints: np.ndarray, valid: np.ndarray, velocity: tuple[float, float, float]) -> np.ndarray:
    """The clip with every valid frame of person 0 moved by ``velocity`` m per frame."""
    out = joints.copy()
    steps = np.arange(len(joints), dtype=np.float32)[:, None] * np.asarray(velocity, np.float32)
    out[:, 0] += steps[:, None, :]
    out[~valid] = 0.0
    return out


def test_travel_over_the_floor_is_taken_away_and_a_rise_is_kept() -> None:
    joints, valid = walking_clip(48)
    on_the_spot = normalize_window((joints, valid), 32, normalisation=NO_TRAVEL)
    walked = travelling(joints, valid, (0.02, 0.0, -0.03))
    held = normalize_window((walked, valid), 32, normalisation=NO_TRAVEL)
    np.testing.assert_allclose(held, on_the_spot, atol=1e-5)
    # the default keeps the travel, so there the two differ
    plain = normalize_window((walked, valid), 32)
    assert not np.allclose(plain, normalize_window((joints, valid), 32), atol=1e-2)
    risen = travelling(joints, valid, (0.0, 0.01, 0.0))
    rise_kept = normalize_window((risen, valid), 32, normalisation=NO_TRAVEL)
    assert not np.allclose(rise_kept, on_the_spot, atol=1e-2)


def test_each_person_keeps_their_own_first_place_and_absent_frames_stay_empty() -> None:
    rng = np.random.default_rng(0)
    joints = rng.normal(size=(20, 2, 25, 3)).astype(np.float32)
    valid = np.ones((20, 2), bool)
    valid[:4, 1] = False  # the second person arrives late
    joints[~valid] = 0.0
    held = hold_root(joints, valid)
    root = J["spine_base"]
    floor = [0, 2]
    first_0 = joints[:1, 0, root][:, floor]
    first_1 = joints[4:5, 1, root][:, floor]
    np.testing.assert_allclose(held[:, 0, root][:, floor], np.repeat(first_0, 20, 0), atol=1e-6)
    np.testing.assert_allclose(held[4:, 1, root][:, floor], np.repeat(first_1, 16, 0), atol=1e-6)
    np.testing.assert_array_equal(held[..., 1], joints[..., 1])  # heights untouched
    assert np.all(held[:4, 1] == 0)
    relative = lambda a: a - a[:, :, root : root + 1]  # noqa: E731
    np.testing.assert_allclose(relative(held)[valid], relative(joints)[valid], atol=1e-5)


def test_it_is_a_contract_the_checkpoint_can_name() -> None:
    assert NO_TRAVEL in NORMALISATIONS
    joints, valid = walking_clip(40)
    walked = travelling(joints, valid, (0.03, 0.0, 0.0))
    preprocess = Preprocess(window=16, normalisation=NO_TRAVEL)
    on_the_spot = contract_window((joints, valid), preprocess)
    np.testing.assert_allclose(contract_window((walked, valid), preprocess), on_the_spot, atol=1e-5)
