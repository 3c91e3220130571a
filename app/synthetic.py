"""Frame sources that already know the pose: the built-in demo and replayed skeleton files.

They skip the pose stage but go through the same window, model, smoothing and output path as a
camera, so the demo and a replay show exactly what live use would show. Each frame is a plain dark
canvas (the GUI draws the skeleton over it, as over a video) carrying its :class:`PoseResult`: a
:class:`pose.sources.PosedFrame`, which the pipeline's pose stage passes through as it is.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from app.demo_motion import DemoMotion
from pose.errors import SkeletonError
from pose.estimator import PersonPose, PoseResult
from pose.readers import read_skeleton_file
from pose.skeleton import Skeleton
from pose.sources import FrameSource, PosedFrame

CANVAS_SIZE = (480, 640)  # height, width
# Focal lengths in units of image width and height: about a Kinect's field of view at 4:3.
FOCAL_X, FOCAL_Y = 0.82, 1.09
MIN_DEPTH_M = 0.3


def _canvas() -> np.ndarray:
    """A dark backdrop with a soft vertical gradient, so the skeleton reads like a person on a stage."""
    height, width = CANVAS_SIZE
    ramp = np.linspace(34, 18, height, dtype=np.float32)[:, None, None]
    tint = np.array([1.15, 1.0, 0.9], np.float32)  # BGR: slightly blue
    return np.broadcast_to(ramp * tint, (height, width, 3)).astype(np.uint8)


def project(joints: np.ndarray) -> np.ndarray:
    """Camera-space joints (..., 25, 3) in Kinect axes to normalised image coordinates (..., 25, 2)
    of an unmirrored camera image (a facing person's left side appears on the image's right)."""
    z = np.maximum(joints[..., 2], MIN_DEPTH_M)
    u = 0.5 - FOCAL_X * joints[..., 0] / z
    v = 0.5 - FOCAL_Y * joints[..., 1] / z
    return np.stack([u, v], axis=-1).astype(np.float32)


class _PosedSource(FrameSource):
    """Common part: stamping frames and wrapping persons; subclasses say what each frame shows."""

    def __init__(self, fps: float, name: str) -> None:
        super().__init__()
        self.fps = fps
        self.name = name
        self._index = 0
        self._image = _canvas()

    def _frame(self, persons: list[tuple[int, np.ndarray]], reference: str | None) -> PosedFrame:
        t_capture = time.monotonic()
        index, self._index = self._index, self._index + 1
        t_media = index / self.fps
        result = PoseResult(index, t_capture, t_media=t_media)
        result.persons = [PersonPose(track, joints, project(joints), 1.0) for track, joints in persons]
        return PosedFrame(self._image, index, t_capture, t_media, pose=result, reference=reference)


class DemoSource(_PosedSource):
    """The scripted demo person (waving, clapping, squatting ...); loops when ``loop``."""

    def __init__(self, fps: float = 30.0, loop: bool = False, seed: int = 0) -> None:
        super().__init__(fps, "built-in demo")
        self.loop = loop
        self._motion = DemoMotion(fps, seed)
        self.frame_count = None if loop else self._motion.frames_per_loop

    def read(self) -> PosedFrame | None:
        if not self.loop and self._index >= self._motion.frames_per_loop:
            return None
        joints, label = self._motion.frame(self._index)
        return self._frame([(0, joints)], label)


class SkeletonReplaySource(_PosedSource):
    """A recorded skeleton (interchange .npz or any format the readers know), frame by frame."""

    def __init__(self, skeleton: Skeleton, name: str) -> None:
        super().__init__(skeleton.fps, name)
        self.skeleton = skeleton
        self.frame_count = skeleton.num_frames

    def read(self) -> PosedFrame | None:
        t = self._index
        if t >= self.skeleton.num_frames:
            return None
        persons = [(m, self.skeleton.joints[t, m]) for m in np.flatnonzero(self.skeleton.valid[t])]
        return self._frame([(int(m), j) for m, j in persons], self.skeleton.label)


def read_skeleton(path: Path) -> Skeleton:
    """Any skeleton file ``pose.readers`` knows (interchange .npz, NTU .skeleton, BVH ...)."""
    if not path.exists():
        raise SkeletonError(f"{path}: file not found")
    if not path.is_file():
        raise SkeletonError(f"{path}: not a file")
    return read_skeleton_file(path)
