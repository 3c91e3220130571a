"""The user's active action names and their taught examples, kept between runs in the config folder.

The list is small JSON written atomically (``neuron_base.atomic``: temporary file, fsync, replace)
so a crash or a power cut leaves either the old list or the new one, never half a file. Examples
are interchange ``.npz`` clips under ``examples/``, written the same way. No Qt here: the headless
path reads the same files.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from neuron_base.atomic import atomic_write_text
from neuron_base.errors import NeuronLiveError
from neuron_core.errors import LabelError
from neuron_core.labels import label_key, normalize_label
from pose.errors import SkeletonError
from pose.normalize import PREPROCESS, Preprocess, contract_window
from pose.skeleton import Skeleton, load_npz, save_npz

log = logging.getLogger(__name__)

# Everyday actions a person can do in front of a camera; each is close to an NTU class name, so
# the default model has seen something like it.
DEFAULT_LABELS: tuple[str, ...] = (
    "wave",
    "clap hands",
    "jump",
    "squat",
    "walk",
    "sit down",
    "stand up",
    "raise hands",
    "kick",
    "bow",
)
CONFIG_ENV = "NEURON_LIVE_CONFIG_DIR"
LABELS_FILE = "labels.json"
FORMAT_VERSION = 1


def config_dir() -> Path:
    """Where the app keeps its settings: ``$NEURON_LIVE_CONFIG_DIR``, else the platform's config folder."""
    override = os.environ.get(CONFIG_ENV)
    if override:
        return Path(override)
    if sys.platform == "win32" and os.environ.get("APPDATA"):
        return Path(os.environ["APPDATA"]) / "neuron-live"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "neuron-live"
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "neuron-live"


def load_labels(directory: Path | None = None) -> list[str] | None:
    """The saved list, or None when there is none (or it is unreadable: the defaults then apply)."""
    path = (directory or config_dir()) / LABELS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        log.warning("%s: ignoring the saved label list (%s)", path, exc)
        return None
    labels = data.get("labels") if isinstance(data, dict) else None
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        log.warning("%s: ignoring the saved label list (no list of strings under 'labels')", path)
        return None
    return labels


def save_labels(labels: list[str], directory: Path | None = None) -> Path:
    """Write the list atomically and return the file's path."""
    directory = directory or config_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LABELS_FILE
    payload = json.dumps({"version": FORMAT_VERSION, "labels": list(labels)}, ensure_ascii=False, indent=2)
    return atomic_write_text(path, payload + "\n")


# ---------------------------------------------------------------------------------------------------
# examples: skeleton clips that teach a label by showing it (see neuron_core.examples)

EXAMPLES_DIR = "examples"


class Teachable(Protocol):
    """What the store needs of ``neuron_core.recognizer.ZeroShotRecognizer``."""

    @property
    def labels(self) -> list[str]: ...

    def add_label(self, label: str) -> str: ...

    def set_examples(self, label: str, windows: np.ndarray | None) -> int: ...

    def clear_examples(self) -> None: ...


class ExampleError(NeuronLiveError):
    """An examples folder cannot be used (missing, or no labelled clip in it)."""


@dataclass
class Example:
    """One stored clip of a label; ``own`` says it lives in the config folder (the user may remove it)."""

    path: Path
    skeleton: Skeleton
    own: bool

    @property
    def label(self) -> str:
        return self.skeleton.label or ""

    @property
    def seconds(self) -> float:
        return self.skeleton.num_frames / self.skeleton.fps


def _slug(label: str) -> str:
    """A folder name for a label that every file system accepts (the label itself is inside the file)."""
    return re.sub(r"[^0-9a-z]+", "-", label.casefold()).strip("-")[:60] or "label"


def read_examples(folder: Path, own: bool = False) -> list[Example]:
    """Every labelled interchange .npz under ``folder`` (recursively); unreadable ones are logged, skipped."""
    found = []
    for path in sorted(folder.rglob("*.npz")):
        try:
            skeleton = load_npz(path)
        except SkeletonError as exc:
            log.warning("ignoring example %s", exc)
            continue
        try:
            label = normalize_label(skeleton.label or "")
        except LabelError as exc:
            log.warning("ignoring example %s: %s", path, exc)
            continue
        skeleton.label = label
        found.append(Example(path, skeleton, own))
    return found


class ExampleStore:
    """The examples of every label: the user's, recorded in the window and kept in the config folder,
    plus those of an ``--examples`` folder (read-only). Files are the interchange format, written
    atomically by :func:`pose.skeleton.save_npz`."""

    def __init__(self, directory: Path | None = None, extra: Path | None = None) -> None:
        self.directory = (directory or config_dir()) / EXAMPLES_DIR
        self.extra = extra
        self.examples: list[Example] = []

    def load(self) -> ExampleStore:
        """Read both places; an ``extra`` folder that is missing or holds no labelled clip is an error."""
        extra: list[Example] = []
        if self.extra is not None:
            if not self.extra.is_dir():
                raise ExampleError(f"{self.extra}: examples folder not found")
            extra = read_examples(self.extra)
            if not extra:
                raise ExampleError(f"{self.extra}: no labelled skeleton .npz file (a file needs a 'label')")
        own = read_examples(self.directory, own=True) if self.directory.is_dir() else []
        self.examples = own + extra
        return self

    def labels(self, own: bool | None = None) -> list[str]:
        """The labels that have examples (only the user's with ``own=True``, only the folder's with False)."""
        seen: dict[str, str] = {}
        for ex in self.examples:
            if own is None or ex.own == own:
                seen.setdefault(label_key(ex.label), ex.label)
        return list(seen.values())

    def of(self, label: str) -> list[Example]:
        key = label_key(label)
        return [ex for ex in self.examples if label_key(ex.label) == key]

    def count(self, label: str) -> int:
        return len(self.of(label))

    def add(self, skeleton: Skeleton) -> Example:
        """Store a recorded clip (it must carry its label) in the config folder, atomically."""
        if not skeleton.label:
            raise ExampleError("an example needs a label")
        folder = self.directory / _slug(skeleton.label)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{time.time_ns() % 10**9:09d}.npz"
        save_npz(skeleton, path)
        example = Example(path, skeleton, own=True)
        self.examples.append(example)
        return example

    def remove(self, example: Example) -> None:
        """Delete one of the user's examples (those of an ``--examples`` folder are never deleted)."""
        if not example.own:
            raise ExampleError(f"{example.path}: not one of your recorded examples; it is left in place")
        example.path.unlink(missing_ok=True)
        self.examples.remove(example)

    def windows(self, label: str, preprocess: Preprocess = PREPROCESS) -> np.ndarray | None:
        """The model inputs (N, 3, window, 25, 2) of a label's examples made as ``preprocess`` (a
        checkpoint's contract) says, None when it has none."""
        mine = self.of(label)
        if not mine:
            return None
        return np.stack([contract_window(ex.skeleton, preprocess) for ex in mine])

    def teach(self, recognizer: Teachable, label: str) -> int:
        """Give the recogniser this label's examples (none: it forgets any); returns how many."""
        return recognizer.set_examples(label, self.windows(label, model_preprocess(recognizer)))

    def teach_all(self, recognizer: Teachable) -> dict[str, int]:
        """Make the recogniser's examples exactly this store's, for every label that has any."""
        recognizer.clear_examples()
        return {label: self.teach(recognizer, label) for label in self.labels()}


def apply_examples(
    recognizer: Teachable, extra: Path | None = None, directory: Path | None = None
) -> ExampleStore:
    """Load the user's examples and those of ``extra`` (``--examples``) into the recogniser.

    The labels of ``extra``'s examples join the active labels (that is why the folder was given); the
    user's own examples count for their labels whenever those labels are active.
    """
    store = ExampleStore(directory, extra).load()
    active = {label_key(label) for label in recognizer.labels}
    for label in store.labels(own=False):
        if label_key(label) not in active:
            recognizer.add_label(label)
    store.teach_all(recognizer)
    return store


def model_preprocess(recognizer: object) -> Preprocess:
    """How the recogniser's model wants its windows made: its checkpoint's contract (the defaults for a
    stand-in without checkpoint metadata)."""
    return getattr(getattr(recognizer, "meta", None), "preprocess", PREPROCESS)
