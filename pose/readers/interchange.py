"""The project's interchange ``.npz`` (one clip per file; see :mod:`pose.skeleton`) as a reader."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from pose.errors import SkeletonError, one_line
from pose.readers._common import ARCHIVE_ERRORS
from pose.skeleton import Skeleton, load_npz


def read_npz(path: str | os.PathLike) -> Skeleton:
    """The interchange .npz; a CTR-GCN data set file is many sequences and gets a pointer instead."""
    path = Path(path)
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
