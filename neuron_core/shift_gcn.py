"""Shift-GCN backbone (Cheng et al., CVPR 2020) in plain PyTorch.

Instead of graph convolutions with an adjacency matrix, Shift-GCN moves features between joints and
frames by fixed permutations ("shifts") and mixes channels with 1x1 (pointwise) linear maps, which is
cheap. Here every shift is an index gather, so the model runs anywhere PyTorch runs (no CUDA kernels),
and tensors are kept as (rows, T, V, C) so that the pointwise maps are plain matrix products.

- Spatial shift (non-local): channel c of joint v reads joint (v + c) mod V, so every joint sees a slice
  of every other joint; a learnable per (joint, channel) mask weights the shifted features; after the
  pointwise map the inverse shift puts the channels back.
- Temporal shift: channel c reads frame t + o(c), o in -r..r over equal channel blocks (zero outside
  the clip); a shift, a pointwise map, a second shift (which also applies the block's temporal stride).

Persons are folded into the batch: each present person is a row, normalised and processed alone
(BatchNorm over V*C, never over persons), and a sample's feature map is the mean over its present
persons. An all-zero person slot is absent and is never computed, which both saves time (one person in
front of a webcam) and makes the output independent of empty slots.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from neuron_core.config import ModelConfig
from neuron_core.errors import ModelError
from pose.layouts import joint_parents


def input_features(rows: torch.Tensor, kinds: str) -> torch.Tensor:
    """(R, T, V, C) joint rows -> (R, T, V, C * k): the joints, then their bones and motion as asked.

    Why: a window's positions say where the body is; its bones say how the limbs are turned whatever
    the body's place, and its motion says how each joint moves (legs stepping, hands waving) whatever
    the pose. A frame that is all zeros (nobody there) has no motion into or out of it.
    """
    parts = [rows]
    names = kinds.split("+")
    if "bones" in names:
        parts.append(rows - rows[:, :, joint_parents(rows.shape[2])])
    if "motion" in names:
        present = (rows.abs().amax(dim=(2, 3), keepdim=True) > 0).to(rows.dtype)
        step = (rows[:, 1:] - rows[:, :-1]) * present[:, 1:] * present[:, :-1]
        parts.append(torch.cat([torch.zeros_like(rows[:, :1]), step], dim=1))
    return torch.cat(parts, dim=-1) if len(parts) > 1 else rows


class LastDimsBatchNorm(nn.BatchNorm1d):
    """BatchNorm over the trailing axes of a tensor whose last axes multiply to ``num_features``.

    With V*C features on (R, T, V, C) it normalises every (joint, channel) pair separately (BN over V*C),
    with C features every channel; the statistics are taken over all leading axes (rows and frames).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        return super().forward(x.reshape(-1, self.num_features)).view(shape)


def _spatial_shift_index(num_joints: int, channels: int, sign: int) -> torch.Tensor:
    """Flat (V*C) gather index: output (v, c) reads input ((v + sign*c) mod V, c)."""
    v = torch.arange(num_joints).unsqueeze(1)
    c = torch.arange(channels).unsqueeze(0)
    return (((v + sign * c) % num_joints) * channels + c).reshape(-1)


def spatial_shift(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """(R, T, V, C) -> same shape, channels moved between joints by a flat (V*C) index.

    A gather along the last axis of a 2-D view with a broadcast index is several times faster on CPU
    than index_select or advanced indexing over that axis.
    """
    rows, frames, joints, channels = x.shape
    flat = x.reshape(rows * frames, joints * channels)
    return torch.gather(flat, 1, index.unsqueeze(0).expand(flat.shape[0], -1)).view(x.shape)


def temporal_blocks(channels: int, radius: int) -> list[tuple[int, int, int]]:
    """(first channel, end channel, frame offset) per block: offsets -r..r over near-equal channel blocks.

    Which channel gets which offset is arbitrary (the pointwise maps around the shift are learnt), and
    contiguous blocks make the shift a few slices instead of a gather.
    """
    groups = 2 * radius + 1
    bounds = [round(channels * g / groups) for g in range(groups + 1)]
    return [(bounds[g], bounds[g + 1], g - radius) for g in range(groups) if bounds[g + 1] > bounds[g]]


def temporal_shift(x: torch.Tensor, blocks: list[tuple[int, int, int]], stride: int = 1) -> torch.Tensor:
    """(R, T, V, C) -> (R, ceil(T/stride), V, C): out[t, v, c] = x[t*stride + offset(c), v, c], 0 outside."""
    radius = max(abs(offset) for _, _, offset in blocks)
    if radius == 0:
        return x[:, ::stride] if stride > 1 else x
    frames = x.shape[1]
    padded = F.pad(x, (0, 0, 0, 0, radius, radius))
    parts = [
        padded[:, radius + offset : radius + offset + frames : stride, :, start:end]
        for start, end, offset in blocks
    ]
    return torch.cat(parts, dim=3)


def _pointwise_bn(c_in: int, c_out: int) -> nn.Sequential:
    """A 1x1 map with BatchNorm: the residual path wherever the channel count or stride changes."""
    return nn.Sequential(nn.Linear(c_in, c_out), LastDimsBatchNorm(c_out))


class SpatialShift(nn.Module):
    """Shift in, masked pointwise map, shift out, BN over V*C, residual, ReLU."""

    def __init__(self, c_in: int, c_out: int, num_joints: int) -> None:
        super().__init__()
        self.register_buffer("index_in", _spatial_shift_index(num_joints, c_in, +1), persistent=False)
        self.register_buffer("index_out", _spatial_shift_index(num_joints, c_out, -1), persistent=False)
        self.mask = nn.Parameter(torch.zeros(num_joints, c_in))  # weight = 1 + tanh(mask), starts at 1
        self.linear = nn.Linear(c_in, c_out)
        self.bn = LastDimsBatchNorm(num_joints * c_out)
        self.residual = None if c_in == c_out else _pointwise_bn(c_in, c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = spatial_shift(x, self.index_in) * (1.0 + torch.tanh(self.mask))
        y = self.bn(spatial_shift(self.linear(y), self.index_out))
        return F.relu(y + (x if self.residual is None else self.residual(x)))


class TemporalShift(nn.Module):
    """BN, shift, pointwise map, ReLU, shift with stride, BN."""

    def __init__(self, channels: int, stride: int, radius: int) -> None:
        super().__init__()
        self.stride = stride
        self.blocks = temporal_blocks(channels, radius)
        self.bn_in = LastDimsBatchNorm(channels)
        self.linear = nn.Linear(channels, channels)
        self.bn_out = LastDimsBatchNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = temporal_shift(self.bn_in(x), self.blocks)
        y = F.relu(self.linear(y))
        return self.bn_out(temporal_shift(y, self.blocks, self.stride))


class ShiftBlock(nn.Module):
    """One Shift-GCN unit: spatial shift, temporal shift, block residual (strided pointwise map)."""

    def __init__(self, c_in: int, c_out: int, stride: int, num_joints: int, radius: int, residual: bool):
        super().__init__()
        self.stride = stride
        self.spatial = SpatialShift(c_in, c_out, num_joints)
        self.temporal = TemporalShift(c_out, stride, radius)
        self.residual: nn.Module | None = None
        self.identity = residual and c_in == c_out and stride == 1
        if residual and not self.identity:
            self.residual = _pointwise_bn(c_in, c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.temporal(self.spatial(x))
        if self.identity:
            y = y + x
        elif self.residual is not None:
            y = y + self.residual(x[:, :: self.stride])
        return F.relu(y)


def _init_weights(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)


def present_persons(x: torch.Tensor) -> torch.Tensor:
    """(N, C, T, V, M) -> (N, M) bool: a person slot is present unless it is all zeros.

    A sample with no present person keeps its first slot, so an all-zero window still has features.
    """
    present = x.detach().abs().amax(dim=(1, 2, 3)) > 0
    present[:, 0] |= ~present.any(dim=1)
    return present


class ShiftGCN(nn.Module):
    """Shift-GCN: (N, 3, T, 25, M) skeleton windows -> (N, feat_dim, T/stride, 25) feature maps.

    With ``num_classes`` > 0 it also has a linear classifier over pooled features, used to pre-train
    the backbone on the seen classes.
    """

    def __init__(self, config: ModelConfig, num_classes: int = 0) -> None:
        super().__init__()
        self.config = config
        self.num_classes = num_classes
        joints, radius = config.num_joints, config.temporal_shift
        self.data_bn = LastDimsBatchNorm(joints * config.feature_channels)
        blocks = []
        c_in = config.feature_channels
        layers = zip(config.backbone_channels, config.backbone_strides, strict=True)
        for i, (c_out, stride) in enumerate(layers):
            blocks.append(ShiftBlock(c_in, c_out, stride, joints, radius, residual=i > 0))
            c_in = c_out
        self.blocks = nn.ModuleList(blocks)
        self.dropout = nn.Dropout(config.dropout)
        self.fc = nn.Linear(config.feat_dim, num_classes) if num_classes > 0 else None
        _init_weights(self)

    def person_features(self, rows: torch.Tensor) -> torch.Tensor:
        """One row per person: (R, T, V, C) -> (R, T', V, feat_dim), each row computed independently
        of the others in eval mode."""
        y = self.data_bn(input_features(rows, self.config.input_features))
        for block in self.blocks:
            y = block(y)
        return y

    def _check_input(self, x: torch.Tensor) -> None:
        cfg = self.config
        if x.ndim != 5 or x.shape[1] != cfg.in_channels or x.shape[3] != cfg.num_joints:
            raise ModelError(
                f"expected input (N, {cfg.in_channels}, T, {cfg.num_joints}, M), got {tuple(x.shape)}"
            )
        if x.shape[2] % cfg.total_stride or x.shape[2] == 0:
            raise ModelError(f"input length {x.shape[2]} must be a positive multiple of {cfg.total_stride}")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, T, V, M) -> (N, feat_dim, T', V): the mean feature map of each sample's present persons."""
        self._check_input(x)
        n, _, _, _, m = x.shape
        rows = x.permute(0, 4, 2, 3, 1).reshape(n * m, x.shape[2], x.shape[3], x.shape[1])
        present = present_persons(x).reshape(-1)
        if bool(present.all()):
            f = self.person_features(rows)
            f = f.view(n, m, *f.shape[1:]).mean(dim=1) if m > 1 else f
        else:
            index = present.nonzero().squeeze(1)
            f_rows = self.person_features(rows.index_select(0, index))
            owner = torch.div(index, m, rounding_mode="floor")
            f = f_rows.new_zeros((n, *f_rows.shape[1:])).index_add_(0, owner, f_rows)
            counts = present.view(n, m).sum(dim=1).to(f.dtype)
            f = f / counts.view(n, 1, 1, 1)
        return f.permute(0, 3, 1, 2).contiguous()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, T, V, M) -> class logits (N, num_classes) for backbone pre-training."""
        if self.fc is None:
            raise ModelError("this ShiftGCN has no classifier (num_classes=0); use features()")
        pooled = self.features(x).mean(dim=(2, 3))
        return self.fc(self.dropout(pooled))
