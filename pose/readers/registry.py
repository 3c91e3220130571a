"""Every skeleton source the project reads, in one table.

One row per source kind: the name a training config uses (``kind=path``), a one-line description for
help texts, the module holding its reader, the function reading one file (with the file suffixes it
takes, for ``read_skeleton_file`` and ``--skeleton-file``) and the function reading a whole folder
(for training). A row without a folder function reads every file with one of its suffixes under the
folder, skipping a broken one with a warning. The file reader, training's config validation and
loading, and the command lines' help all read this table, so adding a reader is one new module
and one row here.

Functions are named, not imported: a reader's module (and whatever it needs) loads when it is first
used.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pose.readers._common import iter_files

if TYPE_CHECKING:
    from pose.skeleton import Skeleton


@dataclass(frozen=True)
class SkeletonSource:
    """One source kind: ``read`` (in ``module``) reads one file with one of ``suffixes``; ``iterate``
    yields every labelled skeleton under a folder (None: every ``suffixes`` file under it)."""

    kind: str
    description: str
    module: str
    read: str | None = None
    suffixes: tuple[str, ...] = ()
    iterate: str | None = None

    def read_file(self, path: str | os.PathLike) -> Skeleton:
        """One file of this kind as a Skeleton."""
        if self.read is None:
            raise TypeError(f"source kind {self.kind} has no single-file reader")
        return self._function(self.read)(path)

    def iter_folder(self, root: str | os.PathLike) -> Iterator[Skeleton]:
        """Every skeleton under ``root`` (a folder, or one file where the kind allows it)."""
        if self.iterate is not None:
            return self._function(self.iterate)(root)
        return iter_files(root, self.suffixes, self.read_file)

    def _function(self, name: str) -> Callable:
        return getattr(importlib.import_module(self.module), name)


# Suffixes are listed (and tried) in table order. A CTR-GCN file is an .npz too: reading it as one
# file is refused with a pointer to its kind (see pose.readers.interchange.read_npz).
SKELETON_SOURCES: tuple[SkeletonSource, ...] = (
    SkeletonSource(
        "ntu_skeletons",
        "raw NTU RGB+D .skeleton files (Kinect v2 text), cross-subject partition from the performer",
        "pose.readers.ntu",
        read="read_ntu_skeleton",
        suffixes=(".skeleton",),
        iterate="iter_ntu_skeletons",
    ),
    SkeletonSource(
        "npz_folder",
        "the project's interchange .npz files (neuron-convert output, the converted sets in shared/)",
        "pose.readers.interchange",
        read="read_npz",
        suffixes=(".npz",),
    ),
    SkeletonSource(
        "nw_ucla",
        "Northwestern-UCLA Multiview Action3D .json sequences (Kinect v1)",
        "pose.readers.nw_ucla",
        read="read_nw_ucla_json",
        suffixes=(".json",),
        iterate="iter_nw_ucla",
    ),
    SkeletonSource(
        "bandai",
        "BVH motion capture: Bandai-Namco data.zip archives and loose .bvh files",
        "pose.readers.bvh",
        read="read_bvh",
        suffixes=(".bvh",),
        iterate="iter_bandai",
    ),
    SkeletonSource(
        "mediapipe_csv",
        "MediaPipe Pose landmark tables (.csv: 33 x x,y,z,visibility per row, a label column)",
        "pose.readers.mediapipe_csv",
        read="read_mediapipe_csv",
        suffixes=(".csv",),
    ),
    SkeletonSource(
        "ctrgcn_npz",
        "a CTR-GCN preprocessed NTU file (NTU60_CS.npz: x_train, y_train, x_test, y_test)",
        "pose.readers.ntu",
        iterate="iter_ctrgcn_parts",
    ),
    SkeletonSource(
        "utkinect",
        "UTKinect-Action3D joints_*.txt recordings cut by their actionLabel.txt",
        "pose.readers.utkinect",
        iterate="iter_utkinect",
    ),
    SkeletonSource(
        "mediapipe_yoga",
        "the MediaPipe yoga set: landmark CSVs labelled by their label column, else their file name",
        "pose.readers.mediapipe_yoga",
        iterate="iter_mediapipe_yoga",
    ),
)

SOURCES_BY_KIND: dict[str, SkeletonSource] = {s.kind: s for s in SKELETON_SOURCES}
SOURCE_KINDS: tuple[str, ...] = tuple(SOURCES_BY_KIND)
# Single-file suffix -> its source (the first row that lists it).
SOURCES_BY_SUFFIX: dict[str, SkeletonSource] = {}
for _source in SKELETON_SOURCES:
    for _suffix in _source.suffixes:
        SOURCES_BY_SUFFIX.setdefault(_suffix, _source)
FILE_SUFFIXES: tuple[str, ...] = tuple(SOURCES_BY_SUFFIX)


def source_kind(kind: str) -> SkeletonSource:
    """The row of ``kind``; KeyError naming the known kinds when there is none."""
    try:
        return SOURCES_BY_KIND[kind]
    except KeyError:
        known = ", ".join(SOURCE_KINDS)
        raise KeyError(f"unknown data source kind {kind!r}; expected one of {known}") from None


def kinds_help() -> str:
    """The source kinds, one ``kind: description`` per line (for --help texts)."""
    return "\n".join(f"  {s.kind}: {s.description}" for s in SKELETON_SOURCES)


def suffixes_help() -> str:
    """``.skeleton, .npz, ...``: the single-file suffixes, for --help texts."""
    return ", ".join(FILE_SUFFIXES)
