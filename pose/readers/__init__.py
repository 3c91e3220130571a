"""Readers of every skeleton data set the project trains or tests on, all returning :class:`Skeleton`.

Each reader converts its source to NTU-25 joints in metres and Kinect camera axes (x to the
sensor's left, y up, z away), so that everything downstream sees one layout. Malformed input
raises :class:`pose.errors.SkeletonError` with a one-line message naming the file.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from pose.errors import SkeletonError, one_line
from pose.readers._common import ARCHIVE_ERRORS
from pose.readers.bvh import iter_bandai, read_bvh
from pose.readers.mediapipe_csv import read_mediapipe_csv
from pose.readers.ntu import NTU120_CLASSES, iter_ctrgcn_npz, read_ntu_skeleton
from pose.readers.nw_ucla import NW_UCLA_CLASSES, iter_nw_ucla, read_nw_ucla_json
from pose.readers.utkinect import UTKINECT_CLASSES, iter_utkinect
from pose.skeleton import Skeleton, load_npz

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


def _read_npz(path: Path) -> Skeleton:
    """The interchange .npz; a CTR-GCN data set file is many sequences and gets a pointer instead."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = {Path(n).stem for n in archive.namelist()}
    except FileNotFoundError:
        raise SkeletonError(f"{path}: file not found") from None
    except (ValueError, *ARCHIVE_ERRORS) as exc:
        raise SkeletonError(f"{path}: not a readable .npz ({one_line(exc)})") from None
    if "joints" not in names and names & {"x_train", "x_test"}:
        raise SkeletonError(f"{path}: a CTR-GCN data set of many sequences; read it with iter_ctrgcn_npz")
    return load_npz(path)


_READERS = {
    ".skeleton": read_ntu_skeleton,
    ".npz": _read_npz,
    ".json": read_nw_ucla_json,
    ".bvh": read_bvh,
    ".csv": read_mediapipe_csv,
}


def read_skeleton_file(path: str | os.PathLike) -> Skeleton:
    """Read one skeleton file, choosing the reader by its suffix.

    .skeleton: raw NTU RGB+D; .npz: the project's interchange file; .json: NW-UCLA; .bvh: motion
    capture; .csv: MediaPipe landmarks.
    """
    path = Path(path)
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        known = ", ".join(_READERS)
        raise SkeletonError(
            f"{path}: unknown skeleton file type {path.suffix or '(none)'!r} (known: {known})"
        )
    return reader(path)
