"""Pose backends: what finds persons in a frame, behind one small interface, chosen by name.

A backend does two things. It opens a :class:`Detector`, which turns a BGR frame into raw poses in
its own keypoints (:data:`RawPose`: world points in metres and image points with visibility), and it
maps one raw pose to a :class:`Detection`: NTU-25 joints, their image points and a visibility. The
estimator (:mod:`pose.estimator`) does everything after that (tracking, person choice, camera
placement, smoothing) the same way for every backend, and never looks at a backend's keypoints by
index. Raw poses stay the backend's own so that recorded detections can be replayed through the
same mapping (``neuron-live evaluate-videos``).

The table below names each backend and its module; a module defines ``BACKEND``, an object with the
:class:`PoseBackend` attributes. Adding a backend is one new module here and one row in the table.
This file imports nothing heavy: the command line validates ``--pose-backend`` against the table
before any model loads.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from pose.errors import PoseError

if TYPE_CHECKING:
    import numpy as np

# One detected person in the backend's own K keypoints: world points (K, 3) in metres, in the image's
# axes (x right, y down, z away from the camera) with the origin the backend's (MediaPipe: between the
# hips), and image points (K, 4): x and y normalised by the frame's width and height, z, visibility
# in [0, 1].
RawPose = tuple["np.ndarray", "np.ndarray"]


class Detector(Protocol):
    """What finds the persons in one frame: a backend's model, or (to re-score a video without
    running the model again) detections recorded earlier. ``image`` is the BGR frame,
    ``timestamp_ms`` strictly increasing; ``name`` says which model (variant) answers."""

    name: str

    def detect(self, image: np.ndarray, timestamp_ms: int) -> list[RawPose]: ...

    def close(self) -> None: ...


@dataclass
class Detection:
    """One raw pose mapped to NTU-25: ``joints`` (25, 3) metres in Kinect axes, with the origin of
    the raw world points; ``image_xy`` (25, 2) the same joints in normalised image coordinates of
    the unmirrored frame; ``visibility`` the mean visibility of the backend's keypoints in [0, 1].
    ``world`` and ``image`` are the raw pose, which places the body in camera space and says how
    much of it is in view."""

    joints: np.ndarray
    image_xy: np.ndarray
    visibility: float
    world: np.ndarray
    image: np.ndarray


class PoseBackend(Protocol):
    """A pose model family: opens detectors, maps their raw poses to NTU-25."""

    name: str
    # Variants a caller may ask for (the first is the default), e.g. MediaPipe's "auto", "tasks", "legacy".
    variants: tuple[str, ...]

    def open(
        self, variant: str, num_poses: int, min_confidence: float, bundle_dir: Path | None, smooth: bool
    ) -> Detector:
        """A detector looking for up to ``num_poses`` persons; PoseError when it cannot start."""
        ...

    def to_detection(self, raw: RawPose) -> Detection: ...

    def version(self) -> str:
        """The model's version, for keying caches of detections."""
        ...

    def smooth_after(self, detector_name: str) -> bool:
        """Whether the estimator's per-track filter should smooth this detector's joints (False
        where the detector smooths over time itself)."""
        ...

    def max_poses(self, detector_name: str) -> int | None:
        """How many persons this detector can find at most (None: as many as asked for)."""
        ...


@dataclass(frozen=True)
class BackendEntry:
    name: str
    description: str
    module: str


POSE_BACKENDS: tuple[BackendEntry, ...] = (
    BackendEntry(
        "mediapipe",
        "MediaPipe Pose: Tasks PoseLandmarker (several persons), else the legacy API (one person)",
        "pose.backends.mediapipe",
    ),
)
POSE_BACKEND_NAMES: tuple[str, ...] = tuple(b.name for b in POSE_BACKENDS)
DEFAULT_POSE_BACKEND = "mediapipe"


def check_pose_backend(name: str) -> str:
    """``name`` when it is a known backend, else PoseError listing the choices."""
    if name not in POSE_BACKEND_NAMES:
        raise PoseError(f"unknown pose backend {name!r}; choose one of {', '.join(POSE_BACKEND_NAMES)}")
    return name


def pose_backend(name: str = DEFAULT_POSE_BACKEND) -> PoseBackend:
    """The backend called ``name`` (its module is imported now); PoseError for an unknown name."""
    check_pose_backend(name)
    entry = next(b for b in POSE_BACKENDS if b.name == name)
    return importlib.import_module(entry.module).BACKEND


def backends_help() -> str:
    """``mediapipe (MediaPipe Pose: ...)``, one per backend, for --help texts."""
    return "; ".join(f"{b.name} ({b.description})" for b in POSE_BACKENDS)
