"""The app's settings as one typed dataclass: every command-line flag is one field.

Keeping the flags and the fields one-to-one means a YAML file (``--config``), the command line and
the tests all describe a run the same way, and the pipeline never reads ``argparse`` objects.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from app.track_scoring import ScoringSettings
from neuron_base.devices import BACKEND_CHOICES, DEVICE_CHOICES, DEVICE_HELP, parse_device
from neuron_base.errors import ConfigError
from pose.backends import DEFAULT_POSE_BACKEND, POSE_BACKEND_NAMES
from pose.follow import SEARCH_EVERY_S

DEVICES = DEVICE_CHOICES
BACKENDS = BACKEND_CHOICES


@dataclass
class LiveConfig:
    """One run of ``neuron-live``.

    Source: at most one of ``camera``, ``video``, ``skeleton_file``, ``demo``; none of them means
    camera 0, falling back to the demo when no camera opens.
    """

    camera: int | None = None
    video: Path | None = None
    skeleton_file: Path | None = None
    demo: bool = False
    fast: bool = False
    loop: bool = False
    max_frames: int | None = None
    labels: list[str] | None = None
    labels_file: Path | None = None
    checkpoint: Path | None = None
    device: str = "auto"
    backend: str = "auto"
    pose_backend: str = DEFAULT_POSE_BACKEND
    headless: bool = False
    record: Path | None = None
    output: Path | None = None
    examples: Path | None = None
    top_k: int = 5
    rate: int = 4
    # How scores become predictions; the defaults (and why 0.08 m/s) live in ScoringSettings.
    smoothing: float = ScoringSettings.smoothing
    hysteresis: float = ScoringSettings.hysteresis
    still_threshold: float = ScoringSettings.still_threshold
    max_persons: int = 2
    # Seconds between searches of the whole frame for people, the chosen ones followed on crops in
    # between (pose.follow: a third less pose time); 0 searches every frame.
    search_every: float = SEARCH_EVERY_S
    verbose: bool = False

    def __post_init__(self) -> None:
        for name in ("video", "skeleton_file", "labels_file", "checkpoint", "record", "output", "examples"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                setattr(self, name, Path(value))
        self.validate()

    def validate(self) -> None:
        """Refuse settings that cannot work, naming the flag, before anything is opened."""
        chosen = [
            flag
            for flag, on in (
                ("--camera", self.camera is not None),
                ("--video", self.video is not None),
                ("--skeleton-file", self.skeleton_file is not None),
                ("--demo", self.demo),
            )
            if on
        ]
        if len(chosen) > 1:
            raise ConfigError(f"choose one source, not {' and '.join(chosen)}")
        if self.camera is not None and self.camera < 0:
            raise ConfigError(f"--camera must be 0 or more, got {self.camera}")
        try:
            parse_device(self.device)
        except ValueError:
            raise ConfigError(f"--device must be {DEVICE_HELP}, got {self.device!r}") from None
        if self.backend not in BACKENDS:
            raise ConfigError(f"--backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.pose_backend not in POSE_BACKEND_NAMES:
            raise ConfigError(
                f"--pose-backend must be one of {', '.join(POSE_BACKEND_NAMES)}, got {self.pose_backend!r}"
            )
        if self.labels is not None and not self.labels:
            raise ConfigError("--labels holds no label: give names separated by commas")
        if self.labels is not None and self.labels_file is not None:
            raise ConfigError("give --labels or --labels-file, not both")
        if self.output is not None and (self.skeleton_file is not None or self.demo):
            raise ConfigError("--output records camera or --video frames: not --skeleton-file or --demo")
        if self.output is not None and self.loop:
            raise ConfigError("--output writes the video once: not with --loop")
        if self.output is not None and self.output.suffix.lower() not in (".mp4", ".avi"):
            raise ConfigError(f"--output must end in .mp4 (mp4v) or .avi (MJPG), got {self.output.name!r}")
        if self.top_k < 1:
            raise ConfigError(f"--top-k must be 1 or more, got {self.top_k}")
        if self.rate < 1:
            raise ConfigError(f"--rate must be 1 or more frames, got {self.rate}")
        if self.max_frames is not None and self.max_frames < 1:
            raise ConfigError(f"--max-frames must be 1 or more, got {self.max_frames}")
        if not 0.0 < self.smoothing <= 1.0:
            raise ConfigError(f"--smoothing must be in (0, 1], got {self.smoothing}")
        if not 0.0 <= self.hysteresis < 1.0:
            raise ConfigError(f"--hysteresis must be in [0, 1), got {self.hysteresis}")
        if self.still_threshold < 0.0:
            raise ConfigError(f"--still-threshold must be 0 or more, got {self.still_threshold}")
        if not 1 <= self.max_persons <= 2:
            raise ConfigError(f"--max-persons must be 1 or 2, got {self.max_persons}")
        if not 0.0 <= self.search_every < float("inf"):
            raise ConfigError(f"--search-every must be 0 or more seconds, got {self.search_every}")

    @property
    def search_every_s(self) -> float | None:
        """``search_every`` as the pose stage takes it: None where every frame is searched (0)."""
        return self.search_every or None

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_mapping(cls, values: dict[str, Any], origin: str = "settings") -> LiveConfig:
        """Build from a plain mapping (a YAML file); unknown keys are an error, not silently ignored."""
        unknown = sorted(set(values) - set(cls.field_names()))
        if unknown:
            raise ConfigError(f"{origin}: unknown setting(s) {', '.join(unknown)}")
        if isinstance(values.get("labels"), str):
            values = {**values, "labels": split_labels(values["labels"])}
        try:
            return cls(**values)
        except TypeError as exc:
            raise ConfigError(f"{origin}: {exc}") from None

    @classmethod
    def from_yaml(cls, path: Path) -> LiveConfig:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise ConfigError(f"{path}: settings file not found") from None
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: not a readable YAML settings file ({type(exc).__name__})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping of setting names to values")
        return cls.from_mapping({k.replace("-", "_"): v for k, v in data.items()}, origin=str(path))


def split_labels(text: str) -> list[str]:
    """``"wave, jump up,,"`` -> ``["wave", "jump up"]``: commas separate, blanks are dropped."""
    return [part.strip() for part in text.split(",") if part.strip()]


def read_labels_file(path: Path) -> list[str]:
    """One label per line; blank lines and lines starting with ``#`` are skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: labels file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the labels file ({type(exc).__name__})") from None
    labels = [line.strip() for line in text.splitlines()]
    labels = [line for line in labels if line and not line.startswith("#")]
    if not labels:
        raise ConfigError(f"{path}: the labels file holds no label")
    return labels
