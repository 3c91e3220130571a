"""The Neuron head as the authors' code computes it, with hand-set weights where it matters.

Two departures used to change the outputs: spatial attention renormalised over the kept joints, and
temporal-memory MLPs without their final ReLU. These tests set weights so that each makes a visible
difference and check the official behaviour; legacy checkpoints (no ``faithful_head`` field) keep the
old behaviour.
"""

from __future__ import annotations

import torch
from torch import nn

from neuron_core.config import LEGACY_FIELDS, ModelConfig
from neuron_core.neuron_head import NeuronHead
from tests.test_model import TINY

N, D, T, V = 1, 16, 4, 25


def _features(seed: int = 0) -> torch.Tensor:
    return torch.randn(N, D, T, V, generator=torch.Generator().manual_seed(seed))


def _head(faithful: bool) -> NeuronHead:
    torch.manual_seed(0)
    return NeuronHead(ModelConfig(**{**TINY, "faithful_head": faithful})).eval()


def test_spatial_attention_is_masked_softmax_without_renormalisation() -> None:
    head = _head(True)
    feat = _features()
    trace = head.trace(feat)
    joints = feat.mean(dim=2).transpose(1, 2)
    protos = head.spatial_prototypes.unsqueeze(0)
    sim = torch.einsum("nvd,nkd->nvk", joints, protos) * head.scale
    top = sim.topk(head.config.keep[0], dim=2).indices
    mask = torch.zeros_like(sim).scatter(2, top, 1.0)
    expected = torch.softmax(sim, dim=1) * mask
    assert torch.allclose(trace.spatial_attention[0], expected, atol=1e-6)
    sums = trace.spatial_attention[0].sum(dim=1)
    # Some prototype is kept by only part of the joints, so its attention sums to less than one.
    assert (sums < 0.99).any()


def test_legacy_head_renormalises_over_the_kept_joints() -> None:
    trace = _head(False).trace(_features())
    sums = trace.spatial_attention[0].sum(dim=1)
    assert torch.allclose(sums[sums > 0], torch.ones_like(sums[sums > 0]), atol=1e-5)


def _push_last_bias(mlp: nn.Sequential, value: float) -> None:
    last = [m for m in mlp if isinstance(m, nn.Linear)][-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.fill_(value)


def test_temporal_gates_end_in_relu_so_a_negative_update_is_cut_to_zero() -> None:
    """recall and update end at -5: officially gate = sigmoid(relu(-5)) = 0.5 and update = relu(-5) = 0,
    so the first temporal step halves the prototypes; without the ReLU it nearly erases them and adds
    a negative update."""
    outputs = {}
    for faithful in (True, False):
        head = _head(faithful)
        for mlp in (head.recall[0], head.update[0]):
            _push_last_bias(mlp, -5.0)
        feat = _features(1)
        protos = head.temporal_prototypes.unsqueeze(0)
        expected_official = 0.5 * protos
        z = head.temporal_proj(expected_official.mean(dim=1))
        outputs[faithful] = (head.trace(feat).embeddings[:, 3], torch.nn.functional.normalize(z, dim=-1))
    got, want = outputs[True]
    assert torch.allclose(got, want, atol=1e-5)
    legacy, _ = outputs[False]
    assert not torch.allclose(legacy, want, atol=1e-3)


def test_temporal_mlps_have_a_final_relu_only_in_the_faithful_head() -> None:
    assert isinstance(_head(True).recall[0][-1], nn.ReLU)
    assert isinstance(_head(True).memory[2][-1], nn.ReLU)
    assert not isinstance(_head(False).update[1][-1], nn.ReLU)


def test_stored_configs_without_the_field_load_as_legacy_and_new_ones_default_to_faithful() -> None:
    stored = ModelConfig(**TINY).to_dict()
    for key in LEGACY_FIELDS:
        stored.pop(key)
    assert ModelConfig.from_stored(stored).faithful_head is False
    assert ModelConfig.from_stored(stored).calibration == "none"
    assert ModelConfig(**TINY).faithful_head is True
    assert ModelConfig.from_stored(ModelConfig(**TINY).to_dict()).faithful_head is True
