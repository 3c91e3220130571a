"""Score calibration against hubness, where one label wins for (nearly) every window.

Two independent corrections, each measured by the cross-data-set benchmark:

- ``centre`` (label side): name prompts share most of their words ("a person ... {label}"), so every
  label's text embedding leans the same way. Per step, the mean of the label prototypes in use is
  subtracted and each prototype renormalised: a window is scored by what sets a label apart from the
  other labels. Needs no data. With fewer than ``MIN_LABELS`` labels there is no meaningful common
  part (two labels would become exact opposites), so they are left alone.
- ``prior`` (window side): window embeddings also share a direction, and the label nearest to it wins
  everywhere. The mean unit embedding of the training windows (``reference``, per step, stored in the
  checkpoint) is subtracted from every window's unit embedding before the cosine with the labels: a
  label's score becomes its score above what an average training window gives it, i.e. each label is
  normalised by its prior over typical input.

``prior+centre`` applies both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch only where these run: the constants are read without it (neuron_core.scoring)
    import torch

CALIBRATIONS: tuple[str, ...] = ("none", "centre", "prior", "prior+centre")
MIN_LABELS = 3


def needs_reference(method: str) -> bool:
    return method.startswith("prior")


def calibrate_prototypes(protos: torch.Tensor, method: str) -> torch.Tensor:
    """(C, 6, D) per-step class prototypes -> the same, centred over the C labels where ``method`` says."""
    if method not in CALIBRATIONS:
        raise ValueError(f"unknown calibration {method!r}; expected one of {', '.join(CALIBRATIONS)}")
    if "centre" not in method or protos.shape[0] < MIN_LABELS:
        return protos
    import torch.nn.functional as F

    return F.normalize(protos - protos.mean(dim=0, keepdim=True), dim=-1)


def calibrate_windows(emb: torch.Tensor, method: str, reference: torch.Tensor | None) -> torch.Tensor:
    """(N, 6, D) window embeddings -> unit embeddings, minus the reference mean where ``method`` says."""
    import torch.nn.functional as F

    unit = F.normalize(emb, dim=-1)
    if not needs_reference(method):
        return unit
    if reference is None:
        raise ValueError(f"calibration {method!r} needs the reference embeddings of training windows")
    return unit - reference.to(unit.dtype).to(unit.device)[None]
