"""Validation of the action labels users type, and the set of labels a recogniser scores against.

Labels go into text prompts and onto the screen, so they are checked once, here: trimmed, inner runs of
spaces collapsed, case kept for display but compared case-insensitively ("Wave" and "wave" are the same
action, and the same cached text embedding).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from functools import lru_cache

from neuron_core.errors import LabelError

MAX_LABEL_CHARS = 100
MAX_LABELS = 200

# Words that name a held posture rather than a movement. A person holding still is shown as "still"
# (app.track_scoring) unless a label in use names a posture: then standing, sitting or a held yoga pose
# is what the user asked to see. A posture word followed by "up" or "down" is the movement into it
# ("sit down", "stand up"), not the posture.
_POSTURE = re.compile(
    r"\b(stand|standing|stands|sit|sitting|sits|seated|lie|lying|lies|kneel|kneeling|kneels|crouch|"
    r"crouching|squatting|pose|poses|posing|still|wait|waiting|rest|resting|sleep|sleeping|meditate|"
    r"meditating|plank|balance|balancing|stretch|stretching|hold|holding)\b(?!\s+(up|down)\b)",
    re.IGNORECASE,
)


@lru_cache(maxsize=4 * MAX_LABELS)  # asked for every label in use on every still window
def names_posture(label: str) -> bool:
    """Does ``label`` name a held posture ("standing", "doing yoga poses", "sitting on a chair"), which a
    person can do while holding still? "sit down" and "stand up" are movements."""
    return _POSTURE.search(label) is not None


def label_key(label: str) -> str:
    """The case-insensitive identity of a normalised label (used for duplicates and caches)."""
    return label.casefold()


def normalize_label(text: object) -> str:
    """Return ``text`` trimmed with inner whitespace collapsed, or raise LabelError saying why not.

    Control and format characters (tabs, newlines, zero-width marks, escape codes) inside a label are
    refused rather than silently removed: they usually mean the text was pasted from somewhere wrong.
    """
    if not isinstance(text, str):
        raise LabelError(f"a label must be text, got {type(text).__name__}")
    stripped = text.strip()
    for ch in stripped:
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co"):
            raise LabelError(f"label {stripped[:40]!r} contains a control character (U+{ord(ch):04X})")
    label = " ".join(stripped.split())
    if not label:
        raise LabelError("a label must not be empty")
    if len(label) > MAX_LABEL_CHARS:
        raise LabelError(f"label {label[:40]!r}... has {len(label)} characters (at most {MAX_LABEL_CHARS})")
    return label


class LabelSet:
    """An ordered set of distinct, valid labels, at most ``max_labels`` of them.

    Every change either fully succeeds or raises LabelError and leaves the set as it was.
    """

    def __init__(self, labels: Iterable[str] = (), max_labels: int = MAX_LABELS) -> None:
        if max_labels < 1:
            raise ValueError(f"max_labels must be at least 1, got {max_labels}")
        self.max_labels = max_labels
        self._labels: dict[str, str] = {}
        self.set(labels)

    def _checked(self, labels: Iterable[str], existing: dict[str, str]) -> dict[str, str]:
        out = dict(existing)
        for text in labels:
            label = normalize_label(text)
            key = label_key(label)
            if key in out:
                raise LabelError(f"label {label!r} is already in the set (as {out[key]!r})")
            if len(out) >= self.max_labels:
                raise LabelError(f"too many labels: at most {self.max_labels}, cannot add {label!r}")
            out[key] = label
        return out

    def set(self, labels: Iterable[str]) -> None:
        """Replace the whole set (all labels are validated before anything changes)."""
        if isinstance(labels, str):
            raise LabelError("labels must be a list of strings, got a single string")
        self._labels = self._checked(labels, {})

    def add(self, label: str) -> str:
        """Add one label and return it normalised."""
        self._labels = self._checked([label], self._labels)
        return self._labels[label_key(normalize_label(label))]

    def remove(self, label: str) -> str:
        """Remove a label (matched case-insensitively) and return the stored spelling."""
        key = label_key(normalize_label(label))
        if key not in self._labels:
            raise LabelError(f"label {label!r} is not in the set")
        return self._labels.pop(key)

    def list(self) -> list[str]:
        """The labels in insertion order, as normalised."""
        return list(self._labels.values())

    def __contains__(self, label: object) -> bool:
        try:
            return label_key(normalize_label(label)) in self._labels
        except LabelError:
            return False

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._labels.values()))

    def __len__(self) -> int:
        return len(self._labels)

    def __repr__(self) -> str:
        return f"LabelSet({self.list()!r}, max_labels={self.max_labels})"
