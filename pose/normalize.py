"""The one normalisation that training, evaluation and live inference all call.

It follows the NTU pipelines of the field (CTR-GCN): centre every person on the spine-middle joint
of the first person in the first valid frame, then crop the valid frames (a fixed centred crop at
test time, a random ratio in training) and resize them linearly to the model's window.

:class:`Preprocess` names all of it as data: the input half of a checkpoint's contract, written by
training and read by live use and evaluation, so the two cannot drift apart. Its defaults are the one
place the usual values (64 frames, a 0.95 crop, 30 Hz) are written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pose.camera_space import heading
from pose.layouts import NTU25_CENTER, NUM_JOINTS, J
from pose.skeleton import Skeleton

# What this code can produce, by name: joint layouts of a window (with their joint counts), the
# normalisation implemented below, and how time is resampled (linear interpolation, live and offline).
LAYOUTS: dict[str, int] = {"ntu25": NUM_JOINTS}
# "spine-mid-first-frame": centred only (:func:`center`); "...-facing": then also turned about the
# vertical so the first person faces the camera in the first valid frame (:func:`face_front`);
# "...-no-travel": each person's travel over the floor taken away (:func:`hold_root`, the Kinect x
# and z axes: rises and falls stay); "...-shared-joints": the joints not every sensor measures laid
# on those it does (:func:`shared_joints`). Each name maps to (turn, hold the root, shared joints).
_STEPS: dict[str, tuple[bool, bool, bool]] = {
    "spine-mid-first-frame": (False, False, False),
    "spine-mid-first-frame-facing": (True, False, False),
    "spine-mid-first-frame-no-travel": (False, True, False),
    "spine-mid-first-frame-shared-joints": (False, False, True),
}
NORMALISATIONS: tuple[str, ...] = tuple(_STEPS)
# Kinect axes along the floor: x (across the view) and z (depth); y is up.
FLOOR_AXES: tuple[int, ...] = (0, 2)
RESAMPLINGS: tuple[str, ...] = ("linear",)


class UnsupportedPreprocess(ValueError):
    """A preprocessing contract names a layout, normalisation or resampling this code does not have."""


@dataclass(frozen=True)
class Preprocess:
    """How a model's input windows are made, as data (see the module doc).

    ``window``: frames per window; ``test_crop``: the fixed centred crop ratio at test time (training
    crops at random); ``frame_rate``: the rate (Hz) of the recordings the model learnt from, to which live
    poses are resampled by their timestamps; ``resampling``: how time is resampled; ``layout``: the
    joint layout; ``normalisation``: the normalisation (``normalize_window``).
    """

    window: int = 64
    test_crop: float = 0.95
    frame_rate: float = 30.0
    resampling: str = "linear"
    layout: str = "ntu25"
    normalisation: str = "spine-mid-first-frame"

    def __post_init__(self) -> None:
        """Refuse what this code cannot honour: unknown names (UnsupportedPreprocess), bad numbers."""
        for what, value, known in (
            ("layout", self.layout, tuple(LAYOUTS)),
            ("normalisation", self.normalisation, NORMALISATIONS),
            ("resampling", self.resampling, RESAMPLINGS),
        ):
            if value not in known:
                raise UnsupportedPreprocess(
                    f"{what} {value!r} is not one this code has (it has: {', '.join(known)})"
                )
        if isinstance(self.window, bool) or not isinstance(self.window, int) or self.window < 2:
            raise ValueError(f"window must be an integer of at least 2 frames, got {self.window!r}")
        if not isinstance(self.test_crop, (int, float)) or not 0 < self.test_crop <= 1:
            raise ValueError(f"test_crop must be in (0, 1], got {self.test_crop!r}")
        rate = self.frame_rate
        if not isinstance(rate, (int, float)) or not math.isfinite(rate) or rate <= 0:
            raise ValueError(f"frame_rate must be a positive number of Hz, got {rate!r}")

    @property
    def num_joints(self) -> int:
        return LAYOUTS[self.layout]


PREPROCESS = Preprocess()  # the defaults: what every shipped model so far was trained with


def center(joints: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Subtract the spine-middle of the first observed person in the first valid frame.

    joints (T, M, 25, 3), valid (T, M). Unobserved entries stay zero so they still read as absent.
    """
    out = np.array(joints, np.float32, copy=True)
    frames = np.flatnonzero(valid.any(axis=1))
    if frames.size == 0:
        return out
    t0 = frames[0]
    m0 = int(np.flatnonzero(valid[t0])[0])
    out -= out[t0, m0, NTU25_CENTER]
    out[~valid] = 0.0
    return out


# NTU-25 joints that Kinect v1 (NW-UCLA, UTKinect: 20 joints) does not measure, each with the joint
# the v1 mapping puts in its place (pose.layouts.KINECT_V1_TO_NTU25): the neck on the spine at the
# shoulders, the hand tips and thumbs on their hands.
SHARED_JOINT_SOURCES: dict[int, int] = {
    J["neck"]: J["spine_shoulder"],
    J["left_hand_tip"]: J["left_hand"],
    J["left_thumb"]: J["left_hand"],
    J["right_hand_tip"]: J["right_hand"],
    J["right_thumb"]: J["right_hand"],
}


def shared_joints(joints: np.ndarray) -> np.ndarray:
    """(..., 25, 3) -> the same with every joint of :data:`SHARED_JOINT_SOURCES` on its source joint.

    Why: each source fills those five joints its own way (Kinect v2 measures them, Kinect v1 copies
    the nearest joint, motion-capture rigs and MediaPipe synthesise them), so a model can learn a
    sensor from them instead of an action. Laid on joints every source measures, all sources show
    the same 20 joints.
    """
    out = np.array(joints, np.float32, copy=True)
    targets, sources = zip(*SHARED_JOINT_SOURCES.items(), strict=True)
    out[..., list(targets), :] = out[..., list(sources), :]
    return out


def face_front(joints: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Turn every person about the vertical axis through the origin so that the first observed person
    faces the camera (their shoulder and hip lines along Kinect x) in the first valid frame.

    Why: the motion-capture sets are stored facing the sensor, the Kinect sets were filmed from up to
    90 degrees aside, and the live path turns every person to face the camera
    (:class:`pose.camera_space.FaceCamera`): one convention for all of them. Only the first frame sets
    the turn, so turning during the window stays visible. Call after :func:`center`.
    """
    frames = np.flatnonzero(valid.any(axis=1))
    if frames.size == 0:
        return joints
    t0 = frames[0]
    m0 = int(np.flatnonzero(valid[t0])[0])
    turn = heading(joints[t0, m0])
    flat = (joints[..., 0] + 1j * joints[..., 2]) / turn
    out = np.array(joints, np.float32, copy=True)
    out[..., 0] = flat.real
    out[..., 2] = flat.imag
    out[~valid] = 0.0
    return out


def hold_root(joints: np.ndarray, valid: np.ndarray, axes: tuple[int, ...] = FLOOR_AXES) -> np.ndarray:
    """Shift every person, frame by frame, so that their spine base keeps along ``axes`` the place it
    had in their first valid frame: the limbs move about it as before.

    Why: live, travel is what the pose stage knows least. The camera-space root's depth comes from
    the body's size in pixels, and a camera that pans with a walker, or a treadmill, shows no travel
    at all, while every training recording has it. The shipped model knows walking and running only
    by travel: their motion-capture clips replayed on the spot are "jumping up" or "doing jumping
    jacks" in every window (`python tools/travel_check.py`). Over the floor only by default: a jump's
    rise and a fall's drop are the body's own. joints (T, M, V, 3), valid (T, M); unobserved entries
    stay zero.
    """
    out = np.array(joints, np.float32, copy=True)
    held = list(axes)
    for m in range(out.shape[1]):
        frames = np.flatnonzero(valid[:, m])
        if frames.size == 0:
            continue
        root = out[frames, m, J["spine_base"]]  # (F, 3)
        shift = np.zeros_like(root)
        shift[:, held] = (root - root[0])[:, held]
        out[frames, m] -= shift[:, None, :]
    out[~valid] = 0.0
    return out


def _resize_time(x: np.ndarray, length: int) -> np.ndarray:
    """Linear interpolation along axis 0 to ``length`` samples (end points kept)."""
    n = x.shape[0]
    if n == length:
        return x.copy()
    if n == 1:
        return np.repeat(x, length, axis=0)
    pos = np.linspace(0.0, n - 1, length)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    w = (pos - lo).reshape((-1,) + (1,) * (x.ndim - 1)).astype(np.float32)
    return x[lo] * (1 - w) + x[hi] * w


def crop_resize(
    joints: np.ndarray,
    valid: np.ndarray,
    window: int = PREPROCESS.window,
    crop: float | tuple[float, float] = PREPROCESS.test_crop,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Crop the span of valid frames and resize it to ``window`` frames.

    ``crop`` is a fixed ratio (centred crop, deterministic) or a (low, high) range from which a
    ratio and an offset are drawn with ``rng`` (training). Returns joints (window, M, 25, 3) and the
    per-frame validity (window, M) after resizing.
    """
    any_valid = valid.any(axis=1)
    frames = np.flatnonzero(any_valid)
    if frames.size == 0:
        return np.zeros((window,) + joints.shape[1:], np.float32), np.zeros((window, valid.shape[1]), bool)
    begin, end = int(frames[0]), int(frames[-1]) + 1
    span = end - begin
    if isinstance(crop, tuple):
        rng = rng or np.random.default_rng()
        ratio = float(rng.uniform(crop[0], crop[1]))
        length = max(min(span, int(round(span * ratio))), 1)
        offset = int(rng.integers(0, span - length + 1))
    else:
        length = max(min(span, int(round(span * float(crop)))), 1)
        offset = (span - length) // 2
    seg = joints[begin + offset : begin + offset + length]
    seg_valid = valid[begin + offset : begin + offset + length].astype(np.float32)
    out = _resize_time(seg, window).astype(np.float32)
    out_valid = _resize_time(seg_valid, window) > 0.5
    out[~out_valid] = 0.0
    return out, out_valid


def normalize_window(
    skeleton: Skeleton | tuple[np.ndarray, np.ndarray],
    window: int = PREPROCESS.window,
    crop: float | tuple[float, float] = PREPROCESS.test_crop,
    rng: np.random.Generator | None = None,
    normalisation: str = PREPROCESS.normalisation,
) -> np.ndarray:
    """Skeleton (or joints, valid) to the model's input: float32 (3, window, 25, M).

    The layout (C, T, V, M) is the one the NTU models of the field take. Persons absent from the
    whole window are all zeros, which is how the model tells them apart. ``normalisation`` is one of
    :data:`NORMALISATIONS` (a checkpoint's contract names it).
    """
    if normalisation not in _STEPS:
        raise UnsupportedPreprocess(f"normalisation {normalisation!r} is not one this code has")
    if isinstance(skeleton, Skeleton):
        joints, valid = skeleton.joints, skeleton.valid
    else:
        joints, valid = skeleton
    turn, hold, shared = _STEPS[normalisation]
    centred = center(shared_joints(joints) if shared else joints, valid)
    if hold:
        centred = hold_root(centred, valid)
    if turn:
        centred = face_front(centred, valid)
    out, _ = crop_resize(centred, valid, window, crop, rng)
    return np.ascontiguousarray(out.transpose(3, 0, 2, 1))


def contract_window(skeleton: Skeleton | tuple[np.ndarray, np.ndarray], preprocess: Preprocess) -> np.ndarray:
    """A window made exactly as ``preprocess`` (a checkpoint's contract) says, at test time: the one
    call for live windows, taught examples and evaluation."""
    return normalize_window(
        skeleton, preprocess.window, crop=preprocess.test_crop, normalisation=preprocess.normalisation
    )
