"""Errors raised by the pose side of the pipeline.

Every problem a user can cause (a bad file, a camera that will not open, a broken video) is one of
these, so the command line and the GUI can catch a single type and print one clear line.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


class NeuronLiveError(Exception):
    """Base of every error the project raises on purpose; its message is shown to the user as is."""


class SkeletonError(NeuronLiveError):
    """A skeleton file or array is malformed, truncated or holds values that are not usable."""


class SourceError(NeuronLiveError):
    """A frame source (camera, video file, image folder) cannot be opened or read."""


class PoseError(NeuronLiveError):
    """The pose estimator cannot be created or fails in a way that is not about one frame."""


def one_line(exc: BaseException, limit: int = 200) -> str:
    """A library's exception as one short line (its first line, capped), for wrapping into ours."""
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
