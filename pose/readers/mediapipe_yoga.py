"""The MediaPipe yoga set (../shared/data/mediapipe_yoga): MediaPipe landmark CSVs, one pose each.

Each file is read by the landmark-CSV reader (:mod:`pose.readers.mediapipe_csv`). Most carry their
pose in a label column; one (``surya_namaskar__<id>.csv``) has none, so a file without a label is
named by its file name's first part (before ``__``, underscores as spaces), as the set names them.
A ``P<n>`` part of the name is the performer.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from pose.readers._common import iter_files
from pose.readers.mediapipe_csv import read_mediapipe_csv
from pose.skeleton import Skeleton

_PERFORMER = re.compile(r"__P(\d+)__")


def read_yoga_csv(path: str | os.PathLike) -> Skeleton:
    """One clip of the set, labelled by its label column, else by its file name."""
    path = Path(path)
    skel = read_mediapipe_csv(path)
    if not skel.label:
        skel.label = path.stem.split("__")[0].replace("_", " ").strip().lower() or None
    skel.meta["dataset"] = "mediapipe_yoga"
    if match := _PERFORMER.search(path.name):
        skel.meta["subject"] = str(int(match.group(1)))
    return skel


def iter_mediapipe_yoga(root: str | os.PathLike) -> Iterator[Skeleton]:
    """Every .csv under ``root``, in name order; a broken file is skipped with a warning."""
    yield from iter_files(root, (".csv",), read_yoga_csv)
