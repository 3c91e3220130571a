"""Training: config, augmentation, the cache, the split, and a short real CPU training run that learns."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from pose.layouts import NTU25_BONES, NTU25_LEFT_RIGHT, J
from tests.conftest import ROOT, shared_path
from tests.doubles import TRAIN_MODEL as TINY_MODEL
from training import config as C
from training.augment import (
    depth_jitter,
    mirror,
    mirror_label,
    num_bone_kinds,
    on_the_spot,
    rotate,
    scale_bones,
)
from training.data import SkeletonStore, WindowDataset, load_source, mirror_targets_for
from training.splits import make_split

TEST_CACHE = ROOT / "runs" / "test-cache"


# ---------------------------------------------------------------------------------------------------
# config


def test_config_yaml_round_trip_and_generated_flags(tmp_path):
    cfg = C.builtin("shared")
    path = tmp_path / "c.yaml"
    C.save_yaml(cfg, path)
    assert C.load_yaml(path) == cfg
    parser = argparse.ArgumentParser()
    C.add_config_flags(parser)
    args = parser.parse_args(
        ["--neuron.epochs", "3", "--model.feat_dim", "64", "--model.backbone_channels", "32,64",
         "--model.backbone_strides", "1,4", "--data.sources", "nw_ucla=/a,bandai=/b",
         "--augment.mirror", "0", "--descriptions", "/texts", "--split.unseen", "x,y"]
    )  # fmt: skip
    out = C.apply_overrides(cfg, args)
    assert out.neuron.epochs == 3 and out.model.backbone_channels == (32, 64) and out.model.feat_dim == 64
    assert [(s.kind, s.path) for s in out.data.sources] == [("nw_ucla", "/a"), ("bandai", "/b")]
    assert out.augment.mirror == 0.0 and out.data.descriptions == "/texts" and out.split.unseen == ["x", "y"]
    assert out.pretrain == cfg.pretrain  # untouched fields keep the config's values
    # every leaf field has exactly one flag
    flags = [a.dest for a in parser._actions if a.dest.startswith("cfg:")]
    assert len(flags) == len(set(flags)) and "cfg:neuron.lr" in flags and "cfg:model.keep" in flags


def test_config_errors_name_the_field(tmp_path):
    with pytest.raises(C.ConfigError, match="neuron: unknown field"):
        C.from_dict({"neuron": {"epoch": 3}})
    with pytest.raises(C.ConfigError, match="pretrain.lr: expected float"):
        C.from_dict({"pretrain": {"lr": "fast"}})
    with pytest.raises(C.ConfigError, match="prompt_mode"):
        C.from_dict({"prompt_mode": "poetry"})
    with pytest.raises(C.ConfigError, match="unknown data source kind"):
        C.from_dict({"data": {"sources": ["kinect=/x"]}})
    with pytest.raises(C.ConfigError, match="unknown config"):
        C.resolve("ntu999")
    with pytest.raises(C.ConfigError, match="neuron.soft_targets must be a temperature"):
        C.from_dict({"neuron": {"soft_targets": 2.0}}).validate()
    (tmp_path / "bad.yaml").write_text("- a list\n")
    with pytest.raises(C.ConfigError, match="mapping"):
        C.load_yaml(tmp_path / "bad.yaml")


def test_builtin_ntu_configs_follow_the_published_splits():
    from pose.readers.ntu import NTU120_CLASSES

    cfg = C.builtin("ntu60-55-5")
    assert cfg.split.unseen == ["reading", "writing", "put on a hat/cap", "jump up", "touch pocket"]
    assert len(cfg.data.classes) == 60 and cfg.split.sample_split == "partition"
    for name, (count, unseen) in C.NTU_SPLITS.items():
        c = C.builtin(name)
        assert len(c.data.classes) == count and len(c.split.unseen) == len(unseen)
        assert set(c.split.unseen) <= set(NTU120_CLASSES[:count])
    assert len(C.builtin("ntu120-96-24").split.unseen) == 24


# ---------------------------------------------------------------------------------------------------
# augmentation


def _window(rng: np.random.Generator) -> np.ndarray:
    x = rng.normal(size=(3, 8, 25, 2)).astype(np.float32)
    x[..., 1] = 0.0  # second person absent
    return x


def test_mirror_swaps_sides_and_is_an_involution():
    x = _window(np.random.default_rng(0))
    m = mirror(x)
    lw, rw = J["left_wrist"], J["right_wrist"]
    np.testing.assert_allclose(m[0, :, rw], -x[0, :, lw])
    np.testing.assert_allclose(m[1:, :, rw], x[1:, :, lw])
    sign = np.array([-1.0, 1.0, 1.0])[:, None, None]
    np.testing.assert_allclose(m[:, :, J["spine_mid"]], sign * x[:, :, J["spine_mid"]])  # centre joint stays
    np.testing.assert_allclose(mirror(m), x)
    assert np.all(m[..., 1] == 0)
    assert len(NTU25_LEFT_RIGHT) == 10


def test_mirror_label_and_targets_never_create_an_untrained_class():
    assert mirror_label("wave right hand") == "wave left hand"
    assert mirror_label("walk to the Left") == "walk to the Right"
    assert mirror_label("sit down") == "sit down"
    assert mirror_label("bright light") == "bright light"  # whole words only
    trained = ["wave right hand", "sit down", "raise left hand", "raise right hand"]
    labels = ["wave right hand", "sit down", "raise left hand"]
    # wave left hand is not trained (e.g. unseen): that sample is never mirrored
    np.testing.assert_array_equal(mirror_targets_for(labels, trained), [-1, 1, 3])


def test_bone_scaling_changes_lengths_only_and_keeps_absent_persons():
    rng = np.random.default_rng(1)
    x = _window(rng)
    np.testing.assert_allclose(scale_bones(x, np.ones(num_bone_kinds())), x, atol=1e-6)
    f = rng.uniform(0.8, 1.2, num_bone_kinds())
    y = scale_bones(x, f)
    for child, parent in NTU25_BONES:
        before = x[:, :, child, 0] - x[:, :, parent, 0]
        after = y[:, :, child, 0] - y[:, :, parent, 0]
        ratio = np.linalg.norm(after, axis=0) / np.linalg.norm(before, axis=0)
        assert np.allclose(ratio, ratio[0], atol=1e-4) and 0.79 < ratio[0] < 1.21  # one factor per bone
        cos = (before * after).sum(0) / np.linalg.norm(before, axis=0) / np.linalg.norm(after, axis=0)
        assert np.allclose(cos, 1.0, atol=1e-5)  # direction kept
    assert np.all(y[..., 1] == 0)

    def upper_arm_ratio(elbow: str, shoulder: str) -> float:
        before = np.linalg.norm(x[:, 0, J[elbow], 0] - x[:, 0, J[shoulder], 0])
        return float(np.linalg.norm(y[:, 0, J[elbow], 0] - y[:, 0, J[shoulder], 0]) / before)

    # left and right twins share a factor
    assert upper_arm_ratio("left_elbow", "left_shoulder") == pytest.approx(
        upper_arm_ratio("right_elbow", "right_shoulder"), rel=1e-5
    )


def test_depth_jitter_moves_depth_only_more_at_the_limbs_and_keeps_absent_persons():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 200, 25, 2)).astype(np.float32)
    x[..., 1] = 0.0  # second person absent
    x[:, 10:20] = 0.0  # a gap: frames where nobody was seen stay empty
    y = depth_jitter(x, np.random.default_rng(4), 0.002)
    np.testing.assert_array_equal(y[:2], x[:2])  # x and y untouched
    assert np.all(y[:, 10:20] == 0) and np.all(y[..., 1] == 0)
    noise = (y[2] - x[2])[:, :, 0]
    noise = np.delete(noise, range(10, 20), axis=0)
    relative = noise - noise[:, [J["spine_base"]]]  # the whole-body shift cancels
    trunk = relative[:, [J["spine_mid"], J["neck"], J["head"]]].std()
    hands = relative[:, [J["left_hand"], J["right_hand"], J["left_wrist"], J["right_wrist"]]].std()
    assert 0.001 < trunk < 0.004 and hands > 1.5 * trunk
    body_shift = noise.mean(axis=1)
    assert body_shift.std() > 0.002  # the root's depth jitters as a whole
    np.testing.assert_array_equal(depth_jitter(x, rng, 0.0), x)


def test_rotation_keeps_bone_lengths():
    x = _window(np.random.default_rng(2))
    y = rotate(x, np.array([0.3, -0.2, 0.1]))
    for child, parent in NTU25_BONES:
        np.testing.assert_allclose(
            np.linalg.norm(y[:, :, child, 0] - y[:, :, parent, 0], axis=0),
            np.linalg.norm(x[:, :, child, 0] - x[:, :, parent, 0], axis=0),
            rtol=1e-4,
        )
    assert not np.allclose(y, x)


def test_yaw_turns_about_the_vertical_only_and_is_off_by_default():
    from training.augment import augment

    x = _window(np.random.default_rng(3))
    plain = dict(rotation=0.0, bone_scale=0.0, body_scale=0.0, do_mirror=False)
    assert np.array_equal(augment(x, np.random.default_rng(0), **plain), x)
    y = augment(x, np.random.default_rng(0), **plain, yaw=1.2)
    np.testing.assert_allclose(y[1], x[1], atol=1e-6)  # heights unchanged
    np.testing.assert_allclose(np.hypot(y[0], y[2]), np.hypot(x[0], x[2]), atol=1e-5)  # a turn about y
    assert not np.allclose(y, x)
    with pytest.raises(C.ConfigError, match="augment.yaw"):
        C.from_dict({"augment": {"yaw": 4.0}}).validate()


# ---------------------------------------------------------------------------------------------------
# cache and split on real data


def test_cache_round_trip_on_real_ntu_files(tmp_path):
    from pose.readers.ntu import read_ntu_skeleton

    root = shared_path("ntu_skeletons")
    src = C.SourceConfig("ntu_skeletons", str(root))
    store = load_source(src, tmp_path)
    files = sorted(root.glob("*.skeleton"))
    assert len(store) == len(files) == 17
    for i in (0, 9):
        skel = read_ntu_skeleton(files[i])
        joints, valid = store.sample(i)
        np.testing.assert_array_equal(valid, skel.valid)
        np.testing.assert_allclose(joints, skel.joints)
        assert store.labels[i] == skel.label
    assert set(store.partitions.tolist()) == {"train", "test"}  # cross-subject, from the performer
    # cached files load without pickle; a second load reads the cache instead of the source
    folder = next(tmp_path.iterdir())
    with np.load(folder / "index.npz", allow_pickle=False) as idx:
        assert idx["labels"].dtype.kind == "U"
    mtime = (folder / "joints.npy").stat().st_mtime_ns
    load_source(src, tmp_path)
    assert (folder / "joints.npy").stat().st_mtime_ns == mtime


def _real_store() -> SkeletonStore:
    stores = [
        load_source(C.SourceConfig("nw_ucla", str(shared_path("nw_ucla"))), TEST_CACHE),
        load_source(C.SourceConfig("utkinect", str(shared_path("utkinect"))), TEST_CACHE),
    ]
    return SkeletonStore.concat(stores)


def test_split_is_subject_disjoint_and_keeps_unseen_out_of_training():
    store = _real_store()
    cfg = C.SplitConfig(unseen=["Doffing", "pull"], val_classes=["carry"])
    split = make_split(store, cfg, [], seed=0)
    assert split.unseen == ["doffing", "pull"]  # the data's spelling
    groups = {p: set(store.groups[split.parts[p]].tolist()) for p in split.parts}
    assert not groups["train"] & groups["val_seen"] and not groups["train"] & groups["test_seen"]
    assert not groups["val_seen"] & groups["test_seen"]
    train_labels = set(store.labels[split.parts["train"]].tolist())
    assert not train_labels & {"doffing", "pull", "carry"}
    assert set(store.labels[split.parts["test_unseen"]].tolist()) == {"doffing", "pull"}
    assert set(store.labels[split.parts["val_unseen"]].tolist()) == {"carry"}
    assert sum(split.counts().values()) <= len(store)
    with pytest.raises(Exception, match="not found in the data"):
        make_split(store, C.SplitConfig(unseen=["juggling"]), [], seed=0)


def test_training_windows_are_augmented_and_evaluation_windows_are_fixed():
    store = _real_store()
    idx = np.arange(0, 40)
    targets = np.zeros(40, np.int64)
    aug = C.AugmentConfig()
    train = WindowDataset(store, idx, targets, 64, aug, train=True, seed=0, cap=5)
    test = WindowDataset(store, idx, targets, 64, aug, train=False)
    assert len(train) == 5 and len(test) == 40  # one class, at most 5 per epoch
    a, _ = train[0]
    train.set_epoch(1)
    b, _ = train[0]
    assert a.shape == (3, 64, 25, 2) and not np.allclose(a, b)
    np.testing.assert_array_equal(test[3][0], test[3][0])


# ---------------------------------------------------------------------------------------------------
# a short real training run


@pytest.mark.slow
def test_short_real_training_learns_and_scores_unseen_classes(tmp_path):
    """NW-UCLA plus four Bandai-Namco actions, tiny model, a minute of CPU: seen classes are learnt
    (held-out subjects above chance by a clear margin) and the zero-shot path runs end to end."""
    from neuron_core.recognizer import ZeroShotRecognizer
    from pose.normalize import normalize_window
    from training.train import main

    bandai = shared_path("bandai_namco", "Bandai-Namco-Research-Motiondataset-1")
    cfg = {
        "data": {
            "sources": [f"nw_ucla={shared_path('nw_ucla')}", f"bandai={bandai}"],
            "cache_dir": str(TEST_CACHE),
            "classes": ["pick up with one hand", "pick up with two hands", "drop trash", "walk around",
                        "sit down", "stand up", "donning", "doffing", "throw", "carry", "run", "dash",
                        "bow", "wave goodbye"],
            "window": 32,
            "max_train_per_class": 30,
        },
        "split": {"unseen": ["pick up with two hands", "doffing", "dash"], "val_classes": ["carry"],
                  "max_eval_per_class": 15},
        "model": TINY_MODEL,
        "pretrain": {"epochs": 5, "batch_size": 32, "lr": 0.1, "milestones": [4]},
        # the head kept is the mean of its last steps' weights (judged on the validation class)
        "neuron": {"epochs": 1, "batch_size": 32, "lr": 0.1, "milestones": [], "average": 0.5},
        "output_dir": str(tmp_path / "run"),
        "device": "cpu",
        "prompts_per_granularity": 4,
    }  # fmt: skip
    (tmp_path / "c.yaml").write_text(json.dumps(cfg))
    assert main(["train", "--config", str(tmp_path / "c.yaml")]) == 0

    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    seen = metrics["split"]["seen"]
    assert len(seen) == 10
    chance = 1 / len(seen)
    # the backbone alone, on the held-out subjects' samples of the training classes
    import torch

    backbone = torch.load(tmp_path / "run" / "backbone.pt", weights_only=True)
    assert backbone["val_seen_top1"] > 2.5 * chance, backbone["val_seen_top1"]
    state = torch.load(tmp_path / "run" / "state_neuron.pt", weights_only=True)
    head = state["best_state"]  # the averaged head, while training went on from the last step's
    assert state["average"]["count"] > 1 and head.keys() <= state["model"].keys()
    assert any(not torch.equal(head[key], state["model"][key]) for key in head)
    zsl = metrics["test_zsl_names"]
    assert zsl["samples"] == metrics["split"]["samples"]["test_unseen"] > 0 and zsl["classes"] == 3
    assert 0.0 <= zsl["top1"] <= zsl["top5"] == 1.0
    assert 0.0 <= metrics["test_gzsl"]["h"] <= 1.0

    # The checkpoint drives the live recognizer on unseen classes.
    rec = ZeroShotRecognizer.from_checkpoint(tmp_path / "run" / "neuron.pt", device="cpu",
                                             cache_dir=TEST_CACHE / "text")  # fmt: skip
    rec.set_labels(["pick up with two hands", "doffing", "dash"])
    from pose.readers.nw_ucla import read_nw_ucla_json

    skel = read_nw_ucla_json(sorted(shared_path("nw_ucla", "all_sqe").glob("a09_*.json"))[0])
    probs = rec.scores(normalize_window(skel, 32))
    assert probs.shape == (1, 3) and np.isclose(probs.sum(), 1.0, atol=1e-5)
    assert rec.meta.vocabulary == seen


def test_weight_average_is_the_mean_of_the_last_steps_weights():
    """The share of the last steps is averaged, every step; integer buffers keep their latest value."""
    import torch

    from training.engine import WeightAverage

    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    average = WeightAverage(0.5, total_steps=4)  # steps 2 and 3 of 0-3
    seen = []
    for step in range(4):
        with torch.no_grad():
            net[0].weight.fill_(float(step))
            net[1].num_batches_tracked.fill_(step)
        average.update(net, step)
        seen.append(step)
    mean = average.averaged(net.state_dict())
    assert average.count == 2
    torch.testing.assert_close(mean["0.weight"], torch.full((2, 2), 2.5))
    assert mean["1.num_batches_tracked"].item() == 3 and mean["1.num_batches_tracked"].dtype == torch.int64
    assert mean["0.weight"].dtype == torch.float32
    # resumed from its state it goes on as one run would
    again = WeightAverage(0.5, total_steps=4)
    again.load_state_dict(average.state_dict())
    assert torch.equal(again.averaged(net.state_dict())["0.weight"], mean["0.weight"])
    # a key filter leaves entries out; share 0 averages nothing
    head = WeightAverage(1.0, total_steps=4, keep=lambda key: key.startswith("1."))
    head.update(net, 0)
    assert set(head.averaged(net.state_dict())) == {"1.weight", "1.bias", "1.running_mean",
                                                    "1.running_var", "1.num_batches_tracked"}  # fmt: skip
    off = WeightAverage(0.0, total_steps=4)
    for step in range(4):
        off.update(net, step)
    assert not off.active


@pytest.mark.slow
@pytest.mark.parametrize("average", [0.0, 0.75])
def test_resumed_pretraining_equals_an_uninterrupted_run(tmp_path, monkeypatch, average):
    """Killed in the second epoch, resumed: the same weights as two epochs in one go, with or without
    weight averaging (whose running sums travel in the resume state)."""
    import torch

    import training.train as T
    from training.train import main

    cfg = {
        "data": {
            "sources": [f"nw_ucla={shared_path('nw_ucla')}"],
            "cache_dir": str(TEST_CACHE),
            "classes": ["pick up with one hand", "sit down", "walk around", "throw"],
            "window": 32,
            "max_train_per_class": 6,
        },
        "split": {"max_eval_per_class": 3},
        "model": TINY_MODEL,
        "pretrain": {"epochs": 2, "batch_size": 8, "lr": 0.05, "milestones": [1]},
        "device": "cpu",
        "prompts_per_granularity": 2,
    }
    (tmp_path / "c.yaml").write_text(json.dumps(cfg))
    common = ["--config", str(tmp_path / "c.yaml"), "--pretrain.average", str(average)]
    assert main(["pretrain", *common, "--output", str(tmp_path / "straight")]) == 0
    epoch_of = T.pretrain_epoch

    def killed_in_the_second(*args, **kwargs):
        if args[4] == 1:
            raise KeyboardInterrupt
        return epoch_of(*args, **kwargs)

    monkeypatch.setattr(T, "pretrain_epoch", killed_in_the_second)
    with pytest.raises(KeyboardInterrupt):
        main(["pretrain", *common, "--output", str(tmp_path / "halves")])
    monkeypatch.setattr(T, "pretrain_epoch", epoch_of)
    first = torch.load(tmp_path / "halves" / "state_pretrain.pt", weights_only=True)
    assert first["epoch"] == 0
    assert main(["pretrain", *common, "--output", str(tmp_path / "halves"), "--resume"]) == 0
    a = torch.load(tmp_path / "straight" / "backbone.pt", weights_only=True)["backbone"]
    b = torch.load(tmp_path / "halves" / "backbone.pt", weights_only=True)["backbone"]
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], msg=key)
    # and the second epoch did change the weights
    assert any(not torch.equal(first["model"][key], a[key]) for key in a)
    last = torch.load(tmp_path / "straight" / "state_pretrain.pt", weights_only=True)
    averaged = not all(torch.equal(last["model"][key], a[key]) for key in a)
    assert averaged == (average > 0)  # the backbone is the mean, not the last step, only when asked


def test_on_the_spot_keeps_the_first_root_and_the_limbs_about_it():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3, 40, 25, 2)).astype(np.float32)
    x[:, :5, :, 1] = 0.0  # the second person comes in late
    x[:, 30:] = 0.0  # and nobody is seen at the end
    y = on_the_spot(x)
    root = J["spine_base"]
    np.testing.assert_allclose(y[:, :30, root, 0], np.repeat(x[:, :1, root, 0], 30, axis=1), atol=1e-6)
    np.testing.assert_allclose(y[:, 5:30, root, 1], np.repeat(x[:, 5:6, root, 1], 25, axis=1), atol=1e-6)
    relative = lambda a: a - a[:, :, root : root + 1]  # noqa: E731
    np.testing.assert_allclose(relative(y), relative(x), atol=1e-5)  # limbs move as before
    assert np.all(y[:, 30:] == 0) and np.all(y[:, :5, :, 1] == 0)
    assert not np.allclose(y, x)


def test_soft_targets_share_a_window_between_labels_whose_names_coincide():
    import torch
    import torch.nn.functional as F

    from training.engine import _loss, soft_targets

    assert soft_targets(torch.ones(3, 6, 2, 4), 0.0) is None  # 0: one-hot, as trained so far
    names = torch.tensor([[1.0, 0, 0, 0], [1.0, 0, 0, 0], [0.9, 0.44, 0, 0], [0, 0, 1.0, 0]])  # 0 = 1, 2 near
    class_emb = names[:, None, None, :].expand(4, 6, 3, 4)  # every step and prompt alike
    q = soft_targets(class_emb, 0.05)
    assert torch.allclose(q.sum(1), torch.ones(4))
    assert q[0, 0] == pytest.approx(q[0, 1].item()) and q[0, 0] > q[0, 2] > q[0, 3]  # same name: equal share
    assert q[2, 2] == q[2].max() and q[3, 3] > 0.99  # a label no other resembles keeps its window
    logits, y = torch.randn(5, 4), torch.tensor([0, 1, 2, 3, 3])
    assert torch.allclose(
        _loss(logits, y, torch.eye(4)), F.cross_entropy(logits, y)
    )  # one-hot rows: plain CE
    assert not torch.allclose(_loss(logits, y, q), F.cross_entropy(logits, y))
