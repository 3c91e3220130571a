"""Left and right from the skeleton: arm, leg, travel and turn evidence, and mirror-pair scoring."""

from __future__ import annotations

import numpy as np
import pytest

from neuron_core.laterality import cue_kind, laterality, mirror_label, mirror_pairs, resolve_sides, side_of
from pose.normalize import Preprocess, normalize_window
from pose.readers.ntu import read_ntu_skeleton
from tests.conftest import shared_path
from training.augment import mirror

T = 40


def _standing() -> np.ndarray:
    """(25, 3) a real standing pose (first frame of an NTU file), facing the sensor."""
    skel = read_ntu_skeleton(shared_path("ntu_skeletons", "S001C001P001R001A011.skeleton"))
    return skel.joints[0, 0].astype(np.float64)


def _raise(pose: np.ndarray, joints: tuple[int, ...], height: float = 0.6) -> np.ndarray:
    seq = np.repeat(pose[None], T, axis=0)
    seq[:, list(joints), 1] += np.linspace(0, height, T)[:, None]
    return seq


def _mirrored(seq: np.ndarray) -> np.ndarray:
    """Through the training mirror (window layout (3, T, 25, M))."""
    x = seq.transpose(2, 0, 1)[..., None]
    return mirror(x)[..., 0].transpose(1, 2, 0)


def test_label_words_choose_side_and_evidence() -> None:
    assert side_of("raise left hand") == "left" and side_of("wave both hands") is None
    assert side_of("turn left, then right") is None
    assert mirror_label("Kick with the Right leg") == "Kick with the Left leg"
    assert cue_kind("wave left hand") == "arm" and cue_kind("kick with left leg") == "leg"
    assert cue_kind("walk and turn left") == "turn" and cue_kind("walk to the left") == "travel"


def test_raising_the_left_arm_reads_left_and_its_mirror_reads_right() -> None:
    seq = _raise(_standing(), (5, 6, 7, 21, 22))
    assert laterality(seq, "arm") > 0.9
    assert laterality(_mirrored(seq), "arm") < -0.9
    kick = _raise(_standing(), (17, 18, 19), 0.4)  # the right leg lifts
    assert laterality(kick, "leg") < -0.9


def test_travel_and_turn_are_read_in_the_persons_own_frame() -> None:
    pose = _standing()  # facing the sensor: the person's left is Kinect -x
    assert pose[4, 0] < pose[8, 0], "left shoulder at smaller x when facing the sensor"
    walk = np.repeat(pose[None], T, axis=0)
    walk[:, :, 0] -= np.linspace(0, 1.0, T)[:, None]  # 1 m toward -x: the person's left
    assert laterality(walk, "travel") > 0.9
    assert laterality(_mirrored(walk), "travel") < -0.9
    centre = pose[0]
    turn = []
    for theta in np.linspace(0, np.pi / 2, T):  # about y, taking the left axis (-x) to +z: a left turn
        c, s = np.cos(theta), np.sin(theta)
        rel = pose - centre
        turn.append(
            np.stack([rel[:, 0] * c + rel[:, 2] * s, rel[:, 1], -rel[:, 0] * s + rel[:, 2] * c], 1) + centre
        )
    turn = np.array(turn)
    assert laterality(turn, "turn") > 0.9
    assert laterality(_mirrored(turn), "turn") < -0.9
    assert laterality(np.repeat(pose[None], T, axis=0), "travel") == 0.0  # no travel: no evidence


def test_resolve_sides_orders_only_mirror_pairs_and_keeps_weak_evidence() -> None:
    labels = ["raise right hand", "clap", "raise left hand"]
    assert mirror_pairs(labels) == [(2, 0)]
    seq = _raise(_standing(), (5, 6, 7, 21, 22))  # left arm up
    window = normalize_window((seq[:, None].astype(np.float32), np.ones((T, 1), bool)), 32)[None]
    scores = np.array([[5.0, 1.0, 4.0]])  # the model prefers the wrong side
    out = resolve_sides(labels, window, scores)
    assert out[0, 2] == 5.0 and out[0, 0] == 4.0 and out[0, 1] == 1.0
    still = normalize_window(
        (np.repeat(_standing()[None, None], T, 0).astype(np.float32), np.ones((T, 1), bool)), 32
    )
    assert np.array_equal(resolve_sides(labels, still[None], scores), scores)  # no evidence: unchanged
    assert resolve_sides(["a", "b"], window, scores[:, :2]) is not None


@pytest.mark.parametrize("member", ["raise-up-left-hand", "raise-up-right-hand", "wave-left-hand"])
def test_real_mirror_pairs_choose_the_right_side(member: str) -> None:
    """Bandai-Namco clips (motion capture) of one-handed actions, three styles each: the side is read."""
    import zipfile

    from pose.readers.bvh import read_bvh

    archive = shared_path("bandai_namco", "Bandai-Namco-Research-Motiondataset-2", "data.zip")
    side = "left" if "left" in member else "right"
    with zipfile.ZipFile(archive) as z:
        names = sorted(n for n in z.namelist() if f"_{member}_" in n and n.endswith(".bvh"))[:3]
        assert names, member
        for name in names:
            skel = read_bvh(z.read(name).decode("utf-8"))
            x = normalize_window(skel, 64, crop=0.95)
            cue = laterality(x[..., 0].transpose(1, 2, 0), "arm")
            assert (cue > 0) == (side == "left") and abs(cue) > 0.3, (name, cue)


def test_mirror_pair_command_on_real_clips_with_an_untrained_model(tmp_path) -> None:
    """ASE's walk/run/dodge left-right clips: an untrained model knows no side, the skeleton does."""
    shared_path("ase")
    import json

    import torch

    from neuron_core.checkpoint import CheckpointMeta, save_checkpoint
    from neuron_core.config import ModelConfig
    from neuron_core.model import NeuronModel
    from tests.conftest import ROOT
    from tests.doubles import TRAIN_MODEL as TINY_MODEL
    from training.train import main

    torch.manual_seed(0)
    model = NeuronModel(ModelConfig(**TINY_MODEL))
    meta = CheckpointMeta(text_encoder="minilm-l6-v2", text_dim=384, preprocess=Preprocess(window=32))
    save_checkpoint(tmp_path / "m.pt", model, meta)
    cache = str(ROOT / "runs" / "test-cache")
    args = ["mirror-pairs", "--checkpoint", str(tmp_path / "m.pt"), "--sets", "ase", "--out", str(tmp_path),
            "--data.cache_dir", cache, "--prompts_per_granularity", "2"]  # fmt: skip
    assert main(args) == 0
    result = json.loads((tmp_path / "mirror_pairs.json").read_text())
    rows = result["per_label"]
    for label in ("walk to the left", "walk to the right", "run to the left", "run to the right"):
        assert rows[f"ase: {label}"]["with_sides"] == 1.0, label
    assert result["overall"]["samples"] == sum(r["samples"] for r in rows.values())
    assert "with the skeleton's side" in (tmp_path / "mirror_pairs.md").read_text()
