"""A bank of action descriptions written in the project, looked up by a label's name.

A typed label otherwise only gets the generic name templates of ``prompts.name_prompts``, whose texts
differ between labels by the name alone; the model was trained to match skeletons against texts that
say *how* the body moves. The bank holds, for several hundred everyday, exercise, sport, gesture and
work actions, our own short texts at the six granularities (whole body, body parts, joints, and three
phases), so a label found here gets side information of the same kind the model learned from.

Each entry in ``data/description_bank.json`` has a ``name``, ``aliases`` and six lists of texts:
``spatial_coarse``, ``spatial_medium``, ``spatial_fine``, ``phase1``, ``phase2``, ``phase3``. The
phases become the cumulative temporal granularities (p1, p1+p2, p1+p2+p3, index-wise), as
``prompts.load_neuron_descriptions`` does with the published files, so :func:`lookup` returns the same
shape as ``prompts.side_information``: granularity -> list of texts.

Two ways to find an entry:

- :func:`lookup`: exact match of the normalised label on a normalised name or alias. The normaliser
  (:func:`normalise_label`) is deliberately small and deterministic, so that "Walking", "walks" and
  "walk", "doing squats" and "squat", "a person is sitting down" and "sit down" meet, and nothing
  else surprising does.
- :func:`near_lookup`: the entry whose name or alias is nearest to the label in a text encoder's
  space, if the cosine reaches a threshold. For labels that are phrased differently but mean the same
  ("typing on a computer" vs "type on a keyboard", "hugging a friend" vs "hugging other person"); the
  bank's embeddings are computed once per encoder name. With MiniLM, 0.85 (the default) accepted those
  (0.89-0.91) and refused near misses such as "skateboarding" -> "ice skating" (0.83) or "lifting
  weights" -> "lift a box" (0.80): a wrong description is worse than the generic name templates.

Known limits of the normaliser, by design: plural and singular meet, so "wave a hand" finds the entry
"wave hands" (whose texts fit one or both hands); NTU's "kicking" and "pushing" (other person) find
the generic "kick" and "push" entries, whose texts fit both readings.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from neuron_core.errors import DescriptionError, TextEncoderError
from neuron_core.prompts import read_description_json
from neuron_core.text_encoders import TextEncoder

BANK_PATH = Path(__file__).resolve().parent / "data" / "description_bank.json"
SPATIAL_KEYS: tuple[str, ...] = ("spatial_coarse", "spatial_medium", "spatial_fine")
PHASE_KEYS: tuple[str, ...] = ("phase1", "phase2", "phase3")
ENTRY_KEYS: tuple[str, ...] = SPATIAL_KEYS + PHASE_KEYS
DEFAULT_THRESHOLD = 0.85

# --- the normaliser ------------------------------------------------------------------------------
# Words that never distinguish two actions: articles anywhere, possessive pronouns anywhere ("brush
# his teeth" is "brush teeth"), and at the start only, a subject and auxiliaries ("a person is ...",
# "someone does ...", "to ...", "doing ...").
_ARTICLES = frozenset({"a", "an", "the"})
_PRONOUNS = frozenset(
    {"his", "her", "their", "my", "your", "its", "ones", "oneself", "himself", "herself", "themselves",
     "yourself", "myself"}
)  # fmt: skip
_LEADING = frozenset(
    {"someone", "somebody", "person", "people", "man", "woman", "human", "he", "she", "they", "i",
     "is", "are", "am", "be", "doing", "do", "does", "did", "to"}
)  # fmt: skip
# Forms the suffix rules cannot reach; mapped first, then stemmed like any other word.
_IRREGULAR = {
    "lying": "lie", "lies": "lie", "lied": "lie", "tying": "tie", "dying": "die", "ran": "run",
    "sat": "sit", "stood": "stand", "threw": "throw", "thrown": "throw", "fell": "fall",
    "fallen": "fall", "took": "take", "taken": "take", "swam": "swim", "rode": "ride", "hung": "hang",
    "held": "hold", "got": "get", "went": "go", "goes": "go", "going": "go", "spun": "spin",
    "struck": "strike", "shook": "shake", "shaken": "shake", "wrote": "write", "written": "write",
    "ate": "eat", "eaten": "eat", "drank": "drink", "drunk": "drink", "caught": "catch",
    "bent": "bend", "swept": "sweep", "knelt": "kneel", "leapt": "leap", "dove": "dive",
}  # fmt: skip
_VOWELS = frozenset("aeiou")
_PARENTHESES = re.compile(r"\([^)]*\)")
_NON_WORD = re.compile(r"[^0-9a-z]+")


def _stem(word: str) -> str:
    """A crude, consistent stem: forms of one verb or noun meet, even where the stem is no word
    ("wave", "waves", "waved", "waving" all give "wav"). Applied alike to labels and bank keys, so
    only consistency matters, not linguistic truth."""
    word = _IRREGULAR.get(word, word)
    if len(word) > 4 and word.endswith(("ies", "ied")):
        word = word[:-3] + "y"
    elif word.endswith("ing") and len(word) >= 6:
        word = word[:-3]
    elif word.endswith("ed") and len(word) >= 5:
        word = word[:-2]
    elif word.endswith("es") and len(word) >= 5:
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) >= 3:
        word = word[:-1]
    if len(word) >= 4 and word[-1] == word[-2] and word[-1] not in _VOWELS:
        word = word[:-1]  # runn -> run, sitt -> sit (and fall -> fal, consistently)
    if len(word) >= 4 and word.endswith("e"):
        word = word[:-1]  # wave -> wav, so that it meets waving -> wav
    return word


def normalise_label(text: str, drop_parentheses: bool = False) -> str:
    """The key under which a label is looked up: lower case, punctuation gone, articles, pronouns and
    a leading subject or auxiliary dropped, every word stemmed. "" when nothing is left.

    ``drop_parentheses`` removes parenthesised asides first ("check time (from watch)" -> "check
    time").
    """
    text = text.casefold().replace("'", "").replace("\u2019", "")
    if drop_parentheses:
        text = _PARENTHESES.sub(" ", text)
    words = [w for w in _NON_WORD.sub(" ", text).split() if w not in _ARTICLES and w not in _PRONOUNS]
    while words and words[0] in _LEADING:
        words.pop(0)
    return " ".join(_stem(w) for w in words)


def _label_keys(label: str) -> list[str]:
    """The keys a typed label may match: as written, then without parenthesised asides."""
    keys = [normalise_label(label)]
    if "(" in label:
        keys.append(normalise_label(label, drop_parentheses=True))
    return [k for k in dict.fromkeys(keys) if k]


# --- entries and the bank --------------------------------------------------------------------------
@dataclass(frozen=True)
class BankEntry:
    """One action: its name, other ways to say it, and its texts (three spatial lists, three phases)."""

    name: str
    aliases: tuple[str, ...]
    texts: Mapping[str, tuple[str, ...]]

    def side_information(self) -> dict[str, list[str]]:
        """Granularity -> texts, the shape of ``prompts.side_information``: phases made cumulative."""
        p1, p2, p3 = (self.texts[k] for k in PHASE_KEYS)
        return {
            "spatial_coarse": list(self.texts["spatial_coarse"]),
            "spatial_medium": list(self.texts["spatial_medium"]),
            "spatial_fine": list(self.texts["spatial_fine"]),
            "temporal_p1": list(p1),
            "temporal_p12": [f"{a} {b}" for a, b in zip(p1, p2, strict=True)],
            "temporal_p123": [f"{a} {b} {c}" for a, b, c in zip(p1, p2, p3, strict=True)],
        }


def _parse_entry(raw: object, where: str) -> BankEntry:
    """Validate one raw JSON entry; the bank is data, so a broken edit must fail loudly and say where."""
    if not isinstance(raw, dict):
        raise DescriptionError(f"{where}: an entry must be an object")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise DescriptionError(f"{where}: an entry needs a non-empty 'name'")
    aliases = raw.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a.strip() for a in aliases):
        raise DescriptionError(f"{where}: entry {name!r}: 'aliases' must be a list of non-empty strings")
    unknown = sorted(set(raw) - set(ENTRY_KEYS) - {"name", "aliases"})
    if unknown:
        raise DescriptionError(f"{where}: entry {name!r} has unknown field {unknown[0]!r}")
    texts: dict[str, tuple[str, ...]] = {}
    for key in ENTRY_KEYS:
        value = raw.get(key)
        ok = isinstance(value, list) and value and all(isinstance(t, str) and t.strip() for t in value)
        if not ok:
            raise DescriptionError(f"{where}: entry {name!r} needs a non-empty list of texts in {key!r}")
        texts[key] = tuple(value)
    if len({len(texts[k]) for k in PHASE_KEYS}) != 1:
        raise DescriptionError(f"{where}: entry {name!r}: the three phases need as many texts each")
    return BankEntry(name=name, aliases=tuple(aliases), texts=texts)


class DescriptionBank:
    """Entries plus an index from normalised name/alias to entry; immutable once built."""

    def __init__(self, entries: Sequence[BankEntry], source: str = "<memory>") -> None:
        self.entries: tuple[BankEntry, ...] = tuple(entries)
        self.source = source
        self._index: dict[str, int] = {}
        for i, entry in enumerate(self.entries):
            for surface in (entry.name, *entry.aliases):
                key = normalise_label(surface)
                if not key:
                    raise DescriptionError(f"{source}: {surface!r} of {entry.name!r} normalises to nothing")
                other = self._index.setdefault(key, i)
                if other != i:
                    raise DescriptionError(
                        f"{source}: {surface!r} of entry {entry.name!r} clashes with entry "
                        f"{self.entries[other].name!r} (both normalise to {key!r})"
                    )
        # Surface strings for the embedding search, in a fixed order (entry order, name first).
        self._surfaces: list[tuple[str, int]] = [
            (s, i) for i, e in enumerate(self.entries) for s in dict.fromkeys((e.name, *e.aliases))
        ]
        self._embeddings: dict[tuple[str, int], np.ndarray] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, path: str | Path) -> DescriptionBank:
        path = Path(path)
        data = read_description_json(path, "description bank")
        raw = data.get("entries") if isinstance(data, dict) else None
        if not isinstance(raw, list):
            raise DescriptionError(f"description bank {path} must be an object with a list 'entries'")
        return cls([_parse_entry(e, f"{path} entry {i}") for i, e in enumerate(raw)], source=str(path))

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def names(self) -> list[str]:
        return [e.name for e in self.entries]

    def entry(self, label: str) -> BankEntry | None:
        """The entry whose normalised name or alias equals the normalised label, else None."""
        if not isinstance(label, str):
            return None
        for key in _label_keys(label):
            if key in self._index:
                return self.entries[self._index[key]]
        return None

    def lookup(self, label: str) -> dict[str, list[str]] | None:
        """Side information (granularity -> texts) of the exactly matching entry, else None."""
        entry = self.entry(label)
        return entry.side_information() if entry else None

    def _surface_embeddings(self, encoder: TextEncoder) -> np.ndarray:
        """Unit rows, one per name/alias; computed once per encoder name and dimension."""
        key = (encoder.name, int(encoder.dim))
        with self._lock:
            cached = self._embeddings.get(key)
            if cached is None:
                cached = _unit(encoder.encode([s for s, _ in self._surfaces]), len(self._surfaces), encoder)
                self._embeddings[key] = cached
            return cached

    def near_entry(
        self, label: str, encoder: TextEncoder, threshold: float = DEFAULT_THRESHOLD
    ) -> tuple[BankEntry, float] | None:
        """The entry nearest to ``label`` and its cosine, if it reaches ``threshold``; an exact match
        first (cosine 1.0), so a known name never depends on the encoder."""
        exact = self.entry(label)
        if exact is not None:
            return exact, 1.0
        if not isinstance(label, str) or not label.strip() or not self._surfaces:
            return None
        bank = self._surface_embeddings(encoder)
        query = _unit(encoder.encode([" ".join(label.split())]), 1, encoder)[0]
        scores = bank @ query
        best = int(np.argmax(scores))  # the first of equal scores: deterministic
        score = float(scores[best])
        if score < threshold:
            return None
        return self.entries[self._surfaces[best][1]], score

    def near_lookup(
        self, label: str, encoder: TextEncoder, threshold: float = DEFAULT_THRESHOLD
    ) -> dict[str, list[str]] | None:
        """Side information of the entry nearest to ``label`` above ``threshold``, else None."""
        found = self.near_entry(label, encoder, threshold)
        return found[0].side_information() if found else None

    def descriptions(self, labels: Sequence[str]) -> dict[str, dict[str, list[str]]]:
        """label -> side information for the labels found by exact lookup, in the form that
        ``prompts.side_information`` / ``encode_classes`` take as ``descriptions``."""
        out: dict[str, dict[str, list[str]]] = {}
        for label in labels:
            info = self.lookup(label)
            if info is not None:
                out[label] = info
        return out


def _unit(vectors: object, rows: int, encoder: TextEncoder) -> np.ndarray:
    """Float32 unit rows of an encoder's output, or TextEncoderError if its shape is wrong."""
    out = np.asarray(vectors, dtype=np.float32)
    if out.shape != (rows, encoder.dim):
        raise TextEncoderError(
            f"text encoder {encoder.name} returned shape {out.shape}, expected {(rows, encoder.dim)}"
        )
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


@lru_cache(maxsize=1)
def load_bank() -> DescriptionBank:
    """The bank shipped with the package, read once per process."""
    return DescriptionBank.from_file(BANK_PATH)


def lookup(label: str) -> dict[str, list[str]] | None:
    """Side information of the shipped bank's entry matching ``label`` exactly (normalised), else None."""
    return load_bank().lookup(label)


def near_lookup(
    label: str, encoder: TextEncoder, threshold: float = DEFAULT_THRESHOLD
) -> dict[str, list[str]] | None:
    """Side information of the shipped bank's entry nearest to ``label`` (an exact match first), if its
    name or an alias reaches cosine ``threshold`` with the label in ``encoder``'s space; else None."""
    return load_bank().near_lookup(label, encoder, threshold)
