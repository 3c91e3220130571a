"""One base for every error the project raises on purpose, and one way to quote a library's error.

The command line and the GUI catch :class:`NeuronLiveError` alone and print its message, which is
always one line naming the file or value at fault and the cause. Each domain derives its own types
from it (``pose.errors``, ``neuron_core.errors``).
"""

from __future__ import annotations


class NeuronLiveError(Exception):
    """Base of every error the project raises on purpose; its message is shown to the user as is."""


class ConfigError(NeuronLiveError):
    """A setting (a flag, a field of a config file, a named config) is invalid; the message names it."""


def one_line(exc: BaseException, limit: int = 200) -> str:
    """``Type: first line of the message``, capped at ``limit`` characters: a library's exception
    quoted inside one of ours (just ``Type`` when the message is empty)."""
    lines = str(exc).strip().splitlines()
    name = type(exc).__name__
    text = f"{name}: {lines[0].strip()}" if lines else name
    return text if len(text) <= limit else text[: limit - 3] + "..."
