"""Scores over time: the small plot under the window's ranking, and the same plot from a ``--record`` file.

One :class:`ScoreHistory` (plain Python) holds (time, scores) points; one painting function draws it,
on the window's widget or on an image, so the PNG made from a recording looks like the window did:

    neuron-live timeline run.jsonl -o scores.png [--track N] [--seconds S]

Each label keeps one colour wherever it is drawn (chosen from its name), and only the labels that
score best now are drawn, so the plot stays readable with many labels.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import zlib
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from pathlib import Path

from PyQt6.QtCore import QPointF, QRectF, Qt
from PyQt6.QtGui import QColor, QGuiApplication, QImage, QPainter, QPainterPath, QPaintEvent, QPen
from PyQt6.QtWidgets import QSizePolicy, QWidget

from neuron_base.atomic import atomic_path
from neuron_base.errors import NeuronLiveError, one_line

TIMELINE_SECONDS = 20.0  # what the window shows: the last 20 s
MAX_LINES = 5
PALETTE = ("#3ccfff", "#ffb547", "#9dff6b", "#ff7ad9", "#b18cff", "#ff6b6b", "#5ef2d0", "#f2e35e")
BACKGROUND, GRID, TEXT = "#1b1e24", "#2c323c", "#8b93a3"
PNG_SIZE = (960, 320)
_app: QGuiApplication | None = None  # made when a PNG is drawn outside a Qt app, kept while Qt is in use


class TimelineError(NeuronLiveError):
    """A record file cannot be read or the picture cannot be written."""


def colour_of(label: str) -> str:
    """The label's colour, the same in every run and every plot."""
    return PALETTE[zlib.crc32(label.casefold().encode("utf-8")) % len(PALETTE)]


class ScoreHistory:
    """(time, {label: score}) points of one person, the last ``seconds`` of them (inf: all)."""

    def __init__(self, seconds: float = TIMELINE_SECONDS) -> None:
        self.seconds = seconds
        self.points: deque[tuple[float, dict[str, float]]] = deque()
        self._offset = 0.0  # added to times after a replay restarted, so the plot runs on
        self._last: tuple[float, float] | None = None  # (time as given, the step before it)

    def add(self, t: float, scores: Iterable[tuple[str, float]]) -> None:
        """A new point at ``t`` (seconds); a time that goes back (a looping replay restarted)
        continues the plot one step after the last point instead."""
        if self._last is not None:
            last, step = self._last
            if t < last:
                self._offset += last - t + step
            self._last = (t, max(t - last, 1e-3) if t >= last else step)
        else:
            self._last = (t, 0.1)
        t += self._offset
        self.points.append((t, {label: float(s) for label, s in scores}))
        while self.points and self.points[0][0] < t - self.seconds:
            self.points.popleft()

    def gap(self, t: float) -> None:
        """Nobody in view at ``t``: lines break here."""
        self.add(t, ())

    def clear(self) -> None:
        self.points.clear()
        self._offset, self._last = 0.0, None

    def labels(self, limit: int = MAX_LINES) -> list[str]:
        """The labels to draw: the best by their newest score, then by their best in the span."""
        newest = next((scores for _, scores in reversed(self.points) if scores), {})
        best: dict[str, float] = {}
        for _, scores in self.points:
            for label, s in scores.items():
                best[label] = max(best.get(label, 0.0), s)
        return sorted(best, key=lambda label: (-newest.get(label, -1.0), -best[label]))[:limit]

    def span(self) -> tuple[float, float]:
        if not self.points:
            return 0.0, 1.0
        start, end = self.points[0][0], self.points[-1][0]
        if math.isfinite(self.seconds):  # the window: a fixed span ending now
            start = end - self.seconds
        return start, max(end, start + 1e-3)


def paint_timeline(painter: QPainter, rect: QRectF, history: ScoreHistory, legend: bool = True) -> None:
    """Draw the history into ``rect``: scores 0-1 upwards, time to the right, newest at the right edge."""
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.fillRect(rect, QColor(BACKGROUND))
    metrics = painter.fontMetrics()
    plot = rect.adjusted(34, 10, -8, -(metrics.height() + 8))
    painter.setPen(QPen(QColor(GRID), 1))
    for level in (0.0, 0.5, 1.0):
        y = plot.bottom() - level * plot.height()
        painter.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
        painter.setPen(QColor(TEXT))
        painter.drawText(QRectF(rect.left(), y - 8, 30, 16), Qt.AlignmentFlag.AlignRight, f"{level:.1f}")
        painter.setPen(QPen(QColor(GRID), 1))
    start, end = history.span()
    painter.setPen(QColor(TEXT))
    painter.drawText(
        QRectF(plot.left(), plot.top(), plot.width() - 4, metrics.height()),
        Qt.AlignmentFlag.AlignRight,
        f"last {end - start:.0f} s",
    )
    for label in history.labels():
        path, drawing = QPainterPath(), False
        for t, scores in history.points:
            if label not in scores:
                drawing = False
                continue
            at = QPointF(
                plot.left() + (t - start) / (end - start) * plot.width(),
                plot.bottom() - min(max(scores[label], 0.0), 1.0) * plot.height(),
            )
            if drawing:
                path.lineTo(at)
            else:
                path.moveTo(at)
            drawing = True
        painter.setPen(QPen(QColor(colour_of(label)), 2))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(path)
    if legend:  # as many labels as fit on one line, best first
        x = plot.left()
        for label in history.labels():
            text = f"\u25a0 {label}"
            width = metrics.horizontalAdvance(text)
            if x + width > plot.right():
                break
            painter.setPen(QColor(colour_of(label)))
            painter.drawText(QRectF(x, plot.bottom() + 4, width + 2, metrics.height() + 2), 0, text)
            x += width + 14
    painter.restore()


class TimelineWidget(QWidget):
    """The window's plot of the featured person's recent scores."""

    def __init__(self, seconds: float = TIMELINE_SECONDS) -> None:
        super().__init__()
        self.history = ScoreHistory(seconds)
        self.setMinimumHeight(110)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        paint_timeline(painter, QRectF(self.rect()), self.history)
        painter.end()


# ---------------------------------------------------------------------------------------------------
# from a --record file to a PNG


def history_from_records(path: Path, track: int | None = None, seconds: float = math.inf) -> ScoreHistory:
    """The scores of ``track`` (default: the person seen most) in a JSON-lines record, over time.

    A line that is not JSON (the last one after a crash) is skipped; no usable line is an error.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise TimelineError(f"{path}: record file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TimelineError(f"{path}: cannot read the record file ({type(exc).__name__})") from None
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and isinstance(record.get("frame_time"), (int, float)):
            records.append(record)
    persons = Counter(r.get("track_id") for r in records if r.get("track_id") is not None)
    if not persons:
        raise TimelineError(f"{path}: no prediction for a person in the file (is it a --record file?)")
    if track is None:
        track = persons.most_common(1)[0][0]
    elif track not in persons:
        raise TimelineError(f"{path}: no person {track} in the file (persons: {sorted(persons)})")
    history = ScoreHistory(seconds)
    for record in records:
        if record.get("track_id") == track:
            history.add(float(record["frame_time"]), _scores(record.get("top_k")))
        elif record.get("track_id") is None:
            history.gap(float(record["frame_time"]))
    return history


def _scores(top_k: object) -> list[tuple[str, float]]:
    """The (label, score) pairs of a record's ``top_k``; malformed entries are left out."""
    entries = [e for e in top_k if isinstance(e, dict)] if isinstance(top_k, list) else []
    return [
        (e["label"], float(e["score"]))
        for e in entries
        if isinstance(e.get("label"), str) and isinstance(e.get("score"), (int, float))
    ]


def render_png(history: ScoreHistory, path: Path, size: tuple[int, int] = PNG_SIZE) -> None:
    """Draw the history as the window does and save it as a PNG."""
    global _app
    if QGuiApplication.instance() is None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # a picture needs no display
        _app = QGuiApplication(sys.argv[:1])
    image = QImage(size[0], size[1], QImage.Format.Format_RGB32)
    painter = QPainter(image)
    paint_timeline(painter, QRectF(0, 0, size[0], size[1]), history)
    painter.end()
    try:
        with atomic_path(path, mkdir=False) as tmp:
            if not image.save(str(tmp), "PNG"):
                raise TimelineError(f"{path}: cannot write the PNG there")
    except OSError as exc:
        raise TimelineError(f"{path}: cannot write the PNG there ({one_line(exc)})") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="neuron-live timeline", description="Plot the scores of a --record file over time, as a PNG."
    )
    parser.add_argument("record", type=Path, help="a JSON-lines file written by neuron-live --record")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the PNG to write")
    parser.add_argument("--track", type=int, help="the person to plot (default: the one seen most)")
    parser.add_argument("--seconds", type=float, default=math.inf, help="only the last S seconds")
    args = parser.parse_args(argv)
    try:
        if args.seconds <= 0:
            raise TimelineError(f"--seconds must be more than 0, got {args.seconds}")
        render_png(history_from_records(args.record, args.track, args.seconds), args.output)
    except TimelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(args.output)
    return 0
