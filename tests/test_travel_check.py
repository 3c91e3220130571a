"""tools/travel_check.py: a set's walks scored as recorded and on the spot."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from pose.skeleton import Skeleton
from tests.conftest import ROOT, shared_path

sys.path.insert(0, str(ROOT / "tools"))
import travel_check  # noqa: E402


def test_windows_are_live_length_and_half_overlapping() -> None:
    skeleton = Skeleton(np.zeros((100, 2, 25, 3), np.float32), np.ones((100, 2), bool), fps=10.0)
    spans = [len(j) for j, _ in travel_check.windows(skeleton, 2.2)]
    assert spans == [22] * 8  # starts 0, 11, ..., 77
    short = Skeleton(np.zeros((5, 2, 25, 3), np.float32), np.ones((5, 2), bool), fps=10.0)
    assert [len(j) for j, _ in travel_check.windows(short, 2.2)] == [5]  # a short clip is one window


def test_a_sets_walks_are_counted_both_ways(tmp_path: Path, capsys) -> None:
    shared_path("cmu8")
    out = tmp_path / "travel.json"
    assert travel_check.main(["--sets", "cmu8", "--json", str(out)]) == 0
    (row,) = json.loads(out.read_text())
    assert row["set"] == "cmu8" and row["windows"] > 0
    assert sum(row["on_the_spot"].values()) == row["windows"]
    assert 0 <= row["right_as_recorded"] <= 1 and 0 <= row["right_on_the_spot"] <= 1
    assert "| cmu8 |" in capsys.readouterr().out


def test_a_truth_outside_the_labels_is_refused(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        travel_check.main(["--truth", "running", "--labels", "walking, sitting down"])
    assert exc.value.code == 2
    assert "error:" in capsys.readouterr().err
