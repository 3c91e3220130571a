"""UTKinect-Action3D: one joints file per recording, cut into labelled segments by frame id.

``joints/joints_sSS_eEE.txt`` holds per line a frame id and 20 Kinect v1 joints; ``actionLabel.txt``
gives, per recording, ``action: start end`` as frame ids of the 30 fps colour stream. Skeletons were
only kept while tracked, so ids jump irregularly (mostly by 2 to 8) and a few ids appear twice. We
therefore average repeated ids and resample each segment on a uniform 15 fps time base, marking
frames inside tracking gaps longer than half a second as invalid rather than inventing a pose there.
Axes (checked on all 20 recordings) are NTU's: y up, a facing person's left shoulder at smaller x.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from pose.errors import SkeletonError
from pose.layouts import kinect_v1_to_ntu25
from pose.readers._common import read_text
from pose.skeleton import Skeleton

log = logging.getLogger(__name__)

ID_RATE = 30.0  # frame ids count frames of the 30 fps colour stream
UTKINECT_FPS = 15.0  # the uniform rate segments are resampled to
MAX_GAP_S = 0.5  # a longer stretch without a tracked skeleton is left invalid
MAX_SEGMENT_S = 600.0  # segments last seconds; ids spanning more than this are corrupt, not an action

UTKINECT_ACTIONS: dict[str, str] = {
    "walk": "walk",
    "sitDown": "sit down",
    "standUp": "stand up",
    "pickUp": "pick up",
    "carry": "carry",
    "throw": "throw",
    "push": "push",
    "pull": "pull",
    "waveHands": "wave hands",
    "clapHands": "clap hands",
}
UTKINECT_CLASSES: tuple[str, ...] = tuple(UTKINECT_ACTIONS.values())

_RECORDING = re.compile(r"^s(\d{1,4})_e(\d{1,4})$")
_SEGMENT = re.compile(r"^(\w+)\s*:\s*(\S+)\s+(\S+)$")


def read_label_file(path: Path) -> dict[str, list[tuple[str, float, float]]]:
    """Recording name -> [(action, start id, end id)]; unreadable ids come back as NaN."""
    segments: dict[str, list[tuple[str, float, float]]] = {}
    current: str | None = None
    for number, line in enumerate(read_text(path).splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        if _RECORDING.match(line):
            current = line
            segments[current] = []
            continue
        match = _SEGMENT.match(line)
        if not match or current is None:
            raise SkeletonError(
                f"{path}:{number}: expected 'sSS_eEE' or 'action: start end', got {line[:60]!r}"
            )
        action, start, end = match.groups()
        segments[current].append((action, _float_or_nan(start), _float_or_nan(end)))
    if not segments:
        raise SkeletonError(f"{path}: no recording listed in the label file")
    return segments


def _float_or_nan(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")


def read_joints_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique frame ids (N,) and their Kinect v1 joints (N, 20, 3), repeats averaged."""
    rows: list[list[float]] = []
    for number, line in enumerate(read_text(path).splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 61:
            raise SkeletonError(
                f"{path}:{number}: expected a frame id and 60 values, got {len(parts)} values"
            )
        try:
            rows.append([float(p) for p in parts])
        except ValueError:
            raise SkeletonError(f"{path}:{number}: non-numeric value in the joints line") from None
    table = np.asarray(rows)
    if not np.all(np.isfinite(table)):
        raise SkeletonError(f"{path}: NaN or infinite values in the joints file")
    ids, inverse, counts = np.unique(table[:, 0], return_inverse=True, return_counts=True)
    sums = np.zeros((ids.size, 60))
    np.add.at(sums, inverse, table[:, 1:])
    return ids, (sums / counts[:, None]).reshape(-1, 20, 3)


def resample_segment(ids: np.ndarray, joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Joints (n, J, 3) at irregular frame ids -> (T, J, 3) at UTKINECT_FPS and a validity mask."""
    if ids.size == 1:
        return joints.copy(), np.ones(1, bool)
    grid = np.arange(ids[0], ids[-1] + 1e-6, ID_RATE / UTKINECT_FPS)
    hi = np.clip(np.searchsorted(ids, grid, side="left"), 1, ids.size - 1)
    lo = hi - 1
    span = ids[hi] - ids[lo]
    w = ((grid - ids[lo]) / span)[:, None, None]
    out = joints[lo] * (1.0 - w) + joints[hi] * w
    valid = span <= MAX_GAP_S * ID_RATE
    return out, valid


def iter_utkinect(root: str | os.PathLike) -> Iterator[Skeleton]:
    """One Skeleton per labelled segment, recordings in name order.

    Segments whose range is missing (NaN), reversed or holds no tracked frame are skipped with a
    logged warning: one bad label line should not cost the other 199 segments.
    """
    root = Path(root)
    folder = root / "joints" if (root / "joints").is_dir() else root
    label_file = folder / "actionLabel.txt"
    if not label_file.is_file():
        raise SkeletonError(f"{root}: no actionLabel.txt (expected the UTKinect joints/ folder)")
    for recording, segments in sorted(read_label_file(label_file).items()):
        ids, joints = read_joints_file(folder / f"joints_{recording}.txt")
        subject, episode = (str(int(g)) for g in _RECORDING.match(recording).groups())
        for action, start, end in segments:
            where = f"{label_file}: {recording} {action}"
            if action not in UTKINECT_ACTIONS:
                log.warning("%s: unknown action, segment skipped", where)
                continue
            if not (np.isfinite(start) and np.isfinite(end)) or end < start:
                log.warning(
                    "%s: frame range %s-%s is missing or reversed, segment skipped", where, start, end
                )
                continue
            inside = (ids >= start) & (ids <= end)
            if not inside.any():
                log.warning("%s: no tracked frame between ids %g and %g, segment skipped", where, start, end)
                continue
            span_s = (ids[inside][-1] - ids[inside][0]) / ID_RATE
            if span_s > MAX_SEGMENT_S:
                log.warning("%s: tracked frames span %.3g s, segment skipped", where, span_s)
                continue
            seg_joints, valid = resample_segment(ids[inside], joints[inside])
            if not valid.any():
                log.warning("%s: tracked frames too far apart to resample, segment skipped", where)
                continue
            yield Skeleton.from_single(
                kinect_v1_to_ntu25(seg_joints),
                UTKINECT_FPS,
                valid=valid,
                label=UTKINECT_ACTIONS[action],
                source=f"{folder / f'joints_{recording}.txt'}[{start:g}-{end:g}]",
                meta={
                    "dataset": "utkinect",
                    "subject": subject,
                    "episode": episode,
                    "start": str(int(start)),
                    "end": str(int(end)),
                },
            )
