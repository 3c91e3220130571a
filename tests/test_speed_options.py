"""The pieces behind neuron-bench's speed options: frame shrinking before MediaPipe, the landmark
comparison against full resolution, and the fused scores used to compare quantised graphs."""

from __future__ import annotations

import numpy as np
import torch

from app.bench_options import _fused_softmax, _match
from neuron_core.model import class_logits, fuse, fusion_steps
from pose.estimator import fit_for_detection


def test_fit_for_detection_keeps_the_aspect_and_small_frames() -> None:
    image = np.zeros((1080, 1920, 3), np.uint8)
    image[:, 960:] = 200
    small = fit_for_detection(image, 640)
    assert small.shape == (360, 640, 3) and small.dtype == np.uint8
    assert small[:, :319].max() == 0 and small[:, 321:].min() == 200  # area averaging, no shift
    assert fit_for_detection(image, None) is image
    assert fit_for_detection(small, 640) is small  # already small enough: no copy


def test_match_pairs_each_person_with_the_nearest_once() -> None:
    left, right = np.zeros((33, 4), np.float32), np.zeros((33, 4), np.float32)
    left[:, 0], right[:, 0] = 0.2, 0.8
    moved_right = right.copy()
    moved_right[:, 0] += 0.01
    pairs = _match([left, right], [moved_right])
    assert len(pairs) == 1 and pairs[0][0] is right and pairs[0][1] is moved_right
    assert [ref is left for ref, _ in _match([left, right], [right, left])] == [True, False]
    assert _match([left], []) == []


def test_fused_softmax_is_the_recognizers_fusion() -> None:
    rng = np.random.default_rng(0)
    emb = rng.standard_normal((4, 6, 8)).astype(np.float32)
    protos = rng.standard_normal((5, 6, 8)).astype(np.float32)
    protos /= np.linalg.norm(protos, axis=-1, keepdims=True)
    logits = class_logits(torch.from_numpy(emb), torch.from_numpy(protos), 10.0)
    for rule in ("fine", "all"):
        expected = torch.softmax(fuse(logits, rule), 1).numpy()
        assert np.allclose(_fused_softmax(emb, protos, 10.0, fusion_steps(rule)), expected, atol=1e-5)
