"""Where the project keeps derived files (the cache) and finds the shared data sets."""

from __future__ import annotations

import os
from pathlib import Path

# The repository root (this file lives in <root>/neuron_base/).
REPO_ROOT = Path(__file__).resolve().parent.parent


def cache_dir() -> Path:
    """Derived files (ONNX graphs, the pose bundle, text and detection caches): $NEURON_LIVE_CACHE,
    else $XDG_CACHE_HOME/neuron-live, else ~/.cache/neuron-live."""
    if env := os.environ.get("NEURON_LIVE_CACHE"):
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "neuron-live"


def shared_data_dir() -> Path:
    """The shared data sets: $NEURON_SHARED_DATA, else ``../shared/data`` beside the repository."""
    if env := os.environ.get("NEURON_SHARED_DATA"):
        return Path(env).expanduser()
    return REPO_ROOT.parent / "shared" / "data"
