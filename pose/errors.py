"""Errors raised by the pose side of the pipeline.

Every problem a user can cause (a bad file, a camera that will not open, a broken video) is one of
these, so the command line and the GUI can catch a single type and print one clear line.
"""


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
