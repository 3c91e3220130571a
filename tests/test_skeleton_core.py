"""The skeleton type, its interchange file, the MediaPipe axis conversion and the normalisation."""

from __future__ import annotations

import numpy as np
import pytest

from pose.backends.mediapipe import MP, mediapipe_to_ntu25
from pose.errors import SkeletonError
from pose.layouts import MEDIAPIPE_TO_KINECT, NTU25_BONES, NUM_JOINTS, J
from pose.normalize import normalize_window
from pose.skeleton import Skeleton, load_npz, save_npz


def test_interchange_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    joints = rng.normal(size=(40, 2, NUM_JOINTS, 3)).astype(np.float32)
    valid = np.ones((40, 2), bool)
    valid[30:, 1] = False
    skel = Skeleton(joints, valid, fps=25.0, label="hand waving", meta={"dataset": "x"})
    path = tmp_path / "s.npz"
    save_npz(skel, path)
    back = load_npz(path)
    assert back.label == "hand waving" and back.fps == 25.0 and back.meta == {"dataset": "x"}
    np.testing.assert_array_equal(back.valid, valid)
    np.testing.assert_allclose(back.joints[valid], joints[valid])
    assert np.all(back.joints[~valid] == 0)


def test_interchange_rejects_pickled_objects(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, joints=np.array([object()], dtype=object))
    with pytest.raises(SkeletonError, match="not a readable"):
        load_npz(path)


def test_skeleton_rejects_nan_and_bad_shapes():
    with pytest.raises(SkeletonError, match="NaN"):
        Skeleton.from_single(np.full((5, NUM_JOINTS, 3), np.nan))
    with pytest.raises(SkeletonError, match="shape"):
        Skeleton(np.zeros((5, 2, 20, 3)), np.ones((5, 2), bool))


def test_mediapipe_conversion_is_a_rotation_keeping_left_left():
    assert np.isclose(np.linalg.det(MEDIAPIPE_TO_KINECT), 1.0)
    lm = np.zeros((33, 3), np.float32)
    # A person facing the camera: MediaPipe's left shoulder is at image right (x > 0), head up (y < 0).
    lm[MP["left_shoulder"]] = (0.2, -0.5, 0)
    lm[MP["right_shoulder"]] = (-0.2, -0.5, 0)
    lm[MP["left_ear"]] = lm[MP["right_ear"]] = (0, -0.7, 0)
    ntu = mediapipe_to_ntu25(lm)
    # Kinect: a facing person's left shoulder has the smaller x, as in the NTU recordings.
    assert ntu[J["left_shoulder"], 0] < ntu[J["right_shoulder"], 0]
    assert ntu[J["head"], 1] > ntu[J["spine_base"], 1]


def test_normalisation_centres_and_resizes():
    rng = np.random.default_rng(1)
    joints = rng.normal(size=(100, NUM_JOINTS, 3)).astype(np.float32) + 5.0
    out = normalize_window(Skeleton.from_single(joints))
    assert out.shape == (3, 64, NUM_JOINTS, 2)
    assert np.all(out[..., 1] == 0), "the absent second person stays zero"
    # the centre crop starts 2 frames in (0.95 of 100 frames, centred): spine-mid of frame 0 is the origin
    assert np.abs(out[:, :, :, 0]).mean() < np.abs(joints).mean()


def test_bones_form_a_tree():
    children = [c for c, _ in NTU25_BONES]
    assert sorted(children) == list(range(1, NUM_JOINTS))


def test_a_file_in_centimetres_is_refused_naming_the_units(tmp_path) -> None:
    from pose.skeleton import Skeleton, load_npz, save_npz

    joints = np.zeros((10, 25, 3), np.float32)
    joints[:, 20, 1] = 0.5  # spine at the shoulders 0.5 m above the spine base
    save_npz(Skeleton.from_single(joints, label="wave"), tmp_path / "m.npz")
    assert load_npz(tmp_path / "m.npz").label == "wave"
    np.savez(tmp_path / "cm.npz", joints=joints * 100.0, label="wave")  # centred, so no coordinate > 100
    with pytest.raises(SkeletonError, match="must be metres"):
        load_npz(tmp_path / "cm.npz")
