"""The user's active action names, kept between runs in the user's config folder.

The file is small JSON written atomically (temporary file, fsync, ``os.replace``) so a crash or a
power cut leaves either the old list or the new one, never half a file. No Qt here: the headless
path reads the same file.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

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
    tmp = path.with_name(f".{LABELS_FILE}.{os.getpid()}.tmp")
    payload = json.dumps({"version": FORMAT_VERSION, "labels": list(labels)}, ensure_ascii=False, indent=2)
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(payload + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path
