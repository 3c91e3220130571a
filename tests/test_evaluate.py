"""Metrics on hand-made logits, and the evaluate command on real skeletons written to a folder."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT, shared_path
from tests.doubles import TRAIN_MODEL
from tests.test_training import TEST_CACHE
from training.metrics import (
    choose_calibration,
    gzsl_metrics,
    harmonic_mean,
    or_rule_correct,
    per_class_topk,
    topk_correct,
    zsl_metrics,
)

# ---------------------------------------------------------------------------------------------------
# metrics


def test_topk_and_class_mean():
    logits = np.array([[3.0, 2.0, 1.0], [1.0, 3.0, 2.0], [1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    labels = np.array([0, 2, 0, 1])
    np.testing.assert_array_equal(topk_correct(logits, labels, 1), [True, False, False, False])
    np.testing.assert_array_equal(topk_correct(logits, labels, 2), [True, True, False, True])
    m = zsl_metrics(logits, None, labels)
    assert m["top1"] == pytest.approx(0.25) and m["top5"] == pytest.approx(1.0)
    # class 0: 1 of 2 right, class 1: 0 of 1, class 2: 0 of 1 -> mean 1/6
    assert m["top1_class_mean"] == pytest.approx(1 / 6)
    assert "top1_or_rule" not in m


def test_or_rule_is_an_oracle_over_the_two_fine_heads():
    # 3 samples, 6 steps, 2 classes; only steps 2 (fine spatial) and 5 (fine temporal) count.
    steps = np.zeros((3, 6, 2))
    steps[0, 2] = [1, 0]  # spatial right
    steps[0, 5] = [0, 1]  # temporal wrong
    steps[1, 2] = [0, 1]  # both wrong
    steps[1, 5] = [0, 1]
    steps[1, 0] = [5, 0]  # a coarse step that is right must not count
    steps[2, 2] = [0, 1]  # only temporal right
    steps[2, 5] = [1, 0]
    labels = np.array([0, 0, 0])
    np.testing.assert_array_equal(or_rule_correct(steps, labels), [True, False, True])
    fused = steps[:, 2] + steps[:, 5]  # ties: argmax takes class 0 for samples 0 and 2
    m = zsl_metrics(fused, steps, labels)
    assert m["top1_or_rule"] == pytest.approx(2 / 3)
    assert m["top1"] == pytest.approx(2 / 3)


def test_harmonic_mean():
    assert harmonic_mean(0.5, 0.5) == pytest.approx(0.5)
    assert harmonic_mean(1.0, 0.0) == 0.0
    assert harmonic_mean(0.8, 0.2) == pytest.approx(0.32)


def test_calibrated_stacking_moves_predictions_to_unseen_classes():
    # classes 0, 1 seen; 2 unseen. The seen scores are inflated by 1.0 for every sample.
    seen_mask = np.array([True, True, False])
    logits = np.array(
        [
            [2.0, 0.5, 1.6],  # seen sample, label 0: margin 0.4
            [0.2, 2.5, 1.0],  # seen sample, label 1: margin 1.5
            [1.8, 0.1, 1.0],  # unseen sample, label 2: margin 0.8
            [0.3, 1.4, 0.9],  # unseen sample, label 2: margin 0.5
        ]
    )
    labels = np.array([0, 1, 2, 2])
    raw = gzsl_metrics(logits, labels, seen_mask, 0.0)
    assert raw["seen"] == 1.0 and raw["unseen"] == 0.0 and raw["h"] == 0.0
    # gamma between 0.8 and 1.5: both unseen samples flip, the seen sample with margin 0.4 flips too.
    mid = gzsl_metrics(logits, labels, seen_mask, 1.0)
    assert mid["seen"] == 0.5 and mid["unseen"] == 1.0
    assert mid["h"] == pytest.approx(harmonic_mean(0.5, 1.0))
    gamma = choose_calibration(logits, labels, seen_mask)
    best = gzsl_metrics(logits, labels, seen_mask, gamma)
    # The best achievable H here is 2/3 (gamma in (0.8, 1.5)); the chosen constant must reach it.
    assert best["h"] == pytest.approx(2 / 3)
    assert 0.8 < gamma < 1.5


def test_calibration_is_exact_on_random_data():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(200, 8))
    labels = rng.integers(0, 8, 200)
    seen_mask = np.arange(8) < 5
    logits[np.arange(200), labels] += 1.0
    logits[:, :5] += 0.7  # seen bias
    gamma = choose_calibration(logits, labels, seen_mask)
    h = gzsl_metrics(logits, labels, seen_mask, gamma)["h"]
    grid = np.linspace(-3, 3, 601)
    assert h >= max(gzsl_metrics(logits, labels, seen_mask, g)["h"] for g in grid) - 1e-12
    assert h > gzsl_metrics(logits, labels, seen_mask, 0.0)["h"]


def test_per_class_topk_reports_absent_classes_as_none():
    logits = np.array([[2.0, 1.0, 0.0], [0.0, 1.0, 2.0]])
    out = per_class_topk(logits, np.array([0, 0]), ["a", "b", "c"])
    assert out["a"] == {"count": 2, "top1": 0.5, "top5": 1.0}
    assert out["b"] == {"count": 0, "top1": None, "top5": None}


# ---------------------------------------------------------------------------------------------------
# the evaluate command


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """An untrained tiny model in a real checkpoint: the command's schema does not need a good model."""
    import torch

    from neuron_core.checkpoint import CheckpointMeta, save_checkpoint
    from neuron_core.config import ModelConfig
    from neuron_core.model import NeuronModel
    from pose.normalize import Preprocess

    torch.manual_seed(0)
    model = NeuronModel(ModelConfig(**TRAIN_MODEL))
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    meta = CheckpointMeta(text_encoder="minilm-l6-v2", text_dim=384, preprocess=Preprocess(window=32))
    save_checkpoint(path, model, meta)
    return path


@pytest.fixture(scope="module")
def skeleton_folder(tmp_path_factory):
    """Real NW-UCLA sequences of three classes written as interchange .npz files (nested folders)."""
    from pose.readers.nw_ucla import read_nw_ucla_json
    from pose.skeleton import save_npz

    src = shared_path("nw_ucla", "all_sqe")
    out = tmp_path_factory.mktemp("skeletons")
    for action in ("a01", "a05", "a06"):
        for path in sorted(src.glob(f"{action}_s01_*_v01.json"))[:2]:
            (out / action).mkdir(exist_ok=True)
            save_npz(read_nw_ucla_json(path), out / action / f"{path.stem}.npz")
    return out


def _evaluate_script(*args: str) -> subprocess.CompletedProcess:
    """The command as users run it: python training/train.py evaluate ... (script mode)."""
    cmd = [
        sys.executable,
        str(ROOT / "training" / "train.py"),
        "evaluate",
        "--data.cache_dir",
        str(TEST_CACHE),
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)


def _evaluate(capsys, *args: str) -> tuple[int, str, str]:
    """The same command in this process (cheaper): exit code, stdout, stderr."""
    from training.train import main

    capsys.readouterr()
    code = main(["evaluate", "--data.cache_dir", str(TEST_CACHE), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.slow
def test_evaluate_folder_prints_the_promised_json(tiny_checkpoint, skeleton_folder, capsys):
    files = sorted(skeleton_folder.rglob("*.npz"))
    assert len(files) == 6
    proc = _evaluate_script("--checkpoint", str(tiny_checkpoint), "--skeletons", str(skeleton_folder))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["files"] == 6
    assert result["labels"] == ["pick up with one hand", "sit down", "stand up"]
    assert result["prompt_mode"] == "names"
    overall = result["overall"]
    assert set(overall) == {"top1", "top5", "class_balanced_top1", "class_balanced_top5", "max_label_share",
                            "most_frequent_label"}  # fmt: skip
    assert 0.0 <= overall["top1"] <= overall["top5"] <= 1.0
    assert overall["top5"] == 1.0  # three labels: the true one is always among the top 5
    assert overall["class_balanced_top1"] == pytest.approx(overall["top1"])  # two files of each label
    assert overall["most_frequent_label"] in result["labels"] and 1 / 3 <= overall["max_label_share"] <= 1.0
    assert {k: v["count"] for k, v in result["per_class"].items()} == {
        "pick up with one hand": 2,
        "sit down": 2,
        "stand up": 2,
    }
    top1 = sum(v["top1"] * v["count"] for v in result["per_class"].values()) / 6
    assert top1 == pytest.approx(result["overall"]["top1"])

    # Given labels (one not present in the folder) and descriptions: all three are NTU classes.
    code, out, err = _evaluate(
        capsys, "--checkpoint", str(tiny_checkpoint), "--skeletons", str(skeleton_folder),
        "--labels", "sit down,stand up,jump up", "--descriptions", str(shared_path("text", "Neuron")),
    )  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    assert result["labels"] == ["sit down", "stand up", "jump up"]
    assert result["files"] == 4 and result["files_with_other_labels"] == 2
    assert result["prompt_mode"] == "descriptions"
    assert set(result["labels_with_descriptions"]) == {"sit down", "stand up", "jump up"}
    assert result["per_class"]["jump up"] == {"count": 0, "top1": None, "top5": None}


@pytest.mark.slow
def test_evaluate_folder_without_labelled_files_fails_in_one_line(tiny_checkpoint, tmp_path, capsys):
    from pose.skeleton import Skeleton, save_npz

    joints = np.zeros((10, 25, 3), np.float32)
    joints[:, :, 1] = np.linspace(0, 1.7, 25)
    save_npz(Skeleton.from_single(joints), tmp_path / "unlabelled.npz")
    (tmp_path / "notes.txt").write_text("not a skeleton")
    code, out, err = _evaluate(capsys, "--checkpoint", str(tiny_checkpoint), "--skeletons", str(tmp_path))
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "no labelled" in lines[0]

    code, out, err = _evaluate(
        capsys, "--checkpoint", str(tmp_path / "missing.pt"), "--skeletons", str(tmp_path)
    )
    assert code == 2 and err.startswith("error: ") and "missing.pt" in err


def test_choose_reference_takes_the_scored_windows_own_mean_from_enough_windows():
    import torch
    import torch.nn.functional as F

    from training.evaluate import SELF_REFERENCE_MIN, choose_reference, reference_shift, self_weight

    torch.manual_seed(0)
    many = torch.randn(SELF_REFERENCE_MIN, 6, 16) + 3.0
    own = F.normalize(many, dim=-1).mean(0)
    training = F.normalize(torch.randn(6, 16), dim=-1) * 0.5
    ref, weight = choose_reference(many, training)
    assert weight == 1.0 and torch.allclose(ref, own)
    ref, weight = choose_reference(many[:-1], training)  # too few windows for their own mean
    assert weight == 0.0 and ref is training
    assert self_weight(many[:3], None) == 1.0  # no training mean: the windows' own
    assert choose_reference(many[:3], training, "self")[1] == 1.0
    assert choose_reference(many, training, "training") == (training, 0.0)
    assert reference_shift(own, own) == 0.0
    assert reference_shift(own, own / 2) == pytest.approx(1.0)  # as far again as the training mean is long
    with pytest.raises(ValueError, match="unknown reference"):
        choose_reference(many, training, "live")


@pytest.mark.slow
def test_evaluate_reports_both_references_of_the_prior(skeleton_folder, tmp_path, capsys):
    """A checkpoint scoring with the prior: the JSON says which mean window served and what the other
    gave; ``--reference self`` switches the headline figures to the scored files' own mean."""
    import torch

    from neuron_core.checkpoint import CheckpointMeta, save_checkpoint
    from neuron_core.config import ModelConfig
    from neuron_core.model import NeuronModel
    from pose.normalize import Preprocess

    torch.manual_seed(1)
    model = NeuronModel(ModelConfig(**{**TRAIN_MODEL, "calibration": "prior+centre", "fusion": "all"}))
    path = tmp_path / "prior.pt"
    reference = torch.nn.functional.normalize(torch.randn(6, 384), dim=-1).tolist()
    meta = CheckpointMeta(text_encoder="minilm-l6-v2", text_dim=384, preprocess=Preprocess(window=32),
                          reference_embedding=reference)  # fmt: skip
    save_checkpoint(path, model, meta)
    runs = {}
    for mode in ("auto", "self", "training"):
        code, out, err = _evaluate(capsys, "--checkpoint", str(path), "--skeletons", str(skeleton_folder),
                                   "--reference", mode)  # fmt: skip
        assert code == 0, err
        runs[mode] = json.loads(out)
    auto = runs["auto"]["reference"]
    assert auto["self_weight"] == 0.0 and auto["windows"] == 6  # six files: too few for their own mean
    assert set(auto) == {"self_weight", "windows", "shift", "training", "self"} and auto["shift"] > 0
    assert runs["self"]["reference"]["self_weight"] == 1.0
    assert runs["auto"]["overall"] == auto["training"] and runs["training"]["overall"] == auto["training"]
    assert runs["self"]["overall"] == runs["self"]["reference"]["self"]
    for result in runs.values():  # the same two figures whichever served
        assert (
            result["reference"]["self"] == auto["self"]
            and result["reference"]["training"] == auto["training"]
        )
    with pytest.raises(SystemExit) as exit_:  # argparse's own refusal, naming the choices
        args = ("--checkpoint", str(path), "--skeletons", str(skeleton_folder), "--reference", "live")
        _evaluate(capsys, *args)
    assert exit_.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_overall_weighs_every_class_once_and_names_the_collapse() -> None:
    from training.evaluate import overall

    targets = np.array([0, 0, 0, 0, 1, 2])
    logits = np.zeros((6, 3))
    logits[:, 0] = 1.0  # every file gets "walk"
    out = overall(logits, targets, ["walk", "sit down", "jump"])
    assert out["top1"] == pytest.approx(4 / 6) and out["class_balanced_top1"] == pytest.approx(1 / 3)
    assert out["most_frequent_label"] == "walk" and out["max_label_share"] == 1.0
