"""Errors raised by the pose side of the pipeline.

Every problem a user can cause (a bad file, a camera that will not open, a broken video) is one of
these; all derive from ``neuron_base.errors.NeuronLiveError`` (re-exported here with ``one_line``), so
the command line and the GUI can catch a single type and print one clear line.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from neuron_base.errors import NeuronLiveError, one_line

__all__ = ["NeuronLiveError", "PoseError", "SkeletonError", "SourceError", "one_line", "reading_npz"]


class SkeletonError(NeuronLiveError):
    """A skeleton file or array is malformed, truncated or holds values that are not usable."""


class SourceError(NeuronLiveError):
    """A frame source (camera, video file, image folder) cannot be opened or read."""


class PoseError(NeuronLiveError):
    """The pose estimator cannot be created or fails in a way that is not about one frame."""


@contextmanager
def reading_npz(path: str | os.PathLike, what: str) -> Iterator[None]:
    """Turn whatever reading a damaged ``.npz`` raises into one SkeletonError naming the file.

    numpy parsing damaged bytes raises a zoo (ValueError, zlib.error, SyntaxError ...): all mean the
    same thing to a user, so every ``.npz`` reader wraps its loading in this one place.
    """
    try:
        yield
    except SkeletonError:
        raise
    except FileNotFoundError:
        raise SkeletonError(f"{path}: file not found") from None
    except Exception as exc:
        raise SkeletonError(f"{path}: not a readable {what} ({one_line(exc)})") from None
