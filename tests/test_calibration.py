"""Centring the label prototypes against hubness: the label nearest the common direction stops winning."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from neuron_core.calibration import MIN_LABELS, calibrate_prototypes
from neuron_core.model import class_logits


def test_centring_removes_the_direction_every_label_shares() -> None:
    """Labels = their own direction + the same shared one (what common prompt words add): centred,
    the shared direction is gone, each label keeps only what sets it apart, and unit length."""
    d, c = 32, 5
    eye = torch.eye(d)
    protos = F.normalize(eye[:c] + 2.0 * eye[-1], dim=-1)[:, None, :].expand(c, 6, d).clone()
    out = calibrate_prototypes(protos, "centre")
    assert torch.allclose(out.norm(dim=-1), torch.ones(out.shape[:2]), atol=1e-5)
    assert (out @ eye[-1]).abs().max() < 1e-5
    # A window along the shared direction no longer prefers any label.
    window = eye[-1][None, None, :].expand(1, 6, d)
    assert class_logits(window, out).abs().max() < 1e-5
    assert class_logits(window, protos).min() > 0.5


def test_too_few_labels_are_left_alone_and_unknown_methods_refused() -> None:
    protos = F.normalize(torch.randn(MIN_LABELS - 1, 6, 8), dim=-1)
    assert torch.equal(calibrate_prototypes(protos, "centre"), protos)
    with pytest.raises(ValueError, match="unknown calibration"):
        calibrate_prototypes(protos, "zscore")


def test_prior_calibration_breaks_a_hub_that_centring_cannot() -> None:
    """Windows share a strong common direction; label 0 is mostly that direction, so it wins every
    window uncalibrated. Subtracting the mean training-window embedding (the prior) restores each
    window's own label."""
    d, c = 32, 5
    eye = torch.eye(d)
    weights = torch.tensor([0.2, 1.0, 1.0, 1.0, 1.0])
    protos = F.normalize(weights[:, None] * eye[:c] + eye[-1], dim=-1)[:, None, :].expand(c, 6, d).clone()
    windows = F.normalize(eye[:c] + 3.0 * eye[-1], dim=-1)[:, None, :].expand(c, 6, d).clone()
    reference = F.normalize(windows, dim=-1).mean(dim=0)
    assert (class_logits(windows, protos).sum(1).argmax(1) == 0).all()
    assert (class_logits(windows, protos, calibration="centre").sum(1).argmax(1) == 0).all()
    calibrated = class_logits(windows, protos, calibration="prior", reference=reference).sum(1).argmax(1)
    assert torch.equal(calibrated, torch.arange(c))
    both = class_logits(windows, protos, calibration="prior+centre", reference=reference).sum(1).argmax(1)
    assert torch.equal(both, torch.arange(c))
    with pytest.raises(ValueError, match="needs the reference"):
        class_logits(windows, protos, calibration="prior")


def test_fusion_rules_sum_the_fine_steps_or_all_six() -> None:
    from neuron_core.errors import ModelError
    from neuron_core.model import fuse

    logits = torch.arange(2 * 6 * 3, dtype=torch.float32).reshape(2, 6, 3)
    torch.testing.assert_close(fuse(logits), logits[:, 2] + logits[:, 5])
    torch.testing.assert_close(fuse(logits, "all"), logits.sum(dim=1))
    with pytest.raises(ModelError, match="unknown fusion"):
        fuse(logits, "max")
