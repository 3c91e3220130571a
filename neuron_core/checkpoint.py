"""Saving and loading trained models as self-describing, pickle-free checkpoints.

A checkpoint is ``torch.save`` of a plain dict: the format tag, the model config (a dict), the weights
(a state dict of tensors) and a metadata dict of strings, numbers and lists, in the spirit of torchvision's
weights: everything needed to use it (text encoder, its preprocessing and text contract, the vocabulary it
saw, its measured metrics). It is read back with ``torch.load(weights_only=True)``, which refuses any object
that is not plain data, so a crafted file cannot run code. Every failure is one CheckpointError line
naming the file.

torch is imported where a model is built, saved or loaded, not with this module: the live path reads
metadata and weights without it when the model runs on ONNX Runtime (:func:`read_stored_model`).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neuron_base.atomic import atomic_path
from neuron_core.calibration import needs_reference
from neuron_core.config import ModelConfig
from neuron_core.errors import CheckpointError, NeuronCoreError, one_line
from neuron_core.prompts import TEXTS, TextContract
from pose.normalize import PREPROCESS, Preprocess, UnsupportedPreprocess

if TYPE_CHECKING:
    import torch

    from neuron_core.model import NeuronModel

FORMAT = "neuron-live-checkpoint"
VERSION = 1
DEFAULT_CHECKPOINT = Path(__file__).resolve().parent.parent / "assets" / "neuron_default.pt"
REQUIRED_KEYS = ("format", "version", "config", "state_dict", "meta")


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


# Contract fields the stored metadata keeps flat (the layout old checkpoints were written in), and the
# values a checkpoint that lacks one was trained with: every checkpoint before a field existed was made
# by this project's training with exactly these (30 Hz NTU-rate resampling, linear time resizing, the
# "mixed" prompt mode, name prompts, ten per granularity). A missing field reads as the default.
PREPROCESS_KEYS = {f.name: f.name for f in dataclasses.fields(Preprocess)}
TEXT_KEYS = {
    "text_source": "source",
    "prompts_per_granularity": "prompts_per_granularity",
    "prompt_mode": "prompt_mode",
}
# What training wrote as ``normalisation`` before it was a known name (free text naming the function).
LEGACY_NORMALISATION = "pose.normalize.normalize_window("


def _preprocess_from(data: dict[str, Any]) -> Preprocess:
    values = {field: data[key] for key, field in PREPROCESS_KEYS.items() if key in data}
    norm = values.get("normalisation")
    if isinstance(norm, str) and norm.startswith(LEGACY_NORMALISATION):
        values["normalisation"] = PREPROCESS.normalisation  # the only one that function has ever done
    return Preprocess(**values)


@dataclass
class CheckpointMeta:
    """What a model needs around it to be used correctly, and what it is known to achieve.

    ``preprocess`` and ``text`` are its contract: how windows are made (window, test crop, frame rate,
    resampling, layout, normalisation) and how label texts are made (source, prompts per granularity,
    the prompt mode training used). Training writes them; live use and evaluation read them.
    """

    text_encoder: str
    text_dim: int
    preprocess: Preprocess = PREPROCESS
    text: TextContract = TEXTS
    # Mean unit embedding of training windows per step (6 x text_dim), for the "prior" calibration.
    reference_embedding: list[list[float]] = field(default_factory=list)
    # The same mean over live windows (MediaPipe skeletons of real videos, one mean per video, then
    # their mean; no labels used): the live path's "prior" reference where present, since live
    # windows lean another way than the Kinect and motion-capture ones (app.video_eval
    # --live-reference). Skeleton evaluation keeps ``reference_embedding``.
    live_reference_embedding: list[list[float]] = field(default_factory=list)
    vocabulary: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    command: str = ""
    data: str = ""
    created: str = field(default_factory=_now)

    def to_dict(self) -> dict[str, Any]:
        """Plain data, the contract flattened into top-level keys (as older checkpoints have them)."""
        out = dataclasses.asdict(self)
        preprocess, text = out.pop("preprocess"), out.pop("text")
        out.update({key: preprocess[name] for key, name in PREPROCESS_KEYS.items()})
        out.update({key: text[name] for key, name in TEXT_KEYS.items()})
        return out

    def reference(self) -> torch.Tensor | None:
        """The reference embedding as a (6, D) tensor, or None when the checkpoint has none."""
        if not self.reference_embedding:
            return None
        import torch

        return torch.tensor(self.reference_embedding, dtype=torch.float32)

    def live_reference_array(self) -> np.ndarray | None:
        """The live reference embedding as a (6, D) float32 array, or None when the checkpoint has none."""
        if not self.live_reference_embedding:
            return None
        return np.asarray(self.live_reference_embedding, dtype=np.float32)

    def reference_array(self) -> np.ndarray | None:
        """The reference embedding as a (6, D) float32 array, or None when the checkpoint has none."""
        if not self.reference_embedding:
            return None
        return np.asarray(self.reference_embedding, dtype=np.float32)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckpointMeta:
        """Tolerates keys added by newer versions (ignored) and contract fields older ones lack (their
        defaults); refuses missing or mistyped required ones (ValueError) and a contract this code
        cannot honour (UnsupportedPreprocess, a ValueError)."""
        preprocess = _preprocess_from(data)
        text = TextContract(**{name: data[key] for key, name in TEXT_KEYS.items() if key in data})
        contract = set(PREPROCESS_KEYS) | set(TEXT_KEYS)
        known = {f.name for f in dataclasses.fields(cls)}
        rest = {k: v for k, v in data.items() if k in known and k not in contract}
        meta = cls(**rest, preprocess=preprocess, text=text)
        if not isinstance(meta.text_encoder, str) or not meta.text_encoder:
            raise ValueError("text_encoder must be a non-empty string")
        if not isinstance(meta.text_dim, int) or meta.text_dim < 1:
            raise ValueError("text_dim must be a positive integer")
        if not isinstance(meta.vocabulary, list) or not all(isinstance(v, str) for v in meta.vocabulary):
            raise ValueError("vocabulary must be a list of strings")
        if not isinstance(meta.metrics, dict):
            raise ValueError("metrics must be a dict")
        return meta


def save_checkpoint(path: str | os.PathLike[str], model: NeuronModel, meta: CheckpointMeta) -> Path:
    """Write ``model`` and ``meta`` to ``path`` atomically: a half-written file never replaces a good one."""
    import torch

    path = Path(path)
    if meta.text_dim != model.config.text_dim:
        raise CheckpointError(
            f"cannot save {path}: meta says text_dim {meta.text_dim}, the model has {model.config.text_dim}"
        )
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": model.config.to_dict(),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "meta": meta.to_dict(),
    }
    try:
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)
    except OSError as exc:
        raise CheckpointError(f"cannot write checkpoint {path}: {one_line(exc)}") from exc
    return path


def _short(exc: BaseException, limit: int = 100) -> str:
    """The first sentence of a library's (often long) message, capped."""
    text = one_line(exc).split(". ")[0]
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _read(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if path.is_dir():
        raise CheckpointError(f"checkpoint {path} is a directory, not a file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path} is empty")
    import torch

    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        unsafe = re.search(r"GLOBAL ([\w.]+)", str(exc))
        if unsafe:
            raise CheckpointError(
                f"checkpoint {path} refers to code ({unsafe.group(1)}), not just weights: refused for safety"
            ) from exc
        raise CheckpointError(f"checkpoint {path} is corrupt or not a checkpoint (bad pickle data)") from exc
    except Exception as exc:  # torch.load on damaged bytes raises many types; all mean the same here
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated: {_short(exc)}") from exc
    return _check_payload(path, payload)


def _check_payload(path: Path, payload: object) -> dict[str, Any]:
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a Neuron Live checkpoint (no '{FORMAT}' format tag)")
    for key in REQUIRED_KEYS:
        if key not in payload:
            raise CheckpointError(f"checkpoint {path} lacks the {key!r} entry")
    if payload["version"] != VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format version {payload['version']} (expected {VERSION})"
        )
    return payload


def _meta(path: Path, data: object) -> CheckpointMeta:
    """The metadata of ``path``; one CheckpointError line when unusable or its contract cannot be honoured."""
    if not isinstance(data, dict):
        raise CheckpointError(f"checkpoint {path} has invalid metadata: 'meta' is not a dict")
    try:
        return CheckpointMeta.from_dict(data)
    except UnsupportedPreprocess as exc:
        raise CheckpointError(f"checkpoint {path} needs what this code cannot do: {exc}") from exc
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path} has invalid metadata: {one_line(exc)}") from exc


def read_checkpoint_meta(path: str | os.PathLike[str]) -> CheckpointMeta:
    """Only the metadata (e.g. to show a model card or pick the text encoder before building anything)."""
    path = Path(path)
    return _meta(path, _read(path)["meta"])


def load_checkpoint(
    path: str | os.PathLike[str], device: str | torch.device = "cpu", expect_text_encoder: str | None = None
) -> tuple[NeuronModel, CheckpointMeta]:
    """Rebuild the model (in eval mode, on ``device``) and its metadata from ``path``.

    With ``expect_text_encoder`` a checkpoint trained against another text encoder is refused: its
    embeddings would be compared with vectors from a different space, and scores would be noise.
    """
    path = Path(path)
    payload = _read(path)
    config, meta = _contract(path, payload, expect_text_encoder)
    from neuron_core.model import NeuronModel

    model = NeuronModel(config)
    problem = _state_mismatch(model.state_dict(), payload["state_dict"])
    if problem:
        raise CheckpointError(f"checkpoint {path} does not fit its model config: {problem}")
    model.load_state_dict(payload["state_dict"], strict=True)
    return model.to(device).eval(), meta


def _contract(
    path: Path, payload: dict[str, Any], expect_text_encoder: str | None
) -> tuple[ModelConfig, CheckpointMeta]:
    """The model config and metadata of a payload, checked against each other (CheckpointError)."""
    meta = _meta(path, payload["meta"])
    if expect_text_encoder is not None and meta.text_encoder != expect_text_encoder:
        raise CheckpointError(
            f"checkpoint {path} was trained with text encoder {meta.text_encoder!r}, "
            f"not {expect_text_encoder!r}"
        )
    try:
        config = ModelConfig.from_stored(payload["config"])
    except NeuronCoreError as exc:
        raise CheckpointError(f"checkpoint {path} has an unusable model config: {exc}") from exc
    if config.text_dim != meta.text_dim:
        raise CheckpointError(f"checkpoint {path}: config text_dim {config.text_dim} != meta {meta.text_dim}")
    if config.num_joints != meta.preprocess.num_joints:
        raise CheckpointError(
            f"checkpoint {path}: the model takes {config.num_joints} joints, its layout "
            f"{meta.preprocess.layout!r} has {meta.preprocess.num_joints}"
        )
    reference = meta.reference_array()
    if needs_reference(config.calibration) and (reference is None or reference.shape != (6, config.text_dim)):
        raise CheckpointError(
            f"checkpoint {path}: calibration {config.calibration!r} needs a (6, {config.text_dim}) reference "
            "embedding, which the checkpoint lacks"
        )
    live = meta.live_reference_array()
    if live is not None and live.shape != (6, config.text_dim):
        raise CheckpointError(
            f"checkpoint {path}: live reference embedding of shape {live.shape}, not (6, {config.text_dim})"
        )
    return config, meta


@dataclass
class StoredModel:
    """A checkpoint's model as stored, read without torch: its config, its weights as numpy arrays
    (floating weights as the float32 the model holds them in, whatever the file stores) and the file.

    Enough to find the model's cached ONNX graph (``neuron_core.onnx_runtime.arrays_digest``) and to
    score (``logit_scale``); ``load()`` builds the torch model when something needs it after all.
    """

    path: Path
    config: ModelConfig
    state: dict[str, np.ndarray]

    @property
    def logit_scale(self) -> float:
        from neuron_core.scoring import logit_scale

        return logit_scale(self.state["log_logit_scale"])

    def load(self, device: str = "cpu") -> NeuronModel:
        """The torch model (torch.load of the file again, with every check of ``load_checkpoint``)."""
        return load_checkpoint(self.path, device=device)[0]


def read_stored_model(
    path: str | os.PathLike[str], expect_text_encoder: str | None = None
) -> tuple[StoredModel, CheckpointMeta] | None:
    """The checkpoint's model and metadata without torch (``neuron_core.torch_zip``), checked as
    ``load_checkpoint`` checks them except the weights against the model (the caller does that by
    the weights' digest); None when the file needs torch to be read (the caller then loads it with
    ``load_checkpoint``, which says what is wrong with a damaged file)."""
    from neuron_core import torch_zip

    path = Path(path)
    try:
        payload = torch_zip.read(path)
    except (torch_zip.Unreadable, OSError):
        return None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        return None
    payload = _check_payload(path, payload)
    state = payload["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, np.ndarray) for v in state.values()):
        return None
    if "log_logit_scale" not in state:
        return None
    config, meta = _contract(path, payload, expect_text_encoder)
    state = {k: v.astype(np.float32) if v.dtype.kind == "f" else v for k, v in state.items()}
    return StoredModel(path, config, state), meta


def _state_mismatch(ours: dict[str, torch.Tensor], theirs: object) -> str | None:
    """The first difference between the model's state dict and a loaded one, in words (None if they fit)."""
    if not isinstance(theirs, dict):
        return "'state_dict' is not a dict of tensors"
    missing = [k for k in ours if k not in theirs]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        return f"weights for {missing[0]!r} are missing{more}"
    extra = [k for k in theirs if k not in ours]
    if extra:
        return f"unexpected weights {extra[0]!r}"
    import torch

    for key, tensor in ours.items():
        value = theirs[key]
        if not isinstance(value, torch.Tensor):
            return f"{key!r} is a {type(value).__name__}, not a tensor"
        if value.shape != tensor.shape:
            return f"{key!r} has shape {tuple(value.shape)}, expected {tuple(tensor.shape)}"
    return None
