"""The model's configuration: one typed dataclass that a checkpoint stores as a plain dict.

Two presets: ``full`` is the paper's Shift-GCN (64-64-64-64-128-128-128-256-256-256), ``slim`` keeps the
same depth, strides and 256-channel output with narrow early blocks, so a window scores fast on a CPU.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from neuron_core.errors import ModelError
from pose.normalize import PREPROCESS

FULL_CHANNELS = (64, 64, 64, 64, 128, 128, 128, 256, 256, 256)
SLIM_CHANNELS = (32, 32, 32, 32, 64, 64, 64, 128, 128, 256)
DEFAULT_STRIDES = (1, 1, 1, 1, 2, 1, 1, 2, 1, 1)
# The backbone's input features (ModelConfig.input_features), each a linear function of the joints
# (neuron_core.shift_gcn.input_features); written here so that reading a checkpoint needs no torch.
INPUT_FEATURES = ("joints", "joints+bones", "joints+motion", "joints+bones+motion")
NUM_STEPS = 3  # evolving steps of the Neuron head (spatial and temporal alike)
# Fields added after checkpoints were first shipped, with the values that reproduce those older
# checkpoints' behaviour when a stored config lacks them (ModelConfig.from_stored).
LEGACY_FIELDS: dict[str, Any] = {"faithful_head": False, "calibration": "none", "fusion": "fine"}


@dataclass
class ModelConfig:
    """Every number that shapes the backbone and the head (not training settings).

    ``prefixes`` are the temporal prefix lengths for the configured window (``window`` divided by the
    backbone's total stride time steps, 16 for 64 frames); other input lengths scale them.
    """

    window: int = PREPROCESS.window
    persons: int = 2
    in_channels: int = 3
    # What the backbone reads from each window (neuron_core.shift_gcn.input_features): the joints'
    # coordinates, optionally with each bone (joint minus its parent) and each joint's motion (its
    # change since the previous frame) beside them. Computed inside the model, so training, live use
    # and export read the same (N, 3, T, V, M) windows; "joints" is every checkpoint shipped so far.
    input_features: str = "joints"
    num_joints: int = PREPROCESS.num_joints
    backbone_channels: tuple[int, ...] = FULL_CHANNELS
    backbone_strides: tuple[int, ...] = DEFAULT_STRIDES
    temporal_shift: int = 1
    feat_dim: int = 256
    text_dim: int = 384
    n_spatial: int = 80
    n_temporal: int = 80
    keep: tuple[int, ...] = (60, 40, 20)
    prefixes: tuple[int, ...] = (5, 10, 16)
    learn_logit_scale: bool = True
    logit_scale: float = 10.0
    dropout: float = 0.0
    # The head as the authors' code computes it (see neuron_head.py); False only for old checkpoints.
    faithful_head: bool = True
    # How class scores are calibrated over the label set in use (neuron_core.calibration).
    calibration: str = "none"
    # Which steps' logits a prediction sums (neuron_core.model.fuse): "fine" or "all".
    fusion: str = "fine"

    def __post_init__(self) -> None:
        for name in ("backbone_channels", "backbone_strides", "keep", "prefixes"):
            setattr(self, name, tuple(int(v) for v in getattr(self, name)))
        self.validate()

    @property
    def total_stride(self) -> int:
        return math.prod(self.backbone_strides)

    @property
    def feature_channels(self) -> int:
        """Channels per joint the backbone's first layer reads (``in_channels`` per input feature)."""
        return self.in_channels * len(self.input_features.split("+"))

    @property
    def time_steps(self) -> int:
        """Length of the backbone's output time axis for a ``window``-frame input."""
        return self.window // self.total_stride

    def validate(self) -> None:
        """Raise ModelError naming the first inconsistent field."""

        def bad(msg: str) -> ModelError:
            return ModelError(f"invalid model config: {msg}")

        positive = ("window", "persons", "in_channels", "num_joints", "feat_dim", "text_dim")
        for name in (*positive, "n_spatial", "n_temporal"):
            if getattr(self, name) < 1:
                raise bad(f"{name} must be positive, got {getattr(self, name)}")
        if not self.backbone_channels or len(self.backbone_channels) != len(self.backbone_strides):
            raise bad("backbone_channels and backbone_strides must be non-empty and of equal length")
        if min(self.backbone_channels) < 1 or min(self.backbone_strides) < 1:
            raise bad("backbone channels and strides must be positive")
        if self.backbone_channels[-1] != self.feat_dim:
            raise bad(
                f"feat_dim {self.feat_dim} must equal the last backbone channels {self.backbone_channels[-1]}"
            )
        if self.window % self.total_stride:
            raise bad(f"window {self.window} must be a multiple of the total stride {self.total_stride}")
        if self.temporal_shift < 0:
            raise bad(f"temporal_shift must be >= 0, got {self.temporal_shift}")
        if len(self.keep) != NUM_STEPS or len(self.prefixes) != NUM_STEPS:
            raise bad(f"keep and prefixes need {NUM_STEPS} entries each (one per step)")
        if not all(1 <= k <= self.n_spatial for k in self.keep):
            raise bad(f"keep {self.keep} must lie in 1..n_spatial ({self.n_spatial})")
        in_range = all(1 <= p <= self.time_steps for p in self.prefixes)
        if not in_range or list(self.prefixes) != sorted(self.prefixes):
            raise bad(f"prefixes {self.prefixes} must be non-decreasing in 1..{self.time_steps} (time steps)")
        if not self.logit_scale > 0:
            raise bad(f"logit_scale must be positive, got {self.logit_scale}")
        from neuron_core.calibration import CALIBRATIONS

        if self.calibration not in CALIBRATIONS:
            raise bad(f"calibration must be one of {', '.join(CALIBRATIONS)}, got {self.calibration!r}")
        if self.input_features not in INPUT_FEATURES:
            choices = ", ".join(INPUT_FEATURES)
            raise bad(f"input_features must be one of {choices}, got {self.input_features!r}")
        if self.fusion not in ("fine", "all"):
            raise bad(f"fusion must be fine or all, got {self.fusion!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise bad(f"dropout must be in [0, 1), got {self.dropout}")

    def prefixes_for(self, time_steps: int) -> tuple[int, ...]:
        """Prefix lengths for a feature map of ``time_steps`` steps (as configured when it matches)."""
        if time_steps == self.time_steps:
            return self.prefixes
        ratio = time_steps / self.time_steps
        return tuple(min(time_steps, max(1, round(p * ratio))) for p in self.prefixes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/torch-safe dict (tuples become lists)."""
        out = dataclasses.asdict(self)
        for key, value in out.items():
            if isinstance(value, tuple):
                out[key] = list(value)
        return out

    @classmethod
    def from_stored(cls, data: dict[str, Any]) -> ModelConfig:
        """A config read from a checkpoint: fields it lacks take their legacy values, not new defaults."""
        if not isinstance(data, dict):
            raise ModelError(f"model config must be a dict, got {type(data).__name__}")
        return cls.from_dict({**LEGACY_FIELDS, **data})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Inverse of to_dict; unknown keys are refused so a typo does not pass silently."""
        if not isinstance(data, dict):
            raise ModelError(f"model config must be a dict, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ModelError(f"invalid model config: unknown field {unknown[0]!r}")
        try:
            return cls(**data)
        except (TypeError, ValueError) as exc:
            raise ModelError(f"invalid model config: {exc}") from exc

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> ModelConfig:
        """``"full"`` (the paper's backbone) or ``"slim"`` (the CPU-friendly default), with overrides."""
        presets = {"full": {"backbone_channels": FULL_CHANNELS}, "slim": {"backbone_channels": SLIM_CHANNELS}}
        if name not in presets:
            raise ModelError(f"unknown model preset {name!r}: use one of {sorted(presets)}")
        return cls(**{**presets[name], **overrides})
