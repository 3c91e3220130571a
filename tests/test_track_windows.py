"""tools/track_windows.py: every window the app scores, per track, with its time span."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from tests.conftest import ROOT, shared_path

sys.path.insert(0, str(ROOT / "tools"))
import track_windows  # noqa: E402


def test_jitter_is_the_median_second_difference_in_mm() -> None:
    joints = [np.zeros((25, 3)) for _ in range(10)]
    for k, frame in enumerate(joints):
        frame[:, 2] = 2.0 + 0.001 * (k % 2)  # the whole body's depth flickers by 1 mm
        frame[3, 1] = 0.002 * (k % 2)  # one joint flickers by 2 mm relative to the spine base
    found = track_windows.jitter_mm(joints)
    assert found["root_depth"] == 2.0  # the second differences of 0, 1, 0, 1 mm are 2 mm
    assert found["relative_joints"] == 0.0  # the median over joints and axes: one joint of 25


def test_holding_the_root_keeps_its_first_place_per_track_along_the_chosen_axes() -> None:
    hold = track_windows.RootHold(track_windows.HOLD_AXES["height"])
    body = np.random.default_rng(0).normal(size=(25, 3)).astype(np.float32)
    first = hold(1, body)
    np.testing.assert_array_equal(first, body)
    moved = body + np.array([0.3, 0.2, -0.4], np.float32)  # the whole body travels and rises
    out = hold(1, moved)
    np.testing.assert_allclose(out[:, 1], body[:, 1], atol=1e-6)  # the rise is taken away
    np.testing.assert_allclose(out[:, [0, 2]], moved[:, [0, 2]], atol=1e-6)  # the travel is not
    np.testing.assert_array_equal(hold(2, moved), moved)  # another track keeps its own first place
    still = track_windows.RootHold(track_windows.HOLD_AXES["none"])
    still(1, body)
    np.testing.assert_array_equal(still(1, moved), moved)


def test_windows_of_a_real_clip_are_listed_per_track(tmp_path: Path, capsys) -> None:
    video = shared_path("videos", "01_walking_kthstyle.avi")
    out = tmp_path / "windows.json"
    labels = "walking, running, waving a hand"
    assert track_windows.main([str(video), "--labels", labels, "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert rows and {r["label"] for r in rows} <= {"walking", "running", "waving a hand"}
    spans = [r["seconds"] for r in rows]
    assert 1.0 - 1e-3 <= min(spans) and max(spans) <= 2.2 + 1e-3
    assert spans[-1] > spans[0]  # a track's first windows are short
    assert "track " in capsys.readouterr().out
