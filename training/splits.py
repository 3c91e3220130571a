"""Which samples train, validate and test: classes first, then recording groups.

Classes: U (unseen, test only), V (seen classes held out of training as pseudo-unseen: they pick the
epoch and the GZSL calibration constant), and the training classes S. Samples of S are split by
recording group (subject where known), so validation and test never share a person with training:
    train       samples of S from training groups
    val_seen    samples of S from validation groups     } validation: epoch, calibration
    val_unseen  samples of V                            }
    test_seen   samples of S from test groups           } test: ZSL on U, GZSL on S + U
    test_unseen samples of U                            }
With the "partition" sample split (NTU cross-subject) the data's own test partition is the test set
and validation groups come out of its training partition.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from training.config import SplitConfig
from training.data import DataError, SkeletonStore

PARTS = ("train", "val_seen", "val_unseen", "test_seen", "test_unseen")


@dataclass
class Split:
    seen: list[str]  # the classes trained on (S)
    val_classes: list[str]  # V
    unseen: list[str]  # U
    parts: dict[str, np.ndarray] = field(default_factory=dict)  # name -> store indices

    def counts(self) -> dict[str, int]:
        return {name: int(self.parts[name].size) for name in PARTS}

    def describe(self) -> dict[str, object]:
        return {
            "seen": self.seen,
            "val_classes": self.val_classes,
            "unseen": self.unseen,
            "samples": self.counts(),
        }


def _canonical(names: list[str], vocabulary: dict[str, str], what: str) -> list[str]:
    """Map config class names onto the data's spelling, failing on names the data lacks."""
    missing = [n for n in names if n.lower() not in vocabulary]
    if missing:
        raise DataError(f"{what} not found in the data: {', '.join(missing)}")
    return [vocabulary[n.lower()] for n in names]


def _group_roles(
    groups: np.ndarray, datasets: np.ndarray, val: float, test: float, seed: int
) -> dict[str, str]:
    """Assign each recording group to train, val or test, per dataset, with a seeded shuffle."""
    roles: dict[str, str] = {}
    rng = np.random.default_rng([seed, 11])
    for dataset in sorted(set(datasets.tolist())):
        members = sorted(set(groups[datasets == dataset].tolist()))
        order = [members[i] for i in rng.permutation(len(members))]
        n_test = int(round(test * len(order)))
        n_val = int(round(val * len(order)))
        if len(order) - n_test - n_val < 1:  # too few groups to hold any out: keep them for training
            n_test = n_val = 0
        for i, g in enumerate(order):
            roles[g] = "test" if i < n_test else "val" if i < n_test + n_val else "train"
    return roles


def _cap_per_class(indices: np.ndarray, labels: np.ndarray, cap: int, seed: int) -> np.ndarray:
    """A seeded choice of at most ``cap`` indices per label, kept in store order."""
    rng = np.random.default_rng([seed, 17])
    keep = []
    for lab in sorted(set(labels[indices].tolist())):
        members = indices[labels[indices] == lab]
        keep.append(rng.choice(members, min(cap, members.size), replace=False))
    return np.sort(np.concatenate(keep)) if keep else indices


def make_split(store: SkeletonStore, cfg: SplitConfig, classes: list[str], seed: int) -> Split:
    """Partition the store; ``classes`` restricts the vocabulary (empty = every label in the data)."""
    labels = store.labels
    vocabulary = {lab.lower(): lab for lab in sorted(set(labels.tolist()))}
    if classes:
        keep = set(_canonical(classes, vocabulary, "data.classes"))
        vocabulary = {k: v for k, v in vocabulary.items() if v in keep}
    unseen = _canonical(cfg.unseen, vocabulary, "split.unseen classes")
    val_classes = _canonical(cfg.val_classes, vocabulary, "split.val_classes")
    rest = [c for c in sorted(vocabulary.values()) if c not in unseen and c not in val_classes]
    if not val_classes and cfg.val_class_count > 0:
        rng = np.random.default_rng([seed, 13])
        val_classes = sorted(
            rng.choice(rest, min(cfg.val_class_count, len(rest) - 1), replace=False).tolist()
        )
    seen = [c for c in rest if c not in val_classes]
    if not seen:
        raise DataError("no seen classes left to train on")

    role_of_class = (
        {c: "unseen" for c in unseen} | {c: "val" for c in val_classes} | {c: "seen" for c in seen}
    )
    roles = _group_roles(store.groups, store.datasets, cfg.val_group_fraction, cfg.test_group_fraction, seed)
    val_roles = _group_roles(store.groups, store.datasets, cfg.val_group_fraction, 0.0, seed)
    parts: dict[str, list[int]] = {name: [] for name in PARTS}
    use_partition = cfg.sample_split == "partition"
    for i, (lab, group, part) in enumerate(zip(labels, store.groups, store.partitions, strict=True)):
        kind = role_of_class.get(str(lab))
        if kind is None:
            continue
        if use_partition and part in ("train", "test"):
            # The data's own split decides test; validation groups come from its training part.
            role = "test" if part == "test" else val_roles[group]
        else:
            role = roles[group]
        if kind == "unseen":
            if not use_partition or part != "train":
                parts["test_unseen"].append(i)
        elif kind == "val":
            if role != "test":
                parts["val_unseen"].append(i)
        else:
            parts[{"train": "train", "val": "val_seen", "test": "test_seen"}[role]].append(i)
    arrays = {k: np.array(v, np.int64) for k, v in parts.items()}
    if cfg.max_eval_per_class > 0:
        for name in PARTS[1:]:
            arrays[name] = _cap_per_class(arrays[name], labels, cfg.max_eval_per_class, seed)
    split = Split(seen, val_classes, unseen, arrays)
    if split.parts["train"].size == 0:
        raise DataError("the split leaves no training samples")
    return split
