"""Skeleton sources -> a compact on-disk cache -> torch Datasets of normalised windows.

Parsing thousands of text, JSON and BVH files takes minutes; an epoch must not. Each source is
decoded once into a cache folder: ``joints.npy`` (all frames concatenated, memory-mapped when read),
``valid.npy`` and ``index.npz`` (per sample: frame offsets, label, group, partition, dataset, file),
written last so a half-built cache is never used. No pickle anywhere. A cache is rebuilt when it is
missing or was built by another cache version or from another path.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from pose.errors import NeuronLiveError
from pose.normalize import normalize_window
from pose.readers.registry import source_kind
from pose.skeleton import MAX_PERSONS, Skeleton
from training.augment import augment, mirror_label
from training.config import AugmentConfig, ConfigError, SourceConfig

log = logging.getLogger(__name__)


class DataError(NeuronLiveError):
    """The data do not fit the configuration (a named class has no samples, a split is empty)."""


CACHE_VERSION = "2"
INDEX_FIELDS = ("labels", "groups", "partitions", "datasets", "files")


# ---------------------------------------------------------------------------------------------------
# reading sources


def iter_source(src: SourceConfig) -> Iterator[Skeleton]:
    """Every labelled skeleton of one source, read by its kind's row of ``pose.readers.registry``.

    NTU samples get meta "partition" (cross-subject train or test, or the part of a CTR-GCN file),
    which the "partition" sample split follows. A broken file in a folder is skipped with a
    warning, not fatal: real datasets hold a few.
    """
    root = Path(src.path)
    if not root.exists():
        raise ConfigError(f"data source {src.kind}: {root} does not exist")
    yield from source_kind(src.kind).iter_folder(root)


def stratum_of(skel: Skeleton) -> str:
    """The data set (and its part, where a set has several) that recording groups are drawn within.

    Splitting groups per stratum keeps every part represented in training, validation and test
    (Bandai-Namco's two parts share style names but not contents).
    """
    dataset = skel.meta.get("dataset", "")
    part = skel.meta.get("part", "")
    return f"{dataset}/{part}" if part else dataset


def group_of(skel: Skeleton) -> str:
    """Recording group for subject-disjoint splits: subject where known, else style, else the file.

    Bandai-Namco does not record its actors per clip, so a held-out style stands in for a held-out
    person there: the same content performed in a way training never saw.
    """
    meta = skel.meta
    stratum = stratum_of(skel)
    for key in ("subject", "performer", "style"):
        if meta.get(key):
            return f"{stratum}/{key}:{meta[key]}"
    return f"{stratum}/file:{Path(skel.source).name}"


# ---------------------------------------------------------------------------------------------------
# the cache


class _RowWriter:
    """Append rows of one dtype/shape to a .npy file without holding them all in memory."""

    def __init__(self, path: Path, row_shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.path, self.row_shape, self.dtype = path, row_shape, np.dtype(dtype)
        self.raw_path = path.with_name(path.name + ".raw")
        self.fh = open(self.raw_path, "wb")
        self.rows = 0

    def append(self, rows: np.ndarray) -> None:
        self.fh.write(np.ascontiguousarray(rows, self.dtype).tobytes())
        self.rows += rows.shape[0]

    def close(self) -> None:
        self.fh.close()
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False}
        header["shape"] = (self.rows, *self.row_shape)
        with open(self.path, "wb") as out, open(self.raw_path, "rb") as raw:
            np.lib.format.write_array_header_2_0(out, header)
            shutil.copyfileobj(raw, out, 1 << 24)
        self.raw_path.unlink()


@dataclass
class SkeletonStore:
    """Many variable-length skeletons in flat arrays; sample i is frames offsets[i]:offsets[i+1]."""

    joints: np.ndarray  # (F, 2, 25, 3) float32
    valid: np.ndarray  # (F, 2) bool
    offsets: np.ndarray  # (N + 1,) int64
    labels: np.ndarray  # (N,) str
    groups: np.ndarray
    partitions: np.ndarray
    datasets: np.ndarray
    files: np.ndarray

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def sample(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        return np.asarray(self.joints[a:b]), np.asarray(self.valid[a:b])

    @staticmethod
    def concat(stores: list[SkeletonStore]) -> SkeletonStore:
        if len(stores) == 1:
            return stores[0]
        offsets = [np.zeros(1, np.int64)]
        total = 0
        for s in stores:
            offsets.append(s.offsets[1:] + total)
            total += int(s.offsets[-1])
        return SkeletonStore(
            np.concatenate([s.joints for s in stores]),
            np.concatenate([s.valid for s in stores]),
            np.concatenate(offsets),
            *(np.concatenate([getattr(s, f) for s in stores]) for f in INDEX_FIELDS),
        )

    def relabel(self, aliases: dict[str, str]) -> None:
        """Rename labels (case-insensitive keys), e.g. to unify one action across datasets."""
        lower = {k.lower(): v for k, v in aliases.items()}
        self.labels = np.array([lower.get(lab.lower(), lab) for lab in self.labels.tolist()])


def cache_path(cache_dir: str | Path, src: SourceConfig) -> Path:
    key = hashlib.sha1(f"{src.kind}|{Path(src.path).resolve()}|{CACHE_VERSION}".encode()).hexdigest()[:12]
    return Path(cache_dir) / f"{src.kind}-{key}"


def build_cache(src: SourceConfig, folder: Path) -> None:
    """Decode one source into ``folder`` (written to a temporary folder named with this process's id,
    so two processes building at once never write into each other's files, then renamed)."""
    tmp = folder.with_name(f"{folder.name}.building-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        _write_cache(src, tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)


def _write_cache(src: SourceConfig, tmp: Path) -> None:
    """The decoded clips of ``src`` as joints.npy, valid.npy and index.npz in ``tmp``."""
    joints = _RowWriter(tmp / "joints.npy", (MAX_PERSONS, 25, 3), np.float32)
    valid = _RowWriter(tmp / "valid.npy", (MAX_PERSONS,), np.bool_)
    offsets = [0]
    index: dict[str, list[str]] = {f: [] for f in INDEX_FIELDS}
    unlabelled = 0
    for skel in tqdm(iter_source(src), desc=f"caching {src.kind}", unit=" clips", leave=False):
        if not skel.label:
            unlabelled += 1
            continue
        joints.append(skel.joints)
        valid.append(skel.valid)
        offsets.append(offsets[-1] + skel.num_frames)
        index["labels"].append(skel.label)
        index["groups"].append(group_of(skel))
        index["partitions"].append(skel.meta.get("partition", ""))
        index["datasets"].append(stratum_of(skel) or src.kind)
        index["files"].append(skel.source)
    joints.close()
    valid.close()
    if len(offsets) == 1:
        raise ConfigError(f"data source {src.kind}: no labelled skeletons under {src.path}")
    if unlabelled:
        log.warning("%s: %d skeletons without a label were left out", src.path, unlabelled)
    arrays = {f: np.array(v, dtype=str) for f, v in index.items()}
    np.savez(
        tmp / "index.npz",
        offsets=np.array(offsets, np.int64),
        version=np.array(CACHE_VERSION),
        source=np.array(str(Path(src.path).resolve())),
        **arrays,
    )


def _read_cache(folder: Path, src: SourceConfig) -> SkeletonStore | None:
    """The cached store, or None when it is missing, stale or unreadable (damaged, or holding pickled
    objects, which are never loaded): the caller then builds it afresh."""
    try:
        with np.load(folder / "index.npz", allow_pickle=False) as idx:
            if str(idx["version"]) != CACHE_VERSION or str(idx["source"]) != str(Path(src.path).resolve()):
                return None
            fields = {f: idx[f] for f in INDEX_FIELDS}
            offsets = idx["offsets"]
        joints = np.load(folder / "joints.npy", mmap_mode="r", allow_pickle=False)
        valid = np.load(folder / "valid.npy", mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        log.warning("the cache in %s is unreadable (%s); rebuilding it", folder, exc)
        return None
    return SkeletonStore(joints, valid, offsets, **fields)


def load_source(src: SourceConfig, cache_dir: str | Path) -> SkeletonStore:
    """The cached store of one source, building the cache first when it is missing, stale or damaged."""
    folder = cache_path(cache_dir, src)
    store = _read_cache(folder, src)
    if store is None:
        log.info("building the cache of %s %s in %s", src.kind, src.path, folder)
        build_cache(src, folder)
        store = _read_cache(folder, src)
        if store is None:
            raise DataError(f"{folder}: the cache just built cannot be read back")
    return store


def load_store(sources: list[SourceConfig], cache_dir: str | Path, aliases: dict[str, str]) -> SkeletonStore:
    if not sources:
        raise ConfigError("no data sources: set data.sources (flag --data.sources kind=path,...)")
    store = SkeletonStore.concat([load_source(s, cache_dir) for s in sources])
    if aliases:
        store.relabel(aliases)
    return store


# ---------------------------------------------------------------------------------------------------
# windows for torch


class WindowDataset(torch.utils.data.Dataset):
    """Normalised windows of chosen store samples with integer targets.

    In training each item gets a random crop (ratio in [crop_low, crop_high]) and the augmentations;
    its random stream is seeded by (seed, epoch, sample), so a run is reproducible with any number of
    worker processes. ``mirror_targets[i]`` is the target of sample i mirrored, or -1 where a mirror
    would turn it into a class that is not trained (a left-hand action whose right-hand twin is
    unseen): those samples are never mirrored, so nothing leaks into an unseen class.

    With ``cap`` > 0 an epoch holds at most ``cap`` samples of each class, redrawn by
    :meth:`set_epoch` from (seed, epoch) alone, so every DDP rank sees the same list and a
    DistributedSampler can shard it; the length stays the same from epoch to epoch.
    """

    def __init__(
        self,
        store: SkeletonStore,
        indices: np.ndarray,
        targets: np.ndarray,
        window: int,
        augment_cfg: AugmentConfig,
        train: bool,
        seed: int = 0,
        mirror_targets: np.ndarray | None = None,
        cap: int = 0,
    ) -> None:
        self.store = store
        self.indices = np.asarray(indices, np.int64)
        self.targets = np.asarray(targets, np.int64)
        self.window = window
        self.aug = augment_cfg
        self.train = train
        self.seed = seed
        self.epoch = 0
        self.mirror_targets = mirror_targets if mirror_targets is not None else np.full(len(self.indices), -1)
        self.cap = cap
        self.selection = np.arange(len(self.indices))
        if cap > 0:
            counts = np.bincount(self.targets) if self.targets.size else np.zeros(0, np.int64)
            self.selection = self._draw(0)
            self.size = int(np.minimum(counts, cap).sum())
        else:
            self.size = len(self.indices)

    def _draw(self, epoch: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, epoch, 7])
        chosen = []
        for c in np.unique(self.targets):
            members = np.flatnonzero(self.targets == c)
            chosen.append(rng.choice(members, min(self.cap, members.size), replace=False))
        return np.sort(np.concatenate(chosen))

    def __len__(self) -> int:
        return self.size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if self.cap > 0:
            self.selection = self._draw(epoch)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        j = int(self.selection[i])
        sample = int(self.indices[j])
        joints, valid = self.store.sample(sample)
        target = int(self.targets[j])
        if not self.train:
            x = normalize_window(
                (joints, valid), self.window, crop=self.aug.test_crop, normalisation=self.aug.normalisation
            )
            return torch.from_numpy(x), target
        rng = np.random.default_rng([self.seed, self.epoch, sample])
        x = normalize_window(
            (joints, valid), self.window, crop=(self.aug.crop_low, self.aug.crop_high), rng=rng,
            normalisation=self.aug.normalisation,
        )  # fmt: skip
        do_mirror = bool(self.mirror_targets[j] >= 0 and rng.random() < self.aug.mirror)
        if do_mirror:
            target = int(self.mirror_targets[j])
        aug = self.aug
        # drawn only when on, so recipes without it keep their random streams
        still = aug.travel_drop > 0 and rng.random() < aug.travel_drop
        x = augment(x, rng, aug.rotation, aug.bone_scale, aug.body_scale, do_mirror, aug.depth_jitter, still,
                    aug.yaw)  # fmt: skip
        return torch.from_numpy(x), target


def mirror_targets_for(labels: list[str], classes: list[str]) -> np.ndarray:
    """Per sample label: the class index of its mirror image, or -1 where that class is not trained."""
    index = {c.lower(): k for k, c in enumerate(classes)}
    return np.array([index.get(mirror_label(lab).lower(), -1) for lab in labels], np.int64)


def describe(store: SkeletonStore) -> str:
    return f"{len(store)} samples, {len(set(store.labels.tolist()))} labels, {int(store.offsets[-1])} frames"
