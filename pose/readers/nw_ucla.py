"""Northwestern-UCLA Multiview Action3D: one JSON file per sequence, Kinect v1 skeletons.

Each ``aAA_sSS_eEE_vVV.json`` holds ``{"file_name", "skeletons": [T][20][3], "label"}`` in Kinect
v1 camera space. Checked on all 1,484 sequences: y points up (head above hips) and a person facing
the sensor has the left shoulder at the smaller x, exactly as in NTU, so no rotation is needed and
only the joint layout changes (20 -> 25 joints).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from pose.errors import SkeletonError, one_line
from pose.layouts import kinect_v1_to_ntu25
from pose.readers._common import read_text
from pose.skeleton import Skeleton

NW_UCLA_FPS = 30.0  # the Kinect v1 skeleton stream's nominal rate

# Action number in the file name -> class name (numbers 7 and 10 are not in the released set).
NW_UCLA_ACTIONS: dict[int, str] = {
    1: "pick up with one hand",
    2: "pick up with two hands",
    3: "drop trash",
    4: "walk around",
    5: "sit down",
    6: "stand up",
    8: "donning",
    9: "doffing",
    11: "throw",
    12: "carry",
}
NW_UCLA_CLASSES: tuple[str, ...] = tuple(NW_UCLA_ACTIONS.values())

_NAME = re.compile(r"a(\d+)_s(\d+)_e(\d+)_v(\d+)")


def read_nw_ucla_json(path: str | os.PathLike) -> Skeleton:
    """One NW-UCLA sequence as a one-person NTU-25 Skeleton; label and meta from the file name."""
    path = Path(path)
    try:
        data = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise SkeletonError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except (ValueError, RecursionError) as exc:  # a number too long for Python's int, nesting too deep
        raise SkeletonError(f"{path}: unreadable JSON ({one_line(exc)})") from None
    if not isinstance(data, dict) or "skeletons" not in data:
        raise SkeletonError(f"{path}: no 'skeletons' entry (expected an NW-UCLA sequence)")
    try:
        joints = np.asarray(data["skeletons"], dtype=np.float32)
    except (ValueError, TypeError):
        raise SkeletonError(f"{path}: 'skeletons' is not a [T][20][3] array of numbers") from None
    if joints.ndim != 3 or joints.shape[1:] != (20, 3) or joints.shape[0] == 0:
        raise SkeletonError(f"{path}: 'skeletons' must be [T][20][3] with T >= 1, got shape {joints.shape}")
    valid = np.all(np.isfinite(joints), axis=(1, 2)) & (np.abs(joints).sum(axis=(1, 2)) > 0)
    if not valid.any():
        raise SkeletonError(f"{path}: no frame holds a skeleton")
    joints = np.where(valid[:, None, None], joints, 0.0)
    meta = {"dataset": "nw_ucla"}
    label = None
    match = _NAME.search(path.stem)
    if match:
        action, subject, episode, view = (int(g) for g in match.groups())
        meta.update(subject=str(subject), episode=str(episode), view=str(view), action=str(action))
        label = NW_UCLA_ACTIONS.get(action)
    return Skeleton.from_single(
        kinect_v1_to_ntu25(joints), NW_UCLA_FPS, valid=valid, label=label, source=str(path), meta=meta
    )


def iter_nw_ucla(root: str | os.PathLike) -> Iterator[Skeleton]:
    """Every sequence under ``root`` (the data set folder or its ``all_sqe``), in name order."""
    root = Path(root)
    folder = root / "all_sqe" if (root / "all_sqe").is_dir() else root
    files = sorted(folder.glob("*.json"))
    if not files:
        raise SkeletonError(f"{root}: no NW-UCLA .json sequences found")
    for file in files:
        yield read_nw_ucla_json(file)
