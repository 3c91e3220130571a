"""Side information: the texts that stand for an action class at each of the six granularities.

The Neuron head emits one embedding per step (three spatial: coarse, medium, fine body detail; three
temporal: the first phase, the first two, all three), and each is compared with texts of the matching
granularity. Published NTU descriptions exist for training and evaluation; a live user only types a
name, so ``name_prompts`` builds texts of the same shape from the name alone.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuron_core.errors import DescriptionError, TextEncoderError
from neuron_core.labels import label_key
from neuron_core.text_encoders import TextEncoder

GRANULARITIES: tuple[str, ...] = (
    "spatial_coarse",
    "spatial_medium",
    "spatial_fine",
    "temporal_p1",
    "temporal_p12",
    "temporal_p123",
)
# Where a label's texts come from: name templates; the project's description bank where it knows the
# label (name templates otherwise); or both, averaged (neuron_core.description_bank).
TEXT_SOURCES: tuple[str, ...] = ("names", "bank", "bank+names")
# How training draws each batch's class texts: names only, descriptions only, or a mix.
PROMPT_MODES: tuple[str, ...] = ("names", "descriptions", "mixed")


@dataclass(frozen=True)
class TextContract:
    """The text half of a checkpoint's contract, as data: where live labels' texts come from
    (``source``, one of TEXT_SOURCES), how many per granularity, and the prompt mode training used
    (PROMPT_MODES; a record of how the model learnt, not a choice at use). The defaults are the one
    place these usual values are written."""

    source: str = "names"
    prompts_per_granularity: int = 10
    prompt_mode: str = "mixed"

    def __post_init__(self) -> None:
        if self.source not in TEXT_SOURCES:
            raise ValueError(f"text_source {self.source!r} is not one of {', '.join(TEXT_SOURCES)}")
        k = self.prompts_per_granularity
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"prompts_per_granularity must be a positive integer, got {k!r}")
        if self.prompt_mode not in PROMPT_MODES:
            raise ValueError(f"prompt_mode {self.prompt_mode!r} is not one of {', '.join(PROMPT_MODES)}")


TEXTS = TextContract()  # the defaults

# Text encoders that learnt from English text alone (by name prefix): a label in another script reaches
# them as pieces they never saw in a meaningful context, so its scores are noise.
ENGLISH_ENCODERS: tuple[str, ...] = ("minilm", "openclip")


def foreign_script(label: str, encoder_name: str) -> str | None:
    """The script of ``label`` (e.g. "CYRILLIC", "CJK") when an English-only encoder cannot read it: most
    of its letters are not Latin, or it has no letters at all ("no letters"); None when it can."""
    if not encoder_name.startswith(ENGLISH_ENCODERS):
        return None
    scripts = [unicodedata.name(ch, "UNKNOWN").split()[0] for ch in label if ch.isalpha()]
    if not scripts:
        return "no letters"
    others = [name for name in scripts if name != "LATIN"]
    if len(others) * 2 <= len(scripts):
        return None
    return max(set(others), key=others.count)


def unreadable_label(label: str, encoder_name: str) -> str | None:
    """Why an English-only text encoder cannot read ``label`` (its scores would be noise), as one
    sentence for the log and the window; None when it can."""
    script = foreign_script(label, encoder_name)
    if script is None:
        return None
    name = script if script == "CJK" else script.title()
    what = "has no letters" if script == "no letters" else f"is written in {name} script"
    return (
        f"label {label!r} {what}, which text encoder {encoder_name!r} (English) cannot read: its scores "
        "will be noise; name the action in English"
    )


Descriptions = Mapping[str, Mapping[str, Sequence[str]]]

# Ten templates per granularity, phrased like the published descriptions: whole body, then body parts,
# then joints; the first phase, then the first two, then the whole action.
TEMPLATES: dict[str, tuple[str, ...]] = {
    "spatial_coarse": (
        "a person {label}",
        "someone performs the action: {label}",
        "the body moves to {label}",
        "a human doing {label}",
        "a person's arms, legs and head move to {label}",
        "a person moves their body to {label}",
        "the action of {label}, seen from the whole body",
        "a skeleton of a person doing {label}",
        "the posture of a person during {label}",
        "body motion of {label}",
    ),
    "spatial_medium": (
        "the arms and hands move to {label}",
        "the head and torso move to {label}",
        "the legs and feet move to {label}",
        "the shoulders and arms move as a person does {label}",
        "the upper body moves to {label}",
        "the lower body moves to {label}",
        "the arms bend and the torso shifts to {label}",
        "the hands and head move together to {label}",
        "the hips and knees move to {label}",
        "the arms, torso and legs move to {label}",
    ),
    "spatial_fine": (
        "the hands, wrists and elbows move to {label}",
        "the fingers and wrists move precisely to {label}",
        "the elbows bend and the wrists turn to {label}",
        "the head tilts and the hands move to {label}",
        "the knees bend and the ankles shift to {label}",
        "the shoulders rotate and the elbows flex to {label}",
        "the spine bends and the hips shift to {label}",
        "the fingertips and thumbs move to {label}",
        "the neck turns while the arms move to {label}",
        "the feet stay planted while the hands move to {label}",
    ),
    "temporal_p1": (
        "a person starts to {label}",
        "a person begins to {label}",
        "a person gets ready to {label}",
        "the first phase of {label}",
        "the beginning of {label}",
        "a person prepares and starts to {label}",
        "the opening movement of {label}",
        "a person initiates the motion to {label}",
        "at first, a person begins {label}",
        "a person takes the starting position to {label}",
    ),
    "temporal_p12": (
        "a person begins then continues to {label}",
        "a person starts and keeps going to {label}",
        "the beginning and the middle of {label}",
        "a person prepares, then carries on to {label}",
        "the first and second phases of {label}",
        "a person starts to {label} and continues the motion",
        "the opening movement of {label}, then its main part",
        "a person begins {label} and goes on with it",
        "at first a person starts, then continues {label}",
        "a person gets ready, then performs {label}",
    ),
    "temporal_p123": (
        "a person starts, continues and finishes {label}",
        "a person begins, carries on and completes {label}",
        "the beginning, middle and end of {label}",
        "the whole motion of {label} from start to finish",
        "a person prepares, performs and ends {label}",
        "the first, second and final phases of {label}",
        "a person starts to {label}, continues, then returns to rest",
        "a person completes the full action: {label}",
        "from the first move to the last, a person does {label}",
        "a person begins {label}, goes on with it and finishes",
    ),
}

# Neuron's published files: ntu_<kind>_<kind>_<code>.json, one dict class name -> 10 strings each.
_DESCRIPTION_FILES = {
    "spatial_coarse": "spatial_spatial_cg",
    "spatial_medium": "spatial_spatial_mg",
    "spatial_fine": "spatial_spatial_fg",
    "temporal_fp": "temporal_temporal_fp",
    "temporal_sp": "temporal_temporal_sp",
    "temporal_tp": "temporal_temporal_tp",
}


def _check_k(k: int) -> None:
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k (texts per granularity) must be a positive integer, got {k!r}")


def _take(texts: Sequence[str], k: int) -> list[str]:
    """Exactly k texts: the first k, cycling through them when there are fewer."""
    return [texts[i % len(texts)] for i in range(k)]


def name_prompts(label: str, k: int = TEXTS.prompts_per_granularity) -> dict[str, list[str]]:
    """k texts per granularity built from the action name alone (deterministic)."""
    _check_k(k)
    return {g: [t.format(label=label) for t in _take(TEMPLATES[g], k)] for g in GRANULARITIES}


def read_description_json(path: Path, what: str) -> object:
    """Parsed JSON of a description file or bank (``what`` names it in the one-line error)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DescriptionError(f"{what} {path} does not exist") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DescriptionError(f"{what} {path} cannot be read: {exc}") from exc


def _read_json(path: Path) -> dict[str, list[str]]:
    data = read_description_json(path, "description file")
    if not isinstance(data, dict):
        raise DescriptionError(f"description file {path} must hold an object of class name -> texts")
    for name, texts in data.items():
        ok = isinstance(texts, list) and texts and all(isinstance(t, str) and t.strip() for t in texts)
        if not ok:
            raise DescriptionError(f"description file {path}: class {name!r} needs a non-empty list of texts")
    return data


def load_neuron_descriptions(text_dir: str | Path, dataset: str = "ntu") -> dict[str, dict[str, list[str]]]:
    """Read Neuron's published descriptions: class name -> granularity -> texts.

    Temporal phases are cumulative: ``temporal_p12`` joins the first and second phase texts of the same
    index, ``temporal_p123`` all three. Every class must appear in all six files.
    """
    text_dir = Path(text_dir)
    files = {key: _read_json(text_dir / f"{dataset}_{stem}.json") for key, stem in _DESCRIPTION_FILES.items()}
    classes = list(files["spatial_coarse"])
    for key, data in files.items():
        missing = [c for c in classes if c not in data]
        if missing or len(data) != len(classes):
            other = missing[0] if missing else next(c for c in data if c not in files["spatial_coarse"])
            raise DescriptionError(
                f"description file {text_dir / (dataset + '_' + _DESCRIPTION_FILES[key] + '.json')} "
                f"does not list the same classes as the others (e.g. {other!r})"
            )
    out: dict[str, dict[str, list[str]]] = {}
    for name in classes:
        fp, sp, tp = (files[k][name] for k in ("temporal_fp", "temporal_sp", "temporal_tp"))
        out[name] = {
            "spatial_coarse": list(files["spatial_coarse"][name]),
            "spatial_medium": list(files["spatial_medium"][name]),
            "spatial_fine": list(files["spatial_fine"][name]),
            "temporal_p1": list(fp),
            "temporal_p12": [f"{a} {b}" for a, b in zip(fp, sp, strict=False)],
            "temporal_p123": [f"{a} {b} {c}" for a, b, c in zip(fp, sp, tp, strict=False)],
        }
    return out


def side_information(
    label: str, descriptions: Descriptions | None = None, k: int = TEXTS.prompts_per_granularity
) -> dict[str, list[str]]:
    """k texts per granularity for ``label``: its descriptions when given (matched case-insensitively),
    otherwise texts built from the name."""
    _check_k(k)
    if descriptions:
        key = label_key(label)
        for name, by_granularity in descriptions.items():
            if label_key(name) == key:
                missing = [g for g in GRANULARITIES if not by_granularity.get(g)]
                if missing:
                    raise DescriptionError(f"descriptions of {name!r} lack granularity {missing[0]!r}")
                return {g: _take(list(by_granularity[g]), k) for g in GRANULARITIES}
    return name_prompts(label, k)


def encode_classes(
    encoder: TextEncoder,
    labels: Sequence[str],
    descriptions: Descriptions | None = None,
    k: int = TEXTS.prompts_per_granularity,
) -> np.ndarray:
    """(C, 6, k, D) float32 embeddings of every label's side information, in one encode() call."""
    if isinstance(labels, str):
        raise TypeError("labels must be a list of strings, not one string")
    texts = [
        text
        for label in labels
        for group in side_information(label, descriptions, k).values()
        for text in group
    ]
    if not labels:
        return np.zeros((0, len(GRANULARITIES), k, encoder.dim), np.float32)
    vectors = np.asarray(encoder.encode(texts), np.float32)
    if vectors.shape != (len(texts), encoder.dim):
        expected = (len(texts), encoder.dim)
        raise TextEncoderError(
            f"text encoder {encoder.name} returned shape {vectors.shape}, expected {expected}"
        )
    return vectors.reshape(len(labels), len(GRANULARITIES), k, encoder.dim)


def class_text_embeddings(
    encoder: TextEncoder,
    labels: Sequence[str],
    source: str = "names",
    descriptions: Descriptions | None = None,
    k: int = TEXTS.prompts_per_granularity,
) -> np.ndarray:
    """(C, 6, K', D) text embeddings of labels from ``source`` (TEXT_SOURCES); given ``descriptions``
    win over the bank. "bank+names" stacks both sets (K' = 2k), so class prototypes average them."""
    if source not in TEXT_SOURCES:
        raise DescriptionError(f"unknown text source {source!r}; expected one of {', '.join(TEXT_SOURCES)}")
    if source == "names":
        return encode_classes(encoder, labels, descriptions, k)
    from neuron_core.description_bank import load_bank

    bank = {**load_bank().descriptions(labels), **dict(descriptions or {})}
    described = encode_classes(encoder, labels, bank, k)
    if source == "bank":
        return described
    return np.concatenate([described, encode_classes(encoder, labels, descriptions, k)], axis=2)
