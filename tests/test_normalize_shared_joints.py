"""The shared-joints normalisation: the five joints Kinect v1 does not measure are laid on those it
does, in training and live alike, so no source can be told apart by how it fills them."""

from __future__ import annotations

import numpy as np

from pose.layouts import J, kinect_v1_to_ntu25
from pose.normalize import NORMALISATIONS, Preprocess, contract_window, normalize_window, shared_joints
from tests.test_normalize_facing import walking_clip

SHARED = "spine-mid-first-frame-shared-joints"


def test_the_joints_v1_lacks_are_laid_on_the_ones_it_has() -> None:
    rng = np.random.default_rng(0)
    joints = rng.normal(size=(6, 2, 25, 3)).astype(np.float32)
    out = shared_joints(joints)
    for target, source in (("neck", "spine_shoulder"), ("left_hand_tip", "left_hand"),
                           ("left_thumb", "left_hand"), ("right_hand_tip", "right_hand"),
                           ("right_thumb", "right_hand")):  # fmt: skip
        np.testing.assert_array_equal(out[..., J[target], :], joints[..., J[source], :])
    kept = [j for j in range(25) if j not in (J["neck"], 21, 22, 23, 24)]
    np.testing.assert_array_equal(out[..., kept, :], joints[..., kept, :])
    np.testing.assert_array_equal(shared_joints(out), out)  # idempotent
    assert not np.shares_memory(out, joints)


def test_a_kinect_v1_recording_is_left_as_it_is() -> None:
    """Kinect v1 already copies its shoulder centre and hands into those joints: nothing changes."""
    v1 = np.random.default_rng(1).normal(size=(5, 1, 20, 3)).astype(np.float32)
    ntu = kinect_v1_to_ntu25(v1)
    np.testing.assert_array_equal(shared_joints(ntu), ntu)


def test_it_is_a_contract_that_changes_the_window_only_where_sources_differ() -> None:
    assert SHARED in NORMALISATIONS
    joints, valid = walking_clip(40)
    moved = joints.copy()
    moved[:, :, [21, 22, 23, 24, J["neck"]]] += 0.05  # another sensor's hand tips, thumbs and neck
    moved[~valid] = 0.0
    a = normalize_window((joints, valid), 32, normalisation=SHARED)
    b = normalize_window((moved, valid), 32, normalisation=SHARED)
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert not np.allclose(normalize_window((joints, valid), 32), normalize_window((moved, valid), 32))
    preprocess = Preprocess(window=32, normalisation=SHARED)
    np.testing.assert_allclose(contract_window((joints, valid), preprocess), a, atol=1e-6)
