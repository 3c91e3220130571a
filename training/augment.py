"""Training-only augmentation of normalised windows (3, T, 25, M); evaluation never calls it.

Everything keeps absent persons and frames at exactly zero, because the model reads an all-zero
person as "not there".
"""

from __future__ import annotations

import numpy as np

from neuron_core.laterality import mirror_label
from pose.layouts import NTU25_BONES, NTU25_LEFT_RIGHT, NUM_JOINTS, J
from pose.normalize import hold_root

__all__ = ["augment", "depth_jitter", "mirror", "mirror_label", "on_the_spot", "rotate", "scale_bones"]

_MIRROR_PERM = np.arange(NUM_JOINTS)
for _left, _right in NTU25_LEFT_RIGHT:
    _MIRROR_PERM[_left], _MIRROR_PERM[_right] = _right, _left

# Bones on both sides of the body share one length factor: people are (nearly) symmetric.
_BONE_KIND = np.array([min(child, int(_MIRROR_PERM[child])) for child, _ in NTU25_BONES])
_KINDS, _BONE_KIND_INDEX = np.unique(_BONE_KIND, return_inverse=True)

# Live MediaPipe depth jitters more at the limbs' ends than at the trunk, and its camera-space root
# depth jitters too (docs/VIDEO_BENCHMARK.md, `python -m app.live_gap`: median |second difference| of
# z at 30 Hz: trunk and head 2.2-2.6 mm, knees to feet 3.8-4.4, elbows to hands 5.3-5.8, root 4.1).
# Per-joint noise scale relative to the trunk's, and the root's (a whole-body shift per frame).
_ARMS = ("elbow", "wrist", "hand", "hand_tip", "thumb")
_LEGS = ("knee", "ankle", "foot")
DEPTH_JITTER_SCALE = np.ones(NUM_JOINTS, np.float32)
for _side in ("left", "right"):
    DEPTH_JITTER_SCALE[[J[f"{_side}_{name}"] for name in _ARMS]] = 2.3
    DEPTH_JITTER_SCALE[[J[f"{_side}_{name}"] for name in _LEGS]] = 1.7
ROOT_DEPTH_JITTER_SCALE = 1.7


def depth_jitter(x: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Independent depth (z) noise per frame, joint and person, ``sigma`` metres at the trunk and more
    at the limbs (DEPTH_JITTER_SCALE), plus a per-frame depth shift of the whole body: live MediaPipe
    skeletons' depth is their noisiest axis, where Kinect and motion capture are about even on all three.
    Gaussian noise of standard deviation s has a median |second difference| of about 1.65 s, so
    ``sigma`` 1.5 mm gives the live trunk's 2.4 mm. Absent persons and frames stay exactly zero."""
    _, t, v, m = x.shape
    noise = rng.standard_normal((t, v, m)).astype(np.float32) * DEPTH_JITTER_SCALE[None, :, None]
    noise += ROOT_DEPTH_JITTER_SCALE * rng.standard_normal((t, 1, m)).astype(np.float32)
    out = x.copy()
    out[2] += np.float32(sigma) * noise * _present(x)[:, None, :]
    return out


def _present(x: np.ndarray) -> np.ndarray:
    """(T, M) bool of a window (3, T, V, M): the frames where each person is there (not all zeros)."""
    return np.abs(x).sum(axis=(0, 2)) > 0


def on_the_spot(x: np.ndarray) -> np.ndarray:
    """A window (3, T, V, M) with each person's travel taken away on all three axes
    (:func:`pose.normalize.hold_root`): the spine base stays where it was in the person's first
    frame, the limbs move about it. As an augmentation (``--augment.travel_drop``) it makes a model
    read the limbs where travel is missing. Absent persons and frames stay zero."""
    joints = x.transpose(1, 3, 2, 0)  # (T, M, V, 3)
    held = hold_root(joints, _present(x), axes=(0, 1, 2))
    return np.ascontiguousarray(held.transpose(3, 0, 2, 1))


def mirror(x: np.ndarray) -> np.ndarray:
    """Reflect left/right: negate Kinect x and swap every left joint with its right twin."""
    out = x[:, :, _MIRROR_PERM].copy()
    out[0] *= -1.0
    return out


def rotation_matrix(angles: np.ndarray) -> np.ndarray:
    """Rotation about x, then y, then z by the three angles (radians)."""
    cx, cy, cz = np.cos(angles)
    sx, sy, sz = np.sin(angles)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return (rz @ ry @ rx).astype(np.float32)


def rotate(x: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Rotate every joint about the origin (the window is centred, so about the body)."""
    return np.einsum("ij,jtvm->itvm", rotation_matrix(angles), x).astype(np.float32)


def scale_bones(x: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Rebuild the skeleton from the spine base with each bone's length times its factor.

    ``factors`` has one entry per bone kind (left and right twins share one). The bone list is in
    parent-before-child order, so one pass of forward kinematics suffices.
    """
    per_bone = factors[_BONE_KIND_INDEX].astype(np.float32)
    out = x.copy()
    for b, (child, parent) in enumerate(NTU25_BONES):
        out[:, :, child] = out[:, :, parent] + per_bone[b] * (x[:, :, child] - x[:, :, parent])
    out *= _present(x)[None, :, None, :]
    return out


def num_bone_kinds() -> int:
    return len(_KINDS)


def augment(
    x: np.ndarray,
    rng: np.random.Generator,
    rotation: float,
    bone_scale: float,
    body_scale: float,
    do_mirror: bool,
    depth_noise: float = 0.0,
    still_root: bool = False,
    yaw: float = 0.0,
) -> np.ndarray:
    """Apply the configured augmentations in a fixed order: body shape, travel (``still_root``:
    :func:`on_the_spot`), depth noise (in the sensor's frame, before the viewpoint changes), mirror,
    then viewpoint (``rotation`` per axis, plus ``yaw`` about the vertical)."""
    if bone_scale > 0:
        x = scale_bones(x, rng.uniform(1 - bone_scale, 1 + bone_scale, num_bone_kinds()))
    if body_scale > 0:
        x = x * np.float32(rng.uniform(1 - body_scale, 1 + body_scale))
    if still_root:
        x = on_the_spot(x)
    if depth_noise > 0:
        x = depth_jitter(x, rng, depth_noise)
    if do_mirror:
        x = mirror(x)
    if rotation > 0 or yaw > 0:
        angles = rng.uniform(-rotation, rotation, 3) if rotation > 0 else np.zeros(3)
        if yaw > 0:  # drawn only when asked for, so recipes without it see the same random stream
            angles[1] += rng.uniform(-yaw, yaw)
        x = rotate(x, angles)
    return np.ascontiguousarray(x, dtype=np.float32)
