"""Shift-GCN backbone, Neuron head and the logits: shapes, masks, person handling, gradients."""

from __future__ import annotations

import warnings

import pytest
import torch

from neuron_core.config import FULL_CHANNELS, ModelConfig
from neuron_core.errors import ModelError
from neuron_core.model import NeuronHead, NeuronModel, ShiftGCN, class_logits, fuse
from neuron_core.shift_gcn import input_features, temporal_blocks, temporal_shift
from tests.doubles import TINY_CONFIG

# Four backbone blocks (two of stride 1) and a 12-wide text space: the recogniser tests' tiny model,
# deeper, so the per-block tests see both strides.
TINY = {**TINY_CONFIG, "backbone_channels": (8, 8, 16, 16), "backbone_strides": (1, 2, 1, 2), "text_dim": 12}


def tiny_config(**overrides: object) -> ModelConfig:
    return ModelConfig(**{**TINY, **overrides})


def one_person(n: int = 1, frames: int = 16, seed: int = 0) -> torch.Tensor:
    """(n, 3, frames, 25, 2) windows with the second person slot empty (all zeros)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, 3, frames, 25, 2)
    x[..., 0] = torch.randn(n, 3, frames, 25, generator=g)
    return x


# ----- config ---------------------------------------------------------------------------------------


def test_config_round_trips_through_a_plain_dict() -> None:
    cfg = ModelConfig.preset("slim", text_dim=512)
    data = cfg.to_dict()
    assert isinstance(data["backbone_channels"], list)
    assert ModelConfig.from_dict(data) == cfg
    assert ModelConfig().backbone_channels == FULL_CHANNELS and ModelConfig().time_steps == 16


@pytest.mark.parametrize(
    "overrides",
    [
        {"feat_dim": 128},
        {"keep": (60, 40, 90)},
        {"keep": (60, 40)},
        {"prefixes": (10, 5, 16)},
        {"prefixes": (5, 10, 17)},
        {"window": 62},
        {"backbone_strides": (1, 2)},
        {"logit_scale": 0.0},
    ],
)
def test_inconsistent_configs_are_refused(overrides: dict) -> None:
    with pytest.raises(ModelError, match="invalid model config"):
        ModelConfig(**overrides)


def test_from_dict_refuses_unknown_fields() -> None:
    with pytest.raises(ModelError, match="unknown field 'chanels'"):
        ModelConfig.from_dict({"chanels": [1]})


def test_prefixes_scale_with_the_time_length() -> None:
    cfg = ModelConfig()
    assert cfg.prefixes_for(16) == (5, 10, 16)
    assert cfg.prefixes_for(8) == (2, 5, 8)
    assert cfg.prefixes_for(32) == (10, 20, 32)


# ----- backbone -------------------------------------------------------------------------------------


def test_input_features_stack_bones_and_motion_after_the_joints() -> None:
    """Bones are joint minus parent on the NTU-25 tree (the root's is zero); motion is the change since
    the previous frame, zero at the first frame and into or out of a frame where nobody is."""
    rows = torch.randn(2, 6, 25, 3)
    rows[1, 3] = 0.0  # the second row's person is missing at frame 3
    out = input_features(rows, "joints+bones+motion")
    assert out.shape == (2, 6, 25, 9)
    assert torch.equal(out[..., :3], rows)
    bones, motion = out[..., 3:6], out[..., 6:]
    assert torch.equal(bones[:, :, 0], torch.zeros(2, 6, 3))  # the spine base is the root
    assert torch.allclose(bones[:, :, 5], rows[:, :, 5] - rows[:, :, 4])  # left elbow - left shoulder
    assert torch.allclose(bones[:, :, 4], rows[:, :, 4] - rows[:, :, 20])  # left shoulder - spine top
    assert torch.equal(motion[:, 0], torch.zeros(2, 25, 3))
    assert torch.allclose(motion[0, 2:], rows[0, 2:] - rows[0, 1:-1])
    assert torch.equal(motion[1, 3:5], torch.zeros(2, 25, 3))
    assert torch.allclose(motion[1, 5], rows[1, 5] - rows[1, 4])
    assert torch.equal(input_features(rows, "joints"), rows)
    assert input_features(rows, "joints+motion").shape[-1] == 6


def test_the_backbone_reads_its_configured_input_features() -> None:
    config = ModelConfig(**{**TINY_CONFIG, "input_features": "joints+bones+motion"})
    assert config.feature_channels == 9
    net = ShiftGCN(config)
    assert net.data_bn.num_features == 25 * 9
    assert net.features(torch.randn(2, 3, 16, 25, 2)).shape == (2, 16, 4, 25)
    with pytest.raises(ModelError, match="input_features"):
        ModelConfig(**{**TINY_CONFIG, "input_features": "joints+speed"})


def test_full_backbone_output_shape_and_classifier() -> None:
    net = ShiftGCN(ModelConfig(), num_classes=7).eval()
    x = torch.randn(2, 3, 64, 25, 2)
    with torch.no_grad():
        assert net.features(x).shape == (2, 256, 16, 25)
        assert net(x).shape == (2, 7)


def test_backbone_without_classifier_refuses_forward() -> None:
    with pytest.raises(ModelError, match="no classifier"):
        ShiftGCN(tiny_config())(one_person())


@pytest.mark.parametrize("shape", [(1, 3, 16, 24, 2), (1, 2, 16, 25, 2), (3, 16, 25, 2), (1, 3, 18, 25, 2)])
def test_backbone_refuses_wrong_input_shapes(shape: tuple[int, ...]) -> None:
    with pytest.raises(ModelError):
        ShiftGCN(tiny_config()).features(torch.zeros(shape))


def test_temporal_shift_moves_channel_blocks_by_their_offsets() -> None:
    x = torch.arange(1, 7, dtype=torch.float32).view(1, 6, 1, 1).expand(1, 6, 1, 3).contiguous()
    blocks = temporal_blocks(3, 1)
    assert blocks == [(0, 1, -1), (1, 2, 0), (2, 3, 1)]
    y = temporal_shift(x, blocks)
    assert y[0, :, 0, 0].tolist() == [0, 1, 2, 3, 4, 5]  # reads t-1, zero before the start
    assert y[0, :, 0, 1].tolist() == [1, 2, 3, 4, 5, 6]
    assert y[0, :, 0, 2].tolist() == [2, 3, 4, 5, 6, 0]  # reads t+1, zero after the end
    assert temporal_shift(x, blocks, stride=2)[0, :, 0, 1].tolist() == [1, 3, 5]


def test_absent_person_is_skipped_with_identical_output() -> None:
    net = ShiftGCN(tiny_config()).eval()
    x = one_person(n=1)
    rows_seen: list[int] = []
    original = net.person_features

    def counting(rows: torch.Tensor) -> torch.Tensor:
        rows_seen.append(rows.shape[0])
        return original(rows)

    net.person_features = counting  # type: ignore[method-assign]
    with torch.no_grad():
        with_empty_slot = net.features(x)
        alone = net.features(x[..., :1].contiguous())
    assert rows_seen == [1, 1]  # the empty slot was never computed
    assert torch.equal(with_empty_slot, alone)


def test_features_average_present_persons_only() -> None:
    net = ShiftGCN(tiny_config()).eval()
    two = torch.randn(3, 3, 16, 25, 2)
    two[1, ..., 1] = 0  # sample 1 has one person, the others two
    with torch.no_grad():
        both = net.features(two)
        first = net.features(two[..., :1].contiguous())
        second = net.features(two[..., 1:].contiguous())
    torch.testing.assert_close(both[0], (first[0] + second[0]) / 2, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(both[1], first[1], rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        empty = net.features(torch.zeros(1, 3, 16, 25, 2))
    assert torch.isfinite(empty).all()


# ----- head -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("faithful", [False, True])
def test_head_steps_shapes_and_compression_masks(faithful: bool) -> None:
    cfg = ModelConfig(faithful_head=faithful)
    head = NeuronHead(cfg).eval()
    with torch.no_grad():
        trace = head.trace(torch.relu(torch.randn(2, 256, 16, 25)))
    assert trace.embeddings.shape == (2, 6, 384)
    torch.testing.assert_close(trace.embeddings.norm(dim=-1), torch.ones(2, 6))
    assert trace.prefixes == (5, 10, 16)
    for mask, attn, keep in zip(trace.spatial_keep, trace.spatial_attention, (60, 40, 20), strict=True):
        assert mask.shape == attn.shape == (2, 25, 80)
        assert (mask.sum(dim=2) == keep).all()  # exactly `keep` prototypes per joint
        assert (attn[~mask] == 0).all()  # dropped prototypes get no attention from that joint
        column = attn.sum(dim=1)  # per prototype, over joints
        kept_somewhere = mask.any(dim=1)
        if faithful:  # the masked softmax over joints, not renormalised: at most 1
            assert (column[kept_somewhere] <= 1 + 1e-6).all() and (column[kept_somewhere] > 0).all()
        else:  # legacy: renormalised over the joints that kept the prototype
            torch.testing.assert_close(column[kept_somewhere], torch.ones_like(column[kept_somewhere]))
        assert (column[~kept_somewhere] == 0).all()
    for attn, length in zip(trace.temporal_attention, (5, 10, 16), strict=True):
        assert attn.shape == (2, 80, length)
        torch.testing.assert_close(attn.sum(dim=2), torch.ones(2, 80))


def test_temporal_step_reads_only_its_prefix() -> None:
    head = NeuronHead(ModelConfig()).eval()
    feat = torch.randn(1, 256, 16, 25)
    later = feat.clone()
    later[:, :, 5:] += torch.randn(1, 256, 11, 25)  # change every frame after step 0's prefix of 5
    with torch.no_grad():
        a, b = head(feat), head(later)
    assert torch.equal(a[:, 3], b[:, 3])  # temporal_p1 unchanged
    assert not torch.allclose(a[:, 4], b[:, 4])  # temporal_p12 sees frames 5..9
    assert not torch.allclose(a[:, 5], b[:, 5])


def test_other_window_lengths_scale_the_prefixes() -> None:
    model = NeuronModel(tiny_config()).eval()
    with torch.no_grad():
        trace = model.trace(one_person(frames=32))
    assert trace.prefixes == (2, 4, 8)
    assert [a.shape[2] for a in trace.temporal_attention] == [2, 4, 8]


# ----- logits and training --------------------------------------------------------------------------


def test_class_logits_are_scaled_mean_cosines_and_fuse_sums_fine_steps() -> None:
    g = torch.Generator().manual_seed(1)
    emb = torch.nn.functional.normalize(torch.randn(3, 6, 12, generator=g), dim=-1)
    texts = torch.randn(4, 6, 5, 12, generator=g)
    logits = class_logits(emb, texts, 10.0)
    assert logits.shape == (3, 6, 4)
    unit = torch.nn.functional.normalize(texts, dim=-1)
    expected = 10.0 * torch.einsum("nsd,cskd->nsck", emb, unit).mean(dim=3)
    torch.testing.assert_close(logits, expected)
    torch.testing.assert_close(fuse(logits), logits[:, 2] + logits[:, 5])
    with pytest.raises(ModelError):
        class_logits(emb, torch.randn(4, 6, 5, 11))


def test_gradients_reach_head_and_scale_but_not_a_frozen_backbone() -> None:
    model = NeuronModel(tiny_config()).freeze_backbone()
    model.train()
    assert not model.backbone.training  # frozen BatchNorm statistics stay as pre-trained
    x = torch.randn(4, 3, 16, 25, 2)
    texts = torch.randn(5, 6, 3, 12)
    logits = model.logits(x, texts)
    loss = sum(torch.nn.functional.cross_entropy(logits[:, s], torch.tensor([0, 1, 2, 3])) for s in range(6))
    loss.backward()
    head = model.head
    for p in (head.spatial_prototypes, head.temporal_prototypes, model.log_logit_scale):
        assert p.grad is not None and p.grad.abs().sum() > 0
    for proj in (head.spatial_proj, head.temporal_proj):
        assert proj[0].weight.grad is not None and proj[0].weight.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in model.backbone.parameters())


def test_unfrozen_backbone_gets_gradients_and_fixed_scale_is_a_buffer() -> None:
    model = NeuronModel(tiny_config(learn_logit_scale=False))
    assert "log_logit_scale" not in dict(model.named_parameters())
    assert float(model.logit_scale) == pytest.approx(10.0)
    model.train()
    model.logits(torch.randn(2, 3, 16, 25, 2), torch.randn(3, 6, 2, 12))[:, 2].sum().backward()
    assert model.backbone.blocks[0].spatial.linear.weight.grad is not None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")
def test_model_runs_on_cuda_like_on_cpu() -> None:
    model = NeuronModel(ModelConfig.preset("slim")).eval()
    x = one_person(n=2, frames=64)
    with torch.no_grad():
        cpu = model(x)
        gpu = model.to("cuda")(x.to("cuda")).cpu()
    torch.testing.assert_close(gpu, cpu, rtol=1e-3, atol=1e-4)


@pytest.mark.slow
def test_single_person_model_exports_to_onnx(tmp_path: object) -> None:
    """Export stays possible (the live app may run the model in onnxruntime): same embeddings."""
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    model = NeuronModel(tiny_config()).eval()
    x = one_person(n=1)[..., :1].contiguous()
    path = f"{tmp_path}/model.onnx"
    with warnings.catch_warnings():  # tracer notes that shape checks become constants: expected
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), path, input_names=["x"], output_names=["emb"], dynamo=False)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"x": x.numpy()})
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(out), model(x), rtol=1e-4, atol=1e-5)
