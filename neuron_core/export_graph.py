"""The skeleton side of a trained :class:`~neuron_core.model.NeuronModel` written straight as an ONNX graph.

``torch.onnx.export`` of the training modules gives a graph that computes what training needs: batch
norms from running statistics on every call, ``1 + tanh(mask)`` on every call, a gather index expanded
to the batch on every call (GatherElements + Expand), a temporal shift as pad + slices + concat. On a
CPU each of those is a pass over a feature map of ~50-100k floats, and the matrix products that do the
work are under half the time. This module builds the same function, for inference only, from the
model's weights, so that every constant is computed once here:

- Spatial shift: one ``Gather`` along the flattened joint x channel axis with a constant index (no
  per-call expansion); the mask ``1 + tanh(mask)`` is a constant; the linear bias and the eval-mode
  batch norm after the shift (an affine map per joint and channel) become one multiply and one add.
- Temporal shift: one ``Gather`` along the flattened frame x joint x channel axis of each row, with the
  frame stride in the index and out-of-clip frames read from a pad frame appended to the row.
- Batch norms folded into the 1x1 maps where that is exact: the temporal unit's input norm goes into
  its map (the shift pads with zeros, so the pad frame holds, per channel, the value that the norm
  maps to zero), its output norm's scale goes through the ReLU and the shift into the same map when
  non-negative (a sign multiply remains otherwise), and the residual maps' norms into their weights.
- Persons: the feature maps are reduced to the head's inputs (means over frames and over joints) per
  row first, and averaged over the present persons after, which is the same linear map, on less data.
- Head: prototype constants pre-scaled, similarities computed prototype-major so that no transpose
  runs per step, and the 1x1 maps as 2-D ``Gemm`` so that ONNX Runtime fuses their bias and ReLU.

The numbers are those of ``NeuronModel.forward`` in eval mode up to float32 rounding (folding changes
the order of float operations); tests/test_export_graph.py holds it to that on real windows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from pose.layouts import joint_parents

if TYPE_CHECKING:
    import onnx
    from torch import nn

    from neuron_core.model import NeuronModel
    from neuron_core.neuron_head import NeuronHead
    from neuron_core.shift_gcn import ShiftBlock, ShiftGCN


def _array(tensor: Any) -> np.ndarray:
    """A torch tensor as float64 numpy: constants are folded in double precision, rounded once."""
    return tensor.detach().cpu().double().numpy()


def _bn_affine(bn: nn.BatchNorm1d) -> tuple[np.ndarray, np.ndarray]:
    """Eval-mode batch norm as ``x * scale + shift`` (per feature)."""
    scale = _array(bn.weight) / np.sqrt(_array(bn.running_var) + bn.eps)
    return scale, _array(bn.bias) - _array(bn.running_mean) * scale


def _linear_bn(module: nn.Sequential) -> tuple[np.ndarray, np.ndarray]:
    """A Linear followed by a per-channel BatchNorm as one (out, in) weight and bias."""
    linear, bn = module[0], module[1]
    scale, shift = _bn_affine(bn)
    return _array(linear.weight) * scale[:, None], _array(linear.bias) * scale + shift


@dataclass
class _Graph:
    """Nodes and constants of the graph under construction; each op returns its output's name."""

    nodes: list[onnx.NodeProto] = field(default_factory=list)
    constants: list[onnx.TensorProto] = field(default_factory=list)
    count: int = 0

    def name(self, hint: str) -> str:
        self.count += 1
        return f"{hint}_{self.count}"

    def const(self, value: np.ndarray | list[int] | float, hint: str = "c", dtype: Any = np.float32) -> str:
        from onnx import numpy_helper

        name = self.name(hint)
        self.constants.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def ints(self, values: list[int], hint: str = "shape") -> str:
        return self.const(values, hint, np.int64)

    def op(self, op_type: str, *inputs: str, outputs: int = 1, **attrs: Any) -> Any:
        from onnx import helper

        names = [self.name(op_type.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), names, **attrs))
        return names[0] if outputs == 1 else names

    def reshape(self, x: str, shape: list[int]) -> str:
        return self.op("Reshape", x, self.ints(shape))

    def gemm(self, a: np.ndarray | str, b: np.ndarray | str, bias: np.ndarray, relu: bool = False) -> str:
        """a @ b + bias (either factor a constant), then ReLU: ONNX Runtime fuses them into one kernel."""
        a, b = (self.const(f, "w") if isinstance(f, np.ndarray) else f for f in (a, b))
        y = self.op("Gemm", a, b, self.const(bias, "b"))
        return self.op("Relu", y) if relu else y


class _Backbone:
    """Writes the Shift-GCN part with feature maps laid out channel-major, (C, V, R, T) for C channels,
    V joints, R rows (persons) and T frames, so that both shifts copy runs of frames, never single
    floats: the spatial shift gathers whole (channel, joint) rows, the temporal shift slices the frame
    axis, and every 1x1 map is one matrix product ``weight (C_out, C_in) @ x (C_in, V*R*T)``."""

    def __init__(self, g: _Graph, backbone: ShiftGCN, rows: str) -> None:
        self.g, self.net = g, backbone
        self.joints = backbone.config.num_joints
        radius = backbone.config.temporal_shift
        # [1, V*R, radius]: the shape of a pad block (persons are folded into rows, known per call).
        self.pad_shape = g.op(
            "Concat", g.ints([1]), g.op("Mul", rows, g.ints([self.joints])), g.ints([radius]), axis=0
        )

    def per_row(self, values: np.ndarray) -> str:
        """A constant per (joint, channel) in torch's (V, C) order, as a (C*V, 1) column."""
        return self.g.const(values.reshape(self.joints, -1).T.reshape(-1, 1))

    def shift_index(self, index: np.ndarray, c_in: int, c_out: int) -> str:
        """A torch flat (V*C) gather index (output (v, c) reads input index[v*C_out + c]) for (C*V) rows."""
        v = self.joints
        source = np.asarray(index).reshape(v, c_out)
        rows = (source % c_in) * v + source // c_in  # (channel, joint) of each source, as a row number
        return self.g.ints(rows.T.reshape(-1).tolist(), "index")

    def tshift(
        self, x: str, frames: int, channels: int, blocks: list, stride: int, pad: np.ndarray | None
    ) -> str:
        """``shift_gcn.temporal_shift`` on (C, V*R, T): out-of-clip frames read ``pad`` (per channel;
        None: zeros). Returns (C, V*R, ceil(T/stride))."""
        g = self.g
        radius = max(abs(offset) for _, _, offset in blocks)
        x = g.reshape(x, [channels, -1, frames])
        if radius == 0:
            return (
                x
                if stride == 1
                else g.op("Slice", x, g.ints([0]), g.ints([frames]), g.ints([2]), g.ints([stride]))
            )
        if pad is None:
            padded = g.op("Pad", x, g.ints([0, 0, radius, 0, 0, radius]))
        else:
            block = g.op("Expand", g.const(pad.reshape(-1, 1, 1), "pad"), self.pad_shape)
            padded = g.op("Concat", block, x, block, axis=2)
        parts = [
            g.op(
                "Slice",
                padded,
                g.ints([start, radius + offset]),
                g.ints([end, radius + offset + frames]),
                g.ints([0, 2]),
                g.ints([1, stride]),
            )
            for start, end, offset in blocks
        ]
        return g.op("Concat", *parts, axis=0)

    def spatial(self, x: str, c_in: int, unit: Any) -> str:
        """``SpatialShift``: gather in, mask, 1x1 map, gather out, batch norm, residual, ReLU."""
        g, v = self.g, self.joints
        c_out = unit.linear.out_features
        mask = (1.0 + unit.mask.detach().float().cpu().tanh()).numpy()  # as torch rounds it
        y = g.op("Gather", g.reshape(x, [c_in * v, -1]), self.shift_index(unit.index_in, c_in, c_in), axis=0)
        y = g.op("Mul", y, self.per_row(mask))
        y = g.op("MatMul", g.const(_array(unit.linear.weight), "w"), g.reshape(y, [c_in, -1]))
        y = g.op(
            "Gather", g.reshape(y, [c_out * v, -1]), self.shift_index(unit.index_out, c_out, c_out), axis=0
        )
        scale, shift = _bn_affine(unit.bn)  # per (joint, channel), after the out-shift
        bias = scale * np.tile(_array(unit.linear.bias), v) + shift
        y = g.op("Mul", y, self.per_row(scale))
        if unit.residual is None:
            residual = x
        else:
            weight, res_bias = _linear_bn(unit.residual)
            residual = g.gemm(weight, g.reshape(x, [c_in, -1]), res_bias[:, None])
        return g.op("Relu", g.op("Sum", y, self.per_row(bias), g.reshape(residual, [c_out * v, -1])))

    def block(self, x: str, frames: int, c_in: int, block: ShiftBlock) -> tuple[str, int]:
        """One ``ShiftBlock`` on (C_in*V, R*T); returns its output (C_out*V, R*T') and T'."""
        g, v = self.g, self.joints
        unit, c = block.temporal, block.temporal.linear.out_features
        y = self.spatial(x, c_in, block.spatial)
        a_in, b_in = _bn_affine(unit.bn_in)
        a_out, b_out = _bn_affine(unit.bn_out)
        weight, bias = _array(unit.linear.weight), _array(unit.linear.bias)  # (out, in)
        if np.all(a_in != 0):
            # Shift, then the map with the norm folded in: out-of-clip frames must be zero after the
            # norm, so the pad frames hold -shift/scale, where the norm is zero.
            pad = -b_in / a_in
            bias = bias + weight @ b_in
            weight = weight * a_in
        else:  # a channel the norm zeroes: nothing to pad with; the norm runs as an affine map
            y = g.op("Add", g.op("Mul", y, self.per_row(np.tile(a_in, v))), self.per_row(np.tile(b_in, v)))
            pad = None
        # bn_out's scale passes through the shift (zero pads stay zero) and, where >= 0, the ReLU.
        magnitude, negative = np.abs(a_out), a_out < 0
        y = self.tshift(y, frames, c, unit.blocks, 1, pad)
        y = g.gemm(weight * magnitude[:, None], g.reshape(y, [c, -1]), (bias * magnitude)[:, None], relu=True)
        y = g.reshape(self.tshift(y, frames, c, unit.blocks, block.stride, None), [c * v, -1])
        if np.any(negative):
            y = g.op("Mul", y, self.per_row(np.tile(np.where(negative, -1.0, 1.0), v)))
        out_frames = -(-frames // block.stride)
        if block.identity:
            terms = [x, self.per_row(np.tile(b_out, v))]
        elif block.residual is not None:
            sub = g.reshape(x, [c_in, -1, frames])
            if block.stride > 1:
                sub = g.op("Slice", sub, g.ints([0]), g.ints([frames]), g.ints([2]), g.ints([block.stride]))
            res_weight, res_bias = _linear_bn(block.residual)
            res = g.gemm(res_weight, g.reshape(sub, [c_in, -1]), (res_bias + b_out)[:, None])
            terms = [g.reshape(res, [c * v, -1])]
        else:
            terms = [self.per_row(np.tile(b_out, v))]
        return g.op("Relu", g.op("Sum", y, *terms)), out_frames

    def input_features(self, x: str) -> str:
        """``shift_gcn.input_features`` on joints laid out (C, V, R, T): bones and motion are stacked
        after the joints on the channel axis, in the order torch stacks them."""
        from onnx import TensorProto

        g, kinds = self.g, self.net.config.input_features.split("+")
        parts = [x]
        if "bones" in kinds:
            parents = g.ints(joint_parents(self.joints), "parents")
            parts.append(g.op("Sub", x, g.op("Gather", x, parents, axis=1)))
        if "motion" in kinds:

            def frames(start: int, end: int, y: str = x) -> str:
                return g.op("Slice", y, g.ints([start]), g.ints([end]), g.ints([3]))

            peak = g.op("ReduceMax", g.op("Abs", x), g.ints([0, 1]), keepdims=1)
            present = g.op("Cast", g.op("Greater", peak, g.const(0.0)), to=TensorProto.FLOAT)
            both = g.op("Mul", frames(1, 2**62, present), frames(0, -1, present))
            step = g.op("Mul", g.op("Sub", frames(1, 2**62), frames(0, -1)), both)
            parts.append(g.op("Concat", g.op("Mul", frames(0, 1), g.const(0.0)), step, axis=3))
        return g.op("Concat", *parts, axis=0) if len(parts) > 1 else x

    def features(self, x: str) -> tuple[str, int]:
        """Windows (N, C, T, V, M) -> feature maps (feat_dim, V, R, T') and T'."""
        g, cfg = self.g, self.net.config
        scale, shift = _bn_affine(self.net.data_bn)
        joints = [cfg.in_channels, cfg.num_joints, -1, cfg.window]
        x = g.reshape(g.op("Transpose", x, perm=[1, 3, 0, 4, 2]), joints)
        x = g.reshape(self.input_features(x), [cfg.feature_channels * cfg.num_joints, -1])
        x = g.op("Add", g.op("Mul", x, self.per_row(scale)), self.per_row(shift))
        frames, c_in = cfg.window, cfg.feature_channels
        for block in self.net.blocks:
            x, frames = self.block(x, frames, c_in, block)
            c_in = block.temporal.linear.out_features
        return g.reshape(x, [c_in, cfg.num_joints, -1, frames]), frames


def _layers(seq: nn.Sequential) -> list[tuple[np.ndarray, np.ndarray, bool]]:
    """An nn.Sequential of Linear and ReLU as (weight (in, out), bias, ReLU after) per Linear."""
    from torch import nn

    layers = list(seq)
    return [
        (
            _array(layer.weight).T,
            _array(layer.bias),
            i + 1 < len(layers) and isinstance(layers[i + 1], nn.ReLU),
        )
        for i, layer in enumerate(layers)
        if isinstance(layer, nn.Linear)
    ]


def _mlp_after(g: _Graph, pre: str, layers: list[tuple[np.ndarray, np.ndarray, bool]], dim: int) -> str:
    """An MLP whose first map was applied before the attention (``pre``: its output, no bias yet),
    then its remaining layers, on rows of ``dim``."""
    _, bias, relu = layers[0]
    x = g.op("Add", g.reshape(pre, [-1, dim]), g.const(bias, "b"))
    x = g.op("Relu", x) if relu else x
    for weight, bias, relu in layers[1:]:
        x = g.gemm(x, weight, bias, relu=relu)
    return x


def _head(g: _Graph, head: NeuronHead, joints: str, frames: str, time_steps: int) -> str:
    """``NeuronHead.trace``'s embeddings from joints (N, V, D) and frames (N, T', D): (N, 6, text_dim).

    Every step's MLP starts with a 1x1 map of an attention-weighted sum of joints (frames); the map
    is applied to the V joints (T' frames) before the sum instead of to the K prototypes after it:
    the same linear function (attention @ features @ W = attention @ (features @ W)) on 25 (<= 16)
    rows instead of 80, which removes a third of the head's multiply-adds.
    """
    cfg = head.config
    d, k, v, steps = cfg.feat_dim, cfg.n_spatial, cfg.num_joints, len(cfg.keep)
    # Similarities are computed prototype-major (N, K, V) against pre-scaled, pre-transposed features.
    joints_t = g.op("Mul", g.op("Transpose", joints, perm=[0, 2, 1]), g.const(head.scale))  # (N, D, V)
    mlps = [_layers(mlp) for mlp in head.spatial_mlps]
    firsts = np.concatenate([layers[0][0] for layers in mlps], axis=1)  # every step's first map, at once
    mapped = g.op("MatMul", g.reshape(joints, [-1, d]), g.const(firsts, "w"))
    mapped = [
        g.reshape(part, [-1, v, d])
        for part in g.op("Split", mapped, axis=1, num_outputs=steps, outputs=steps)
    ]
    outputs: list[str] = []
    protos: str = g.const(_array(head.spatial_prototypes), "protos")
    for step, keep in enumerate(cfg.keep):
        sim = g.op("MatMul", protos, joints_t)  # (N, K, V)
        top = g.op("TopK", sim, g.ints([keep]), axis=1, outputs=2)[1]
        ones = g.op("ConstantOfShape", g.op("Shape", top), value=_tensor(1.0))
        zeros = g.op("ConstantOfShape", g.op("Shape", sim), value=_tensor(0.0))
        attn = g.op("Mul", g.op("Softmax", sim, axis=2), g.op("ScatterElements", zeros, top, ones, axis=1))
        if not cfg.faithful_head:
            total = g.op("ReduceSum", attn, g.ints([2]), keepdims=1)
            attn = g.op("Div", attn, g.op("Add", total, g.const(1e-12)))
        protos = g.reshape(_mlp_after(g, g.op("MatMul", attn, mapped[step]), mlps[step], d), [-1, k, d])
        outputs.append(g.op("ReduceMean", protos, g.ints([1]), keepdims=1))

    k = cfg.n_temporal
    frames_t = g.op("Mul", g.op("Transpose", frames, perm=[0, 2, 1]), g.const(head.scale))  # (N, D, T')
    protos = g.const(_array(head.temporal_prototypes), "protos")
    for step, length in enumerate(cfg.prefixes_for(time_steps)):
        gates = [_layers(mlps[step]) for mlps in (head.recall, head.memory, head.update)]
        start, end = g.ints([0]), g.ints([length])
        seen = g.reshape(g.op("Slice", frames, start, end, g.ints([1])), [-1, d])
        firsts = np.concatenate([layers[0][0] for layers in gates], axis=1)
        mapped = g.reshape(g.op("MatMul", seen, g.const(firsts, "w")), [-1, length, 3 * d])
        attn = g.op(
            "Softmax", g.op("MatMul", protos, g.op("Slice", frames_t, start, end, g.ints([2]))), axis=2
        )
        pre = g.op(
            "Split", g.reshape(g.op("MatMul", attn, mapped), [-1, 3 * d]), axis=1, num_outputs=3, outputs=3
        )
        recall, memory, update = (
            g.reshape(_mlp_after(g, p, layers, d), [-1, k, d]) for p, layers in zip(pre, gates, strict=True)
        )
        kept = g.op("Mul", g.op("Sigmoid", recall), protos)
        protos = g.op("Add", kept, g.op("Mul", g.op("Sigmoid", memory), update))
        outputs.append(g.op("ReduceMean", protos, g.ints([1]), keepdims=1))

    projected = [
        g.reshape(_mlp(g, g.reshape(g.op("Concat", *part, axis=1), [-1, d]), proj), [-1, steps, cfg.text_dim])
        for part, proj in ((outputs[:steps], head.spatial_proj), (outputs[steps:], head.temporal_proj))
    ]
    emb = g.op("Concat", *projected, axis=1)
    norm = g.op("Max", g.op("ReduceL2", emb, g.ints([2]), keepdims=1), g.const(1e-12))  # F.normalize
    return g.op("Div", emb, norm)


def _mlp(g: _Graph, x: str, seq: nn.Sequential) -> str:
    """An nn.Sequential of Linear and ReLU on 2-D rows, each Linear (+ its ReLU) one Gemm."""
    for weight, bias, relu in _layers(seq):
        x = g.gemm(x, weight, bias, relu=relu)
    return x


def _tensor(value: float) -> onnx.TensorProto:
    from onnx import helper

    return helper.make_tensor("value", 1, [1], [value])  # 1: FLOAT


def build_graph(model: NeuronModel, input_name: str, output_name: str, opset: int) -> onnx.ModelProto:
    """The ONNX graph of ``model`` (eval mode): windows (N, C, T, V, M) -> embeddings (N, 6, text_dim),
    with dynamic batch and person axes; absent (all-zero) persons are left out of each sample's mean
    as ``shift_gcn.present_persons`` says (a sample with none uses its first slot)."""
    from onnx import TensorProto, helper

    cfg = model.config
    c, t, v, d = cfg.in_channels, cfg.window, cfg.num_joints, cfg.feat_dim
    g = _Graph()
    x = input_name
    batch, persons = g.op("Shape", x, start=0, end=1), g.op("Shape", x, start=4, end=5)
    rows = g.op("Mul", batch, persons)
    # Person weights (N, 1, M): 1/count over present slots; the first slot where none is present.
    peak = g.op("ReduceMax", g.op("Abs", x), g.ints([1, 2, 3]), keepdims=0)
    present = g.op("Cast", g.op("Greater", peak, g.const(0.0)), to=TensorProto.FLOAT)
    none = g.op("Sub", g.const(1.0), g.op("ReduceMax", present, g.ints([1]), keepdims=1))
    first = g.op("Max", g.op("Slice", present, g.ints([0]), g.ints([1]), g.ints([1])), none)
    present = g.op("Concat", first, g.op("Slice", present, g.ints([1]), g.ints([2**62]), g.ints([1])), axis=1)
    weights = g.op("Div", present, g.op("ReduceSum", present, g.ints([1]), keepdims=1))
    weights = g.op("Unsqueeze", weights, g.ints([1]))

    f, frames = _Backbone(g, model.backbone, rows).features(x)  # (D, V, R, T')
    # The head reads the mean over frames and over joints: take them per row, then average persons
    # (the same linear map as averaging the feature maps first, on less data).
    by_sample = g.op("Concat", batch, persons, g.ints([-1]), axis=0)  # [N, M, -1]
    joint_means = g.op("Transpose", g.op("ReduceMean", f, g.ints([3]), keepdims=0), perm=[2, 1, 0])
    frame_means = g.op("Transpose", g.op("ReduceMean", f, g.ints([1]), keepdims=0), perm=[1, 2, 0])
    joints, frames_mean = (
        g.op("MatMul", weights, g.op("Reshape", means, by_sample)) for means in (joint_means, frame_means)
    )
    joints = g.reshape(joints, [-1, v, d])
    frames_mean = g.reshape(frames_mean, [-1, frames, d])
    out = _head(g, model.head, joints, frames_mean, frames)
    g.nodes.append(helper.make_node("Identity", [out], [output_name]))
    graph = helper.make_graph(
        g.nodes,
        "neuron_skeleton_embedding",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["batch", c, t, v, "persons"])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["batch", 6, cfg.text_dim])],
        g.constants,
    )
    return helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="neuron-live"
    )
