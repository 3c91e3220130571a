"""The one skeleton type of the project and its interchange file.

Every reader, the live pose stage, training and replay speak :class:`Skeleton`: joints in metres in
Kinect camera axes (x to the sensor's left, y up, z away from the sensor), always two person slots.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neuron_base.atomic import atomic_path
from pose.errors import SkeletonError, reading_npz
from pose.layouts import NUM_JOINTS

MAX_PERSONS = 2
# Anything further than this from the sensor, in metres, is not a human skeleton in a room.
MAX_ABS_COORD = 100.0
# The trunk (spine base to spine at the shoulders) of the people in every set here measures 0.41-0.55 m
# (median per file). A file whose median trunk is longer than this is not in metres: centimetres (trunk
# about 45) and millimetres (about 450) would otherwise be scored as silent garbage.
MAX_TRUNK_M = 5.0
_SPINE_BASE, _SPINE_SHOULDER = 0, 20


@dataclass
class Skeleton:
    """A sequence of NTU-25 skeletons for up to two persons.

    joints: (T, M=2, 25, 3) float32, metres, Kinect camera axes; absent persons are zeros.
    valid:  (T, M) bool, whether person m was observed in frame t.
    fps:    frame rate of the sequence (frames per second).
    label:  action name where known.
    source: where it came from (a path, a camera), for messages.
    meta:   small string facts about the origin (dataset, subject, view ...).
    """

    joints: np.ndarray
    valid: np.ndarray
    fps: float = 30.0
    label: str | None = None
    source: str = ""
    meta: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        joints = np.asarray(self.joints)
        if joints.ndim != 4 or joints.shape[1:] != (MAX_PERSONS, NUM_JOINTS, 3):
            raise SkeletonError(
                f"{self._where()}joints must have shape (T, {MAX_PERSONS}, {NUM_JOINTS}, 3), "
                f"got {joints.shape}"
            )
        valid = np.asarray(self.valid, dtype=bool)
        if valid.shape != joints.shape[:2]:
            raise SkeletonError(
                f"{self._where()}valid mask must have shape {joints.shape[:2]}, got {valid.shape}"
            )
        if not np.issubdtype(joints.dtype, np.number):
            raise SkeletonError(f"{self._where()}joints are not numbers (dtype {joints.dtype})")
        joints = joints.astype(np.float32, copy=True)
        observed = joints[valid]
        if not np.all(np.isfinite(observed)):
            raise SkeletonError(f"{self._where()}joints hold NaN or infinite values")
        if observed.size and np.abs(observed).max() > MAX_ABS_COORD:
            raise SkeletonError(f"{self._where()}joint coordinates exceed {MAX_ABS_COORD:g} m: not metres?")
        joints[~valid] = 0.0
        if not (np.isfinite(self.fps) and 0.0 < float(self.fps) <= 1000.0):
            raise SkeletonError(f"{self._where()}fps must be in (0, 1000], got {self.fps}")
        self.joints = joints
        self.valid = valid
        self.fps = float(self.fps)

    def _where(self) -> str:
        return f"{self.source}: " if self.source else ""

    @property
    def num_frames(self) -> int:
        return int(self.joints.shape[0])

    @property
    def num_persons(self) -> int:
        """How many person slots are observed in at least one frame."""
        return int(self.valid.any(axis=0).sum())

    @classmethod
    def from_single(
        cls, joints: np.ndarray, fps: float = 30.0, valid: np.ndarray | None = None, **kwargs
    ) -> Skeleton:
        """Wrap a one-person (T, 25, 3) array; frames are valid unless ``valid`` says otherwise."""
        joints = np.asarray(joints, dtype=np.float32)
        if joints.ndim != 3 or joints.shape[1:] != (NUM_JOINTS, 3):
            raise SkeletonError(f"expected (T, {NUM_JOINTS}, 3) joints, got {joints.shape}")
        full = np.zeros((joints.shape[0], MAX_PERSONS, NUM_JOINTS, 3), np.float32)
        full[:, 0] = joints
        mask = np.zeros((joints.shape[0], MAX_PERSONS), bool)
        mask[:, 0] = True if valid is None else np.asarray(valid, bool)
        return cls(full, mask, fps, **kwargs)


def save_npz(skeleton: Skeleton, path: str | os.PathLike) -> None:
    """Write the interchange file: ``joints`` (T, M, 25, 3), ``valid`` (T, M), ``fps``, ``label``.

    Strings are stored as unicode arrays, never as pickled objects, so the file loads without
    ``allow_pickle``. The write goes to a temporary file first so a crash never leaves half a file.
    """
    arrays: dict[str, np.ndarray] = {
        "joints": skeleton.joints,
        "valid": skeleton.valid,
        "fps": np.asarray(skeleton.fps, np.float32),
    }
    if skeleton.label is not None:
        arrays["label"] = np.asarray(skeleton.label)
    if skeleton.meta:
        arrays["meta_keys"] = np.asarray(list(skeleton.meta.keys()))
        arrays["meta_values"] = np.asarray([str(v) for v in skeleton.meta.values()])
    write_npz(path, arrays)


def write_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    """Write compressed arrays atomically (``neuron_base.atomic``), so a crash never leaves half a
    file (shared by every ``.npz`` the project writes)."""
    with atomic_path(path, mkdir=False) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)


def load_npz(path: str | os.PathLike) -> Skeleton:
    """Read an interchange file written by :func:`save_npz` or by any other tool.

    ``valid`` is optional (frames where a person's joints are not all zero count as valid);
    ``fps`` defaults to 30 and ``label`` to none. Never unpickles.
    """
    path = Path(path)
    with reading_npz(path, "skeleton .npz"):
        with np.load(path, allow_pickle=False) as data:
            if "joints" not in data:
                raise SkeletonError(f"{path}: no 'joints' array in the file")
            joints = np.asarray(data["joints"])
            valid = np.asarray(data["valid"]) if "valid" in data else None
            fps = float(data["fps"]) if "fps" in data else 30.0
            label = str(data["label"]) if "label" in data else None
            meta: dict[str, str] = {}
            if "meta_keys" in data and "meta_values" in data:
                meta = {str(k): str(v) for k, v in zip(data["meta_keys"], data["meta_values"], strict=False)}
    if joints.ndim == 3:  # one person, (T, 25, 3)
        joints = joints[:, None]
    if joints.ndim != 4 or joints.shape[2:] != (NUM_JOINTS, 3) or joints.shape[1] < 1:
        raise SkeletonError(f"{path}: joints must be (T, M, 25, 3), got {joints.shape}")
    if joints.shape[0] == 0:
        raise SkeletonError(f"{path}: the file holds no frames")
    if not np.issubdtype(joints.dtype, np.number):
        raise SkeletonError(f"{path}: joints are not numbers (dtype {joints.dtype})")
    joints = joints[:, :MAX_PERSONS].astype(np.float32)
    if valid is None:
        valid = np.abs(joints).sum(axis=(2, 3)) > 0
    else:
        if valid.ndim == 0 or valid.shape[0] != joints.shape[0] or valid.dtype.kind not in "biuf":
            raise SkeletonError(f"{path}: 'valid' must be a (T, M) mask matching joints, got {valid.shape}")
        valid = valid.reshape(valid.shape[0], -1)[:, :MAX_PERSONS].astype(bool)
    pad = MAX_PERSONS - joints.shape[1]
    if pad:
        joints = np.concatenate([joints, np.zeros(joints.shape[:1] + (pad, NUM_JOINTS, 3), np.float32)], 1)
        valid = np.concatenate([valid, np.zeros((valid.shape[0], pad), bool)], 1)
    if valid.shape != joints.shape[:2]:
        raise SkeletonError(f"{path}: 'valid' shape {valid.shape} does not match joints")
    if not valid.any():
        raise SkeletonError(f"{path}: no frame holds a person")
    if label is not None and not label.strip():
        label = None
    skeleton = Skeleton(joints, valid, fps, label=label, source=str(path), meta=meta)
    trunk = median_trunk(skeleton)
    if trunk > MAX_TRUNK_M:
        raise SkeletonError(f"{path}: the trunk (spine base to shoulders) measures {trunk:.3g}: joints must "
                            "be metres (a person's trunk is about 0.5 m)")  # fmt: skip
    return skeleton


def median_trunk(skeleton: Skeleton) -> float:
    """Median length of the trunk (spine base to spine at the shoulders) over observed people and frames,
    in the file's units: a unit check that no pose can fool, unlike the height of the head."""
    observed = skeleton.joints[skeleton.valid]  # (K, 25, 3)
    return float(np.median(np.linalg.norm(observed[:, _SPINE_SHOULDER] - observed[:, _SPINE_BASE], axis=-1)))
