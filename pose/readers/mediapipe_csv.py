"""MediaPipe Pose landmark tables (CSV) as NTU-25 skeletons.

The CSV holds a header row, then per frame 33 landmarks x (x, y, z, visibility) in MediaPipe's
normalised IMAGE coordinates (x by image width, y by image height, z roughly in x's scale, origin of
z at the hips), optionally followed by a text label column. That is not metric, so we make it
roughly metric: centre on the hips of the first complete frame and scale so the median torso
(hip centre to shoulder centre, in the image plane) is 0.5 m, about an adult's. The image aspect
ratio is unknown to the file, so x and y keep whatever relative scale the video had. MediaPipe's
image z overstates depth: fitting one z factor per file that keeps every bone's length constant
across frames gives 0.22 to 0.40 on the shared yoga CSVs, so z is scaled by DEPTH_SCALE = 0.3
before anything else. The result is then mapped like MediaPipe world landmarks (x right, y down,
z away), which turns it into Kinect axes by a rotation. Frames with a missing or non-numeric
landmark value are invalid frames.
"""

from __future__ import annotations

import csv
import io
import os
from collections import Counter
from pathlib import Path

import numpy as np

from pose.backends.mediapipe import MP, mediapipe_to_ntu25
from pose.errors import SkeletonError, one_line
from pose.readers._common import read_text
from pose.skeleton import Skeleton

TORSO_M = 0.5
DEPTH_SCALE = 0.3
_VALUES = 33 * 4


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")


def read_mediapipe_csv(path: str | os.PathLike, fps: float = 30.0) -> Skeleton:
    """Read a MediaPipe landmark CSV (one row per frame); the label is its text column, if any."""
    path = Path(path)
    try:
        rows = list(csv.reader(io.StringIO(read_text(path))))
    except csv.Error as exc:  # a NUL byte, a field over the csv module's size limit
        raise SkeletonError(f"{path}: not a readable CSV ({one_line(exc)})") from None
    if len(rows) < 2:
        raise SkeletonError(f"{path}: a header row and at least one frame row are needed")
    header, body = rows[0], [r for r in rows[1:] if r]
    if len(header) < _VALUES:
        raise SkeletonError(f"{path}: the header has {len(header)} columns, expected 33 x 4 = {_VALUES}")
    values = np.full((len(body), _VALUES), np.nan)
    labels: Counter[str] = Counter()
    for t, row in enumerate(body):
        values[t, : min(len(row), _VALUES)] = [_number(v) for v in row[:_VALUES]]
        labels.update(v.strip() for v in row[_VALUES : _VALUES + 1] if np.isnan(_number(v)) and v.strip())
    landmarks = values.reshape(-1, 33, 4)[..., :3] * [1.0, 1.0, DEPTH_SCALE]
    valid = np.all(np.isfinite(landmarks), axis=(1, 2))
    if not valid.any():
        raise SkeletonError(f"{path}: no frame has all 33 landmarks")
    hips = landmarks[:, [MP["left_hip"], MP["right_hip"]]].mean(axis=1)
    shoulders = landmarks[:, [MP["left_shoulder"], MP["right_shoulder"]]].mean(axis=1)
    torso = float(np.median(np.linalg.norm((shoulders - hips)[valid, :2], axis=1)))
    if not torso > 0:
        raise SkeletonError(f"{path}: shoulders and hips coincide; cannot tell the body's scale")
    first = int(np.flatnonzero(valid)[0])
    metric = (landmarks - hips[first]) * (TORSO_M / torso)
    joints = np.where(valid[:, None, None], mediapipe_to_ntu25(np.nan_to_num(metric), world=True), 0.0)
    label = labels.most_common(1)[0][0].replace("_", " ").lower() if labels else None
    return Skeleton.from_single(
        joints, fps, valid=valid, label=label, source=str(path), meta={"dataset": "mediapipe"}
    )
