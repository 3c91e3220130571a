"""The Neuron head: spatial and temporal micro-prototypes that evolve over three steps.

Given the backbone's feature map F (N, D, T', V):
- joint features X = mean of F over time (N, V, D); frame features Y = mean over joints (N, T', D).
- Spatial step i: similarity S of every joint to every prototype; per joint only the ``keep[i]`` most
  similar prototypes stay (60, 40, 20: the representation is compressed step by step); each prototype
  attends over joints (softmax over joints, restricted to the joints that kept it) and becomes an MLP of
  the attended joint features. The new prototypes are the ones compared at the next step.
- Temporal step i: each prototype attends over the first ``prefix[i]`` time steps only (5, 10, 16: the
  first phase of the action, the first two, all of it) and the context updates the prototypes through
  gates, like a GRU: P <- sigmoid(recall(c)) * P + sigmoid(memory(c)) * update(c).
- Each step's embedding is the mean over prototypes, projected to the text dimension (+ReLU, one
  projection for the spatial steps and one for the temporal ones), L2-normalised.
Two forms, chosen by ``ModelConfig.faithful_head``:
- faithful (the default, as the authors' code computes it): the softmax over joints is multiplied by the
  keep mask and NOT renormalised, so a prototype kept only by a few weakly attending joints stays small;
  the recall, memory and update MLPs end in a ReLU, so both gates lie in [0.5, 1) and the update is
  non-negative. (Dropped prototypes get exactly zero weight instead of the paper's x1e-12: the same up
  to that factor.)
- legacy (checkpoints written before the faithful head, which lack the field): attention renormalised
  over the kept joints and no final ReLU in the temporal MLPs. Kept so those checkpoints score as before.
Remaining deliberate departures from the authors' code: a learnt logit scale instead of the fixed 0.1
factor, and an integer (gather) temporal shift in the backbone instead of a learnt fractional one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from neuron_core.config import NUM_STEPS, ModelConfig
from neuron_core.errors import ModelError


@dataclass
class HeadTrace:
    """What the head computed at each step: for tests, visualisation and debugging."""

    embeddings: torch.Tensor  # (N, 6, text_dim), GRANULARITIES order
    spatial_keep: list[torch.Tensor]  # per step (N, V, n_spatial) bool, exactly keep[i] True per joint
    spatial_attention: list[torch.Tensor]  # per step (N, V, n_spatial); sums to 1 over V in legacy form
    temporal_attention: list[torch.Tensor]  # per step (N, n_temporal, prefix[i]), sums to 1 over time
    prefixes: tuple[int, ...]


def _mlp(dim: int, final_relu: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim)]
    if final_relu:
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class NeuronHead(nn.Module):
    """(N, feat_dim, T', V) feature maps -> (N, 6, text_dim) unit-length step embeddings."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        d = config.feat_dim
        self.spatial_prototypes = nn.Parameter(torch.randn(config.n_spatial, d) * d**-0.5)
        self.temporal_prototypes = nn.Parameter(torch.randn(config.n_temporal, d) * d**-0.5)
        self.spatial_mlps = nn.ModuleList(_mlp(d, final_relu=True) for _ in range(NUM_STEPS))
        gate_relu = config.faithful_head
        self.recall = nn.ModuleList(_mlp(d, final_relu=gate_relu) for _ in range(NUM_STEPS))
        self.memory = nn.ModuleList(_mlp(d, final_relu=gate_relu) for _ in range(NUM_STEPS))
        self.update = nn.ModuleList(_mlp(d, final_relu=gate_relu) for _ in range(NUM_STEPS))
        self.spatial_proj = nn.Sequential(nn.Linear(d, config.text_dim), nn.ReLU())
        self.temporal_proj = nn.Sequential(nn.Linear(d, config.text_dim), nn.ReLU())
        self.scale = d**-0.5

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        return self.trace(feat).embeddings

    def trace(self, feat: torch.Tensor) -> HeadTrace:
        """Run all steps and keep the masks and attention maps (forward() returns only the embeddings)."""
        cfg = self.config
        if feat.ndim != 4 or feat.shape[1] != cfg.feat_dim:
            raise ModelError(f"expected features (N, {cfg.feat_dim}, T, V), got {tuple(feat.shape)}")
        n = feat.shape[0]
        joints = feat.mean(dim=2).transpose(1, 2)  # (N, V, D)
        frames = feat.mean(dim=3).transpose(1, 2)  # (N, T', D)
        prefixes = cfg.prefixes_for(frames.shape[1])

        outputs: list[torch.Tensor] = []
        keeps, s_attn, t_attn = [], [], []
        protos = self.spatial_prototypes.unsqueeze(0).expand(n, -1, -1)
        for step, keep in enumerate(cfg.keep):
            sim = torch.einsum("nvd,nkd->nvk", joints, protos) * self.scale
            top = sim.topk(keep, dim=2).indices  # exactly `keep` per joint, even with ties
            mask = torch.zeros_like(sim).scatter(2, top, torch.ones_like(top, dtype=sim.dtype))
            attn = torch.softmax(sim, dim=1) * mask
            if not cfg.faithful_head:
                attn = attn / (attn.sum(dim=1, keepdim=True) + 1e-12)
            protos = self.spatial_mlps[step](torch.einsum("nvk,nvd->nkd", attn, joints))
            outputs.append(self.spatial_proj(protos.mean(dim=1)))
            keeps.append(mask.bool())
            s_attn.append(attn)

        protos = self.temporal_prototypes.unsqueeze(0).expand(n, -1, -1)
        for step, length in enumerate(prefixes):
            seen = frames[:, :length]
            attn = torch.softmax(torch.einsum("nkd,ntd->nkt", protos, seen) * self.scale, dim=2)
            context = torch.einsum("nkt,ntd->nkd", attn, seen)
            protos = torch.sigmoid(self.recall[step](context)) * protos + torch.sigmoid(
                self.memory[step](context)
            ) * self.update[step](context)
            outputs.append(self.temporal_proj(protos.mean(dim=1)))
            t_attn.append(attn)

        embeddings = F.normalize(torch.stack(outputs, dim=1), dim=-1)
        return HeadTrace(embeddings, keeps, s_attn, t_attn, prefixes)
