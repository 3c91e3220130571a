"""The cross-data-set benchmark end to end in a tiny mode (two small real sets, one epoch), and its parts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import ROOT, shared_path
from tests.doubles import quick_run
from training.benchmark import name_key, plan, summarise
from training.metrics import set_scores


def test_name_key_treats_inflections_and_filler_as_the_same_name() -> None:
    assert name_key("Walking") == name_key("walk")
    assert name_key("sitting down") == name_key("sit down")
    assert name_key("doing squats") == name_key("squat")
    assert name_key("jump up") != name_key("sit down")


def test_score_reports_class_balance_and_collapse() -> None:
    targets = np.array([0, 0, 0, 0, 1, 2])
    logits = np.zeros((6, 3))
    logits[:, 0] = 1.0  # every window says class 0
    out = set_scores(logits, targets, 3)
    assert out["top1"] == pytest.approx(1 / 3)  # class 0 perfect, 1 and 2 never
    assert out["top1_samples"] == pytest.approx(4 / 6)
    assert out["max_label_share"] == 1.0
    assert out["top5"] == 1.0  # top-5 of 3 classes


def test_plan_leaves_each_holdout_out_of_its_own_training() -> None:
    folds = plan(["utkinect", "cmu8"], ["utkinect", "cmu8", "h36m"], [0, 1])
    assert len(folds) == 4
    for f in folds:
        assert f.holdout not in f.train_sets and f.train_sets
    with pytest.raises(Exception, match="unknown data set"):
        plan(["nope"], ["cmu8"], [0])


def test_summary_averages_seeds_then_sets() -> None:
    def fold(h: str, seed: int, top1: float) -> dict:
        row = {"top1": top1, "top5": 1.0, "max_label_share": 0.5, "classes": 3, "samples": 9}
        return {"holdout": h, "seed": seed, "scores": {"kept": {"none": row}, "new_words": {}}}

    s = summarise([fold("a", 0, 0.2), fold("a", 1, 0.4), fold("b", 0, 0.6)])
    table = s["kept"]["none"]
    assert table["a"]["top1"] == pytest.approx(0.3) and table["a"]["top1_std"] == pytest.approx(0.1)
    assert table["mean"]["top1"] == pytest.approx(0.45)


def test_benchmark_runs_end_to_end_in_tiny_mode(tmp_path) -> None:
    shared_path("utkinect")
    shared_path("cmu8")
    from training.train import main

    data = {"cache_dir": str(ROOT / "runs" / "test-cache"), "window": 32, "max_train_per_class": 8}
    cfg = quick_run(tmp_path / "bench", 16, data=data)
    (tmp_path / "c.yaml").write_text(json.dumps(cfg))
    args = ["benchmark", "--config", str(tmp_path / "c.yaml"), "--holdout", "utkinect,cmu8",
            "--sets", "utkinect,cmu8", "--seeds", "0"]  # fmt: skip
    assert main(args) == 0
    out = json.loads((tmp_path / "bench" / "benchmark.json").read_text())
    assert {f["holdout"] for f in out["folds"]} == {"utkinect", "cmu8"}
    for variant in ("kept", "new_words"):
        scorings = set(out["summary"][variant])
        assert {"names/none/fine", "names/centre/all", "bank/none/fine", "bank+names/prior/all"} <= scorings
        # The prior with the held-out windows' own mean beside the training mean (train.py evaluate's
        # --reference self) and with evaluate's default choice (auto); only for the calibrations that
        # have a reference.
        assert {"bank+names/prior+centre@self/all", "names/prior@self/fine"} <= scorings
        assert "names/prior@auto/all" in scorings
        assert not any(k.endswith("@self/all") and "/none" in k for k in scorings)
        for scoring, table in out["summary"][variant].items():
            assert set(table) == {"utkinect", "cmu8", "mean"}, (variant, scoring)
            for row in table.values():
                assert 0 <= row["top1"] <= row["top5"] <= 1 and 0 < row["max_label_share"] <= 1
    fold = out["folds"][0]
    # UTKinect's "walk" also names a CMU class ("walking"): kept, but not among the new words.
    utk = next(f for f in out["folds"] if f["holdout"] == "utkinect")
    assert utk["in_training"]["walk"] is True and utk["in_training"]["push"] is False
    kept, new = fold["scores"]["kept"]["names/none/fine"], fold["scores"]["new_words"]["names/none/fine"]
    assert kept["classes"] > new["classes"]
    assert "walk" in utk["bank_knows"]
    shots = out["summary"]["few_shot"]
    assert set(shots) == {"utkinect", "cmu8", "mean"}
    assert {"zero_shot", "1_shot", "3_shot", "5_shot"} == set(shots["mean"])
    md = (tmp_path / "bench" / "benchmark.md").read_text()
    assert "new words only" in md and "most frequent label's share" in md and "5 examples" in md
    # Resumable: a second run re-uses every fold's result instead of training again.
    stamp = (tmp_path / "bench" / "seed0" / "cmu8" / "result.json").stat().st_mtime_ns
    assert main(args) == 0
    assert (tmp_path / "bench" / "seed0" / "cmu8" / "result.json").stat().st_mtime_ns == stamp
    # --rescore scores the saved embeddings again (no training) and gives the same figures.
    fold_result = json.loads((tmp_path / "bench" / "seed0" / "cmu8" / "result.json").read_text())
    from training.benchmark import split_encoder
    from training.config import TrainConfig

    # The encoder that decided which names are new is kept, so a rescore does not decide again.
    assert fold_result["split_encoder"] == split_encoder(TrainConfig().text_encoder)
    before = fold_result["scores"]
    assert main([*args, "--rescore"]) == 0
    after = json.loads((tmp_path / "bench" / "seed0" / "cmu8" / "result.json").read_text())["scores"]
    plain = before["kept"]["names/none/fine"]["top1"]
    assert after["kept"]["names/none/fine"]["top1"] == pytest.approx(plain, abs=0.02)  # float16 embeddings
    # A run of one held-out set (a lane) still writes the table of every fold done in the folder.
    assert main(["benchmark", "--config", str(tmp_path / "c.yaml"), "--holdout", "cmu8", "--sets",
                 "utkinect,cmu8", "--seeds", "0"]) == 0  # fmt: skip
    out = json.loads((tmp_path / "bench" / "benchmark.json").read_text())
    assert {f["holdout"] for f in out["folds"]} == {"utkinect", "cmu8"}
    assert set(out["summary"]["kept"]["names/none/fine"]) == {"utkinect", "cmu8", "mean"}


def test_new_words_are_the_benchmarks_not_the_recipes() -> None:
    """Which held-out names count as known is decided with one encoder (MiniLM) whatever a recipe
    trains with, so recipes with other text encoders are scored on the same new-word classes; only
    the weightless test stand-in decides with its own."""
    from training.benchmark import SPLIT_ENCODER, split_encoder

    assert SPLIT_ENCODER == "minilm-l6-v2"
    assert split_encoder("e5-small-q4") == split_encoder("minilm-l6-v2") == SPLIT_ENCODER
    assert split_encoder("hash-16") == "hash-16"
