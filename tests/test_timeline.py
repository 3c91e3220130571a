"""Score timeline: the history the window keeps, and ``neuron-live timeline`` turning a --record file
into the same plot as a PNG (lines where the scores are, in each label's colour)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.cli import main as cli_main
from app.pipeline import Prediction
from app.records import JsonLinesSink
from app.timeline import PNG_SIZE, ScoreHistory, colour_of, history_from_records

pytest.importorskip("pytestqt", reason="pytest-qt is not installed")


def test_history_keeps_the_last_seconds_and_runs_on_when_a_replay_restarts() -> None:
    history = ScoreHistory(seconds=10.0)
    for t in range(30):
        history.add(float(t), [("wave", 0.1 * (t % 10)), ("jump", 0.5)])
    assert [t for t, _ in history.points] == [float(t) for t in range(19, 30)]
    assert history.span() == (19.0, 29.0)
    assert history.labels() == ["wave", "jump"]  # wave scores 0.9 now
    history.add(3.0, [("jump", 0.2)])  # a replay restarted: the plot runs on, one step later
    history.add(3.5, [("jump", 0.3)])
    assert [t for t, _ in history.points][-3:] == [29.0, 30.0, 30.5] and history.labels()[0] == "jump"
    assert ScoreHistory().labels() == []


def _record(path: Path) -> None:
    """A --record file as the app writes it: person 1 waves, then leaves, then jumps."""
    with open(path, "w", encoding="utf-8") as fh:
        sink = JsonLinesSink(fh, top_k=3)
        for i in range(60):
            t = i / 10
            if 25 <= i < 30:
                sink(Prediction(i, t, 0.0, None, [], None, "absent", None, 1.0, 1.0, 1.0))
                continue
            wave = 0.9 if i < 25 else 0.05
            scores = sorted([("wave", wave), ("jump", 0.95 - wave), ("sit down", 0.05)], key=lambda x: -x[1])
            sink(Prediction(i, t, 0.0, 1, scores, "wave", "action", 0.3, 1, 1, 1))
            if i % 2:  # person 2 is seen less often than person 1
                sink(Prediction(i, t, 0.0, 2, [("sit down", 0.6)], "sit down", "action", 0.3, 1, 1, 1))
        fh.write('{"frame_time": 9.9, "track_id": 1, "top_k": [{"lab')  # cut short by a crash


def _pixels_of(image, colour: str, rows: slice) -> int:
    from PyQt6.QtGui import QColor

    rgb = QColor(colour)
    image = image.convertToFormat(image.Format.Format_RGB888)
    width, height, line = image.width(), image.height(), image.bytesPerLine()
    ptr = image.constBits()
    ptr.setsize(height * line)
    arr = np.frombuffer(ptr, np.uint8).reshape(height, line)[:, : width * 3].reshape(height, width, 3)
    target = np.array([rgb.red(), rgb.green(), rgb.blue()])
    return int((np.abs(arr[rows].astype(int) - target).max(axis=2) < 12).sum())


def test_record_file_to_png(tmp_path: Path, qapp, capsys) -> None:
    from PyQt6.QtGui import QImage

    assert len({colour_of(label) for label in ("wave", "jump", "sit down")}) == 3
    record, png = tmp_path / "run.jsonl", tmp_path / "scores.png"
    _record(record)
    history = history_from_records(record)  # person 1: the one seen most
    assert {label for _, s in history.points for label in s} == {"wave", "jump", "sit down"}
    assert sum(1 for _, s in history.points if not s) == 5  # the gap while nobody was in view

    assert cli_main(["timeline", str(record), "-o", str(png), "--track", "1"]) == 0
    image = QImage(str(png))
    assert (image.width(), image.height()) == PNG_SIZE
    top, bottom = slice(0, PNG_SIZE[1] // 3), slice(PNG_SIZE[1] // 2, PNG_SIZE[1] - 30)
    # wave runs high (0.9) then low; jump the other way; sit down stays at the bottom.
    assert _pixels_of(image, colour_of("wave"), top) > 50 and _pixels_of(image, colour_of("jump"), top) > 50
    assert _pixels_of(image, colour_of("sit down"), top) == 0
    assert _pixels_of(image, colour_of("sit down"), bottom) > 50

    other = tmp_path / "two.png"
    assert cli_main(["timeline", str(record), "-o", str(other), "--track", "2"]) == 0
    assert _pixels_of(QImage(str(other)), colour_of("wave"), slice(0, PNG_SIZE[1] - 30)) == 0


def test_timeline_errors_are_one_line(tmp_path: Path, capsys) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("not json\n", encoding="utf-8")
    for args, reason in (
        ([str(tmp_path / "missing.jsonl"), "-o", str(tmp_path / "a.png")], "not found"),
        ([str(empty), "-o", str(tmp_path / "a.png")], "no prediction for a person"),
    ):
        assert cli_main(["timeline", *args]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and reason in err and len(err.splitlines()) == 1
    record = tmp_path / "run.jsonl"
    _record(record)
    assert cli_main(["timeline", str(record), "-o", str(tmp_path / "a.png"), "--track", "7"]) == 2
    assert "no person 7" in capsys.readouterr().err
    assert cli_main(["timeline", str(record), "-o", str(tmp_path / "no" / "a.png")]) == 2
    assert "cannot write" in capsys.readouterr().err
