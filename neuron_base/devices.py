"""Device names, checked in one place: ``auto``, ``cpu``, ``cuda`` or ``cuda:<index>``; and the
inference backends the model can run on.

This checks the spelling only (no torch import); whether a GPU is there is the model side's question
(``neuron_core.recognizer.resolve_device``).
"""

from __future__ import annotations

import re

DEVICE_CHOICES = ("auto", "cpu", "cuda")
DEVICE_HELP = "auto, cpu, cuda or cuda:<index>"
# Where the model runs: PyTorch, ONNX Runtime, or whichever is faster here ("auto").
BACKEND_CHOICES = ("auto", "torch", "onnx")


def parse_device(spec: object) -> tuple[str, int | None]:
    """``(kind, index)`` for a device name: kind is auto, cpu or cuda; index the GPU number given
    (``cuda:1`` -> 1), else None. Raises ValueError naming the accepted forms."""
    text = str(spec).strip().lower()
    if text in ("auto", "cpu"):
        return text, None
    match = re.fullmatch(r"cuda(?::(\d+))?", text)
    if not match:
        raise ValueError(f"unknown device {spec!r}: use {DEVICE_HELP}")
    return "cuda", None if match.group(1) is None else int(match.group(1))


def check_device(spec: object) -> str:
    """The device name normalised (lower case, trimmed); ValueError if it is not one of the forms."""
    kind, index = parse_device(spec)
    return kind if index is None else f"{kind}:{index}"
