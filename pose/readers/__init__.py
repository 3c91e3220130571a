"""Readers of every skeleton data set the project trains or tests on, all returning :class:`Skeleton`.

Each reader converts its source to NTU-25 joints in metres and Kinect camera axes (x to the
sensor's left, y up, z away), so that everything downstream sees one layout. Malformed input
raises :class:`pose.errors.SkeletonError` with a one-line message naming the file. Which reader
reads what is one table, :mod:`pose.readers.registry`.
"""

from __future__ import annotations

import os
from pathlib import Path

from pose.errors import SkeletonError
from pose.readers.bvh import iter_bandai, read_bvh
from pose.readers.mediapipe_csv import read_mediapipe_csv
from pose.readers.ntu import NTU120_CLASSES, iter_ctrgcn_npz, read_ntu_skeleton
from pose.readers.nw_ucla import NW_UCLA_CLASSES, iter_nw_ucla, read_nw_ucla_json
from pose.readers.registry import FILE_SUFFIXES, SOURCES_BY_SUFFIX
from pose.readers.utkinect import UTKINECT_CLASSES, iter_utkinect
from pose.skeleton import Skeleton

__all__ = [
    "NTU120_CLASSES",
    "NW_UCLA_CLASSES",
    "UTKINECT_CLASSES",
    "iter_bandai",
    "iter_ctrgcn_npz",
    "iter_nw_ucla",
    "iter_utkinect",
    "read_bvh",
    "read_mediapipe_csv",
    "read_ntu_skeleton",
    "read_nw_ucla_json",
    "read_skeleton_file",
]


def read_skeleton_file(path: str | os.PathLike) -> Skeleton:
    """Read one skeleton file, choosing the reader by its suffix (see ``pose.readers.registry``:
    .skeleton raw NTU RGB+D, .npz the project's interchange file, .json NW-UCLA, .bvh motion
    capture, .csv MediaPipe landmarks)."""
    path = Path(path)
    source = SOURCES_BY_SUFFIX.get(path.suffix.lower())
    if source is None:
        known = ", ".join(FILE_SUFFIXES)
        raise SkeletonError(
            f"{path}: unknown skeleton file type {path.suffix or '(none)'!r} (known: {known})"
        )
    return source.read_file(path)
