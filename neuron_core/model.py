"""The whole zero-shot model: Shift-GCN backbone + Neuron head, and how its outputs meet text embeddings.

``NeuronModel(x)`` gives six unit-length embeddings per window (GRANULARITIES order); a class is scored
at each step by the mean cosine between that step's embedding and the class's texts of the same
granularity (``class_logits``), and the two fine steps are summed for the prediction (``fuse``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from neuron_core.calibration import calibrate_prototypes, calibrate_windows
from neuron_core.config import FULL_CHANNELS, SLIM_CHANNELS, ModelConfig
from neuron_core.errors import ModelError
from neuron_core.neuron_head import HeadTrace, NeuronHead
from neuron_core.scoring import FINE_STEPS, FUSIONS, MAX_LOGIT_SCALE, fusion_steps
from neuron_core.shift_gcn import ShiftGCN

__all__ = [
    "FULL_CHANNELS",
    "SLIM_CHANNELS",
    "HeadTrace",
    "ModelConfig",
    "NeuronHead",
    "NeuronModel",
    "ShiftGCN",
    "class_logits",
    "class_prototypes",
    "fuse",
    "fusion_steps",
    "FINE_STEPS",
    "FUSIONS",
    "MAX_LOGIT_SCALE",
]


class NeuronModel(nn.Module):
    """Backbone + head + (optionally learnt) logit scale: ``forward(x (N,3,T,25,M)) -> (N, 6, text_dim)``."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.backbone = ShiftGCN(config)
        self.head = NeuronHead(config)
        log_scale = torch.tensor(math.log(config.logit_scale))
        if config.learn_logit_scale:
            self.log_logit_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer("log_logit_scale", log_scale)
        self.backbone_frozen = False

    @property
    def logit_scale(self) -> torch.Tensor:
        """The temperature multiplying cosines (exp of a learnt log, capped so training stays stable)."""
        return self.log_logit_scale.exp().clamp(max=MAX_LOGIT_SCALE)

    def freeze_backbone(self, frozen: bool = True) -> NeuronModel:
        """Stop training the backbone: no gradients, and its BatchNorm statistics stay as pre-trained."""
        self.backbone_frozen = frozen
        self.backbone.requires_grad_(not frozen)
        self.backbone.train(self.training and not frozen)
        return self

    def train(self, mode: bool = True) -> NeuronModel:
        super().train(mode)
        if self.backbone_frozen:
            self.backbone.eval()
        return self

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if self.backbone_frozen:
            with torch.no_grad():
                return self.backbone.features(x)
        return self.backbone.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def trace(self, x: torch.Tensor) -> HeadTrace:
        return self.head.trace(self.features(x))

    def logits(self, x: torch.Tensor, class_emb: torch.Tensor) -> torch.Tensor:
        """(N, 6, C) scaled cosine logits of windows ``x`` against class texts (C, 6, K, D) or (C, 6, D).

        Uncalibrated: this is the training objective. Scoring (recognizer, evaluation) applies
        ``config.calibration`` through ``class_logits``.
        """
        return class_logits(self(x), class_emb, self.logit_scale)


def class_prototypes(class_emb: torch.Tensor) -> torch.Tensor:
    """(C, 6, K, D) text embeddings -> (C, 6, D) mean of the unit vectors.

    With a unit-length window embedding z, mean_k cos(z, e_k) = z . mean_k(e_k / |e_k|), so the K texts
    can be averaged once per class instead of once per window.
    """
    if class_emb.ndim != 4:
        raise ModelError(f"expected class embeddings (C, 6, K, D), got {tuple(class_emb.shape)}")
    return F.normalize(class_emb, dim=-1).mean(dim=2)


def class_logits(
    emb: torch.Tensor,
    class_emb: torch.Tensor,
    scale: float | torch.Tensor = 1.0,
    calibration: str = "none",
    reference: torch.Tensor | None = None,
) -> torch.Tensor:
    """Scale x mean over K texts of cos(z_step, e_class,step): (N, 6, D) x (C, 6, K, D) -> (N, 6, C).

    ``class_emb`` may also be already averaged by ``class_prototypes`` (C, 6, D). ``calibration``
    (``neuron_core.calibration``) adjusts the label prototypes over the C labels and/or the windows by
    ``reference`` (6, D), the mean unit embedding of training windows; the checkpoint says which.
    """
    protos = class_prototypes(class_emb) if class_emb.ndim == 4 else class_emb
    if emb.ndim != 3 or protos.ndim != 3 or emb.shape[1:] != protos.shape[1:]:
        raise ModelError(
            f"window embeddings {tuple(emb.shape)} and class embeddings {tuple(class_emb.shape)} do not match"
        )
    protos = calibrate_prototypes(protos, calibration)
    return torch.einsum("nsd,csd->nsc", calibrate_windows(emb, calibration, reference), protos) * scale


def fuse(logits: torch.Tensor, rule: str = "fine") -> torch.Tensor:
    """(N, 6, C) -> (N, C): the sum of the two fine steps' logits (spatial_fine + temporal_p123) with
    rule "fine" (the paper's headline), or of all six steps with "all" (each step is trained to match
    its own texts, so every step carries evidence); the checkpoint's ``config.fusion`` says which."""
    return logits[:, list(fusion_steps(rule))].sum(dim=1)
