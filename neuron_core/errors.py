"""Errors raised on purpose by the model side.

``NeuronCoreError`` derives from the project's one base, ``neuron_base.errors.NeuronLiveError``, so the
command line and the GUI catch that alone and show the message, which is always one line naming the
file or value at fault and the cause.
"""

from neuron_base.errors import NeuronLiveError, one_line

__all__ = [
    "BackendError", "CheckpointError", "DescriptionError", "LabelError", "ModelError", "NeuronCoreError",
    "NeuronLiveError", "TextEncoderError", "one_line",
]  # fmt: skip


class NeuronCoreError(NeuronLiveError):
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
