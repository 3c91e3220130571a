"""torchrun with two CPU processes (gloo): DDP training runs, and its numbers equal one process's."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, shared_path
from tests.doubles import quick_run
from tests.test_training import TEST_CACHE

COMPARED = ("val_zsl_names", "val_gzsl", "val_seen_top1", "test_seen_top1", "test_zsl_names", "test_gzsl")


def _same(a: object, b: object, path: str = "") -> None:
    if isinstance(a, dict):
        assert set(a) == set(b), path
        for key in a:
            _same(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, float):
        assert a == pytest.approx(b, abs=1e-6), path
    else:
        assert a == b, path


@pytest.mark.slow
def test_torchrun_ddp_training_matches_one_process_evaluation(tmp_path, capsys):
    from training.train import main

    cfg = quick_run(
        tmp_path / "run",
        8,
        data={
            "sources": [f"nw_ucla={shared_path('nw_ucla')}"],
            "cache_dir": str(TEST_CACHE),
            "classes": ["pick up with one hand", "sit down", "stand up", "walk around", "throw", "carry",
                        "donning", "doffing"],
            "window": 32,
            "max_train_per_class": 8,
        },
        split={"unseen": ["stand up", "doffing"], "val_classes": ["carry"], "max_eval_per_class": 6},
        eval_batch_size=16,
    )  # fmt: skip
    config = tmp_path / "c.yaml"
    config.write_text(json.dumps(cfg))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "training.train", "train", "--config", str(config)]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count('"test_zsl_names"') == 1  # only rank 0 prints (and writes)
    ddp = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert ddp["processes"] == 2
    assert ddp["test_zsl_names"]["samples"] == 12 and ddp["val_zsl_names"]["samples"] == 6

    capsys.readouterr()
    code = main(["evaluate", "--config", str(config), "--checkpoint", str(tmp_path / "run" / "neuron.pt")])
    assert code == 0
    single = json.loads(capsys.readouterr().out)
    for key in COMPARED:
        _same(ddp[key], single[key], key)
    assert single["calibration_gamma"] == pytest.approx(ddp["calibration_gamma"], abs=1e-5)
