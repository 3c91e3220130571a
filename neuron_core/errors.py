"""Errors raised on purpose by the model side.

neuron_core must not depend on pose/, so it has its own base type; the command line and the GUI catch
``(NeuronLiveError, NeuronCoreError)`` and show the message, which is always one line naming the file or
value at fault and the cause.
"""


class NeuronCoreError(Exception):
    """Base of every error neuron_core raises on purpose; its message is shown to the user as is."""


class CheckpointError(NeuronCoreError):
    """A checkpoint file is missing, unreadable, unsafe, malformed or made for another text encoder."""


class LabelError(NeuronCoreError):
    """An action label (or label set) cannot be used: empty, too long, duplicated, too many, unknown."""


class TextEncoderError(NeuronCoreError):
    """A text encoder cannot be found, loaded or run (e.g. no local CLIP weights)."""


class DescriptionError(NeuronCoreError):
    """A file of class descriptions (side information) is missing or malformed."""


class ModelError(NeuronCoreError):
    """A model configuration is inconsistent, or an input array has the wrong shape or values."""


class BackendError(ModelError):
    """An inference backend (ONNX Runtime) cannot export, load or run the model here."""


def one_line(exc: BaseException) -> str:
    """``Type: first line of the message``: for wrapping a library's exception into one of ours."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
