"""Score calibration over the label set in use: against hubness, where one label wins for every window.

Name prompts share most of their words ("a person ... {label}"), so every label's text embedding leans
the same way, and the label that leans furthest along the common direction takes most predictions
(measured: one or two labels took most predictions on unseen data sets). Centring removes what the
labels in use have in common: per step, the mean of the label prototypes is subtracted and each
prototype renormalised, so a window is scored by what sets a label apart from the others. It needs no
data and no tuning, and it is the same in training-free evaluation and in live use.

With fewer than ``MIN_LABELS`` labels there is no meaningful "common part" (two labels would become
exact opposites), so they are scored uncalibrated.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

CALIBRATIONS: tuple[str, ...] = ("none", "centre")
MIN_LABELS = 3


def calibrate_prototypes(protos: torch.Tensor, method: str) -> torch.Tensor:
    """(C, 6, D) per-step class prototypes -> the same, calibrated by ``method`` over the C labels."""
    if method not in CALIBRATIONS:
        raise ValueError(f"unknown calibration {method!r}; expected one of {', '.join(CALIBRATIONS)}")
    if method == "none" or protos.shape[0] < MIN_LABELS:
        return protos
    return F.normalize(protos - protos.mean(dim=0, keepdim=True), dim=-1)
