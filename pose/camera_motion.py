"""How far the camera turned between two frames, from the background's motion in the picture.

The camera-space root (:mod:`pose.camera_space`) places each person from where the body is in the
picture. That assumes a camera that stands still: a camera that pans with a runner keeps the runner
in the middle of the picture (no travel: the model hears "jumping jacks"), and a hand-held camera
that bobs with its holder's steps lifts and drops everyone in view (a walker becomes "jumping up").
Both move the whole background by one image shift, which is measured here: corners of the previous
frame outside every detected person are followed into the current frame (pyramidal Lucas-Kanade
optical flow on a small grey copy) and the median of their displacements is the background's shift.
:class:`pose.camera_space.CameraSpace` turns it into the camera's rotation and takes it out of
every person's position.

A shift is only reported when enough corners agree on it; otherwise (a blank or featureless frame,
people filling the picture, a cut) the frame is taken as a camera that did not move.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import cv2
import numpy as np

# Changing how a shift is measured changes the recorded detections' meaning (app.video_eval caches).
MOTION_VERSION = 2
# The grey copy the flow runs on: this many pixels across (a 1080p frame shrinks six times).
WIDTH = 320
MAX_CORNERS = 200
MIN_CORNERS = 12  # fewer followed corners than this tell nothing
AGREE_PX = 1.0  # a corner agrees with the median when it moved within this many pixels of it
MIN_AGREEING = 0.5  # and at least this share of the corners must agree
# A person's box (from their image points) grown by this share of its size on each side: limbs the
# points miss, and the person's own motion, stay out of the background.
BOX_MARGIN = 0.15


class MotionEstimator(Protocol):
    """Says how the background moved since the previous frame: the app measures it on the frame,
    a replay answers what was measured then (by ``timestamp_ms``)."""

    def shift(self, image: np.ndarray, timestamp_ms: int, people: Sequence[np.ndarray]) -> np.ndarray | None:
        """(2,) the background's displacement since the previous frame in normalised image units
        (x by the width, y by the height), or None when it cannot be told. ``people`` are the
        detected persons' image points (K, >= 2: normalised x, y)."""
        ...


def background_mask(shape: tuple[int, int], people: Sequence[np.ndarray]) -> np.ndarray:
    """uint8 mask of a ``shape`` (height, width) picture: 255 where no person's grown box is."""
    height, width = shape
    mask = np.full((height, width), 255, np.uint8)
    for points in people:
        xy = np.asarray(points, np.float64)[:, :2]
        xy = xy[np.isfinite(xy).all(axis=1)]
        if not len(xy):
            continue
        low, high = xy.min(axis=0), xy.max(axis=0)
        grow = (high - low) * BOX_MARGIN
        x0, y0 = np.floor((low - grow) * (width, height)).astype(int)
        x1, y1 = np.ceil((high + grow) * (width, height)).astype(int)
        mask[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)] = 0
    return mask


class BackgroundMotion:
    """The :class:`MotionEstimator` of a live camera or video: optical flow of background corners."""

    def __init__(self) -> None:
        self._last: np.ndarray | None = None  # the previous frame's grey copy
        self._mask: np.ndarray | None = None  # and where its background is

    def shift(self, image: np.ndarray, timestamp_ms: int, people: Sequence[np.ndarray]) -> np.ndarray | None:
        grey = self._grey(image)
        last, mask = self._last, self._mask
        self._last, self._mask = grey, background_mask(grey.shape, people)
        if last is None or last.shape != grey.shape:
            return None
        corners = cv2.goodFeaturesToTrack(last, MAX_CORNERS, 0.01, 6, mask=mask)
        if corners is None or len(corners) < MIN_CORNERS:
            return None
        moved, status, _ = cv2.calcOpticalFlowPyrLK(last, grey, corners, None, winSize=(15, 15), maxLevel=3)
        ok = status.ravel() == 1
        if ok.sum() < MIN_CORNERS:
            return None
        steps = (moved - corners).reshape(-1, 2)[ok]
        median = np.median(steps, axis=0)
        agree = np.linalg.norm(steps - median, axis=1) <= AGREE_PX
        if agree.mean() < MIN_AGREEING:
            return None
        height, width = grey.shape
        return (steps[agree].mean(axis=0) / (width, height)).astype(np.float64)

    @staticmethod
    def _grey(image: np.ndarray) -> np.ndarray:
        height, width = image.shape[:2]
        size = (WIDTH, max(int(round(height * WIDTH / max(width, 1))), 1))
        # Linear, not area, interpolation: far cheaper on a 1080p frame (an area shrink cost more than
        # the corners and the flow together); the median over many corners shrugs off its aliasing.
        small = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR) if width > WIDTH else image
        return cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
