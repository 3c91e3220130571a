"""The Qt window: the video with each person's skeleton, the ranked actions, and the label editor.

The window never waits on the pipeline: a timer on the GUI thread picks up the newest frame, the
predictions made since the last tick and any status messages, so a slow model never freezes the
video or the controls. The video is mirrored for display only (a selfie view feels natural); pose
and the model always see the frame as captured.
"""

from __future__ import annotations

import signal
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PyQt6.QtCore import QEvent, QModelIndex, QObject, QPointF, QRectF, Qt, QTimer
from PyQt6.QtGui import (
    QCloseEvent,
    QColor,
    QFont,
    QImage,
    QKeyEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPalette,
    QPen,
)
from PyQt6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QMainWindow,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from app.config import LiveConfig
from app.label_store import Example, ExampleError, ExampleStore, apply_examples, save_labels
from app.pipeline import Pipeline, Prediction, Recognizer, View
from app.records import JsonLinesSink
from app.session import Input, build_pipeline
from app.synthetic import project
from app.timeline import TimelineWidget
from app.video_writer import AnnotatedVideoWriter, attach
from neuron_core.errors import LabelError
from neuron_core.labels import LabelSet
from neuron_core.prompts import unreadable_label
from pose.estimator import PersonPose
from pose.layouts import NTU25_BONES
from pose.skeleton import Skeleton

REFRESH_MS = 30
WARNING_MS = 6000  # how long a warning (a dropped frame or window) stays in the status bar
BG, PANEL, RAISED = "#121418", "#1b1e24", "#252a33"
TEXT, MUTED = "#e8eaf0", "#8b93a3"
ACCENT, WARN, BAD = "#3ccfff", "#ffb547", "#ff6b6b"
TRACK_COLOURS = ("#3ccfff", "#ffb547", "#9dff6b", "#ff7ad9")
NO_PERSON = "No person in view: step into the frame"
COUNTDOWN_S = 3.0  # time to get into place after pressing "Record example"
RECORD_S = 3.0  # the example: the featured person's last 3 s (live windows cover 2.2 s)
EXAMPLE_HZ = 30.0  # examples are stored resampled to the rate windows are built at
MIN_EXAMPLE_S = 1.0
ENDED = {"video": "Video ended", "skeleton": "Replay ended", "demo": "Demo ended", "camera": "Camera closed"}

STYLE = f"""
QWidget {{ color: {TEXT}; font-size: 11pt; }}
QMainWindow, QWidget#central {{ background: {BG}; }}
QLabel {{ background: transparent; }}
QFrame#panel {{ background: {PANEL}; border-radius: 10px; }}
QLabel#caption {{ color: {MUTED}; font-size: 9pt; letter-spacing: 1px; }}
QLabel#top {{ font-size: 26pt; font-weight: 600; color: {ACCENT}; }}
QLabel#topScore {{ color: {MUTED}; font-size: 12pt; }}
QLabel#message {{ color: {BAD}; font-size: 10pt; }}
QLabel#stat {{ color: {MUTED}; font-family: monospace; font-size: 10pt; padding: 0 8px; }}
QLabel#banner {{
    background: {WARN}; color: #1a1300; font-weight: 600; padding: 6px 12px; border-radius: 6px;
}}
QLineEdit {{ background: {RAISED}; border: 1px solid #343a46; border-radius: 6px; padding: 6px 8px; }}
QLineEdit:focus {{ border-color: {ACCENT}; }}
QPushButton {{ background: {RAISED}; border: 1px solid #343a46; border-radius: 6px; padding: 6px 14px; }}
QPushButton:hover {{ border-color: {ACCENT}; }}
QPushButton:pressed {{ background: #303744; }}
QListWidget {{ background: {RAISED}; border: none; border-radius: 6px; padding: 4px; }}
QListWidget::item {{ padding: 4px 6px; border-radius: 4px; }}
QListWidget::item:selected {{ background: #2f4a5c; color: {TEXT}; }}
QSplitter::handle {{ background: {BG}; }}
"""


def to_qimage(image: np.ndarray) -> QImage:
    """A BGR uint8 frame as a QImage that shares the array's memory (the caller keeps it alive)."""
    image = np.ascontiguousarray(image)
    height, width = image.shape[:2]
    return QImage(image.data, width, height, image.strides[0], QImage.Format.Format_BGR888)


class VideoView(QWidget):
    """The frame, mirrored, with skeletons, per-person action tags and any overlay message."""

    def __init__(self) -> None:
        super().__init__()
        self.setMinimumSize(480, 360)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._view: View | None = None
        self._image: QImage | None = None
        self._array: np.ndarray | None = None
        self.tags: dict[int, str] = {}
        self.message: str | None = None
        self.countdown: str | None = None  # "Get ready 3" / "Recording ..." while an example is taken
        self.paused = False

    def set_view(self, view: View) -> None:
        if self._view is None or view.frame is not self._view.frame:
            self._array = np.ascontiguousarray(view.frame.image)
            self._image = to_qimage(self._array)
        self._view = view
        self.update()

    @property
    def person_count(self) -> int:
        return len(self._view.pose.in_view) if self._view else 0

    def _target(self) -> QRectF:
        """Where the frame goes: as large as fits, aspect kept, centred."""
        if self._image is None:
            return QRectF(self.rect())
        w, h = self._image.width(), self._image.height()
        scale = min(self.width() / w, self.height() / h)
        return QRectF((self.width() - w * scale) / 2, (self.height() - h * scale) / 2, w * scale, h * scale)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.fillRect(self.rect(), QColor("#0b0c0f"))
        target = self._target()
        if self._image is not None:
            painter.save()
            # Mirror: x -> left + right - x, for the image and the skeletons alike.
            painter.translate(target.left() + target.right(), 0)
            painter.scale(-1, 1)
            painter.drawImage(target, self._image)
            painter.restore()
            if self._view is not None:
                for person in self._view.pose.in_view:
                    self._draw_person(painter, target, person)
        if self.paused:
            self._badge(painter, "PAUSED", QPointF(target.left() + 12, target.top() + 12), WARN)
        if self.countdown:
            self._badge(painter, self.countdown, QPointF(target.left() + 12, target.top() + 48), BAD)
        text = self.overlay_text()
        if text:
            self._centre_message(painter, target, text)
        painter.end()

    def overlay_text(self) -> str | None:
        """The message over the video: a status (camera lost, video ended) first, then no person."""
        if self.message:
            return self.message
        if self._view is None:
            return "Waiting for the first frame..."
        return NO_PERSON if not self._view.pose.in_view else None

    def _point(self, target: QRectF, xy: np.ndarray) -> QPointF:
        return QPointF(
            target.left() + (1.0 - float(xy[0])) * target.width(),
            target.top() + float(xy[1]) * target.height(),
        )

    def _draw_person(self, painter: QPainter, target: QRectF, person: PersonPose) -> None:
        colour = QColor(TRACK_COLOURS[person.track_id % len(TRACK_COLOURS)])
        xy = person.image_xy
        if not np.isfinite(xy).all():
            return
        width = max(2.0, target.height() / 160)
        painter.setPen(QPen(colour, width, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        for child, parent in NTU25_BONES:
            painter.drawLine(self._point(target, xy[child]), self._point(target, xy[parent]))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor("#ffffff"))
        for joint in xy:
            painter.drawEllipse(self._point(target, joint), width * 0.9, width * 0.9)
        tag = self.tags.get(person.track_id)
        if tag:
            head = self._point(target, xy[3])
            self._badge(painter, tag, QPointF(head.x() - 10, head.y() - 44), colour.name())

    def _badge(self, painter: QPainter, text: str, at: QPointF, colour: str) -> None:
        font = QFont(self.font())
        font.setPointSizeF(12)
        font.setBold(True)
        painter.setFont(font)
        metrics = painter.fontMetrics()
        rect = QRectF(at.x(), at.y(), metrics.horizontalAdvance(text) + 16, metrics.height() + 8)
        path = QPainterPath()
        path.addRoundedRect(rect, 6, 6)
        painter.fillPath(path, QColor(colour))
        painter.setPen(QColor("#101215"))
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)

    def _centre_message(self, painter: QPainter, target: QRectF, text: str) -> None:
        font = QFont(self.font())
        font.setPointSizeF(15)
        painter.setFont(font)
        metrics = painter.fontMetrics()
        w, h = metrics.horizontalAdvance(text) + 40, metrics.height() + 24
        rect = QRectF(target.center().x() - w / 2, target.bottom() - h - 24, w, h)
        path = QPainterPath()
        path.addRoundedRect(rect, 10, 10)
        painter.fillPath(path, QColor(0, 0, 0, 170))
        painter.setPen(QColor(TEXT))
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)


class ScoreBars(QWidget):
    """Every active label with its smoothed score as a bar, best first."""

    ROW = 30

    def __init__(self) -> None:
        super().__init__()
        self.scores: list[tuple[str, float]] = []
        self.top: str | None = None
        self.dimmed = False
        self.setMinimumHeight(self.ROW * 4)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_scores(self, scores: list[tuple[str, float]], top: str | None, dimmed: bool) -> None:
        self.scores, self.top, self.dimmed = scores, top, dimmed
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rows = max(1, self.height() // self.ROW)
        best = max((s for _, s in self.scores), default=1.0) or 1.0
        metrics = painter.fontMetrics()
        for i, (label, score) in enumerate(self.scores[:rows]):
            y = i * self.ROW
            is_top = label == self.top and not self.dimmed
            colour = QColor(ACCENT if is_top else "#5d6b80")
            if self.dimmed:
                colour = QColor("#454c58")
            track = QRectF(0, y + 20, self.width() - 2, 6)
            bar = QRectF(0, y + 20, max(4.0, (self.width() - 2) * score / best), 6)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(RAISED))
            painter.drawRoundedRect(track, 3, 3)
            painter.setBrush(colour)
            painter.drawRoundedRect(bar, 3, 3)
            painter.setPen(QColor(TEXT if is_top else MUTED))
            name = metrics.elidedText(label, Qt.TextElideMode.ElideRight, self.width() - 60)
            painter.drawText(QRectF(0, y, self.width() - 60, 18), Qt.AlignmentFlag.AlignVCenter, name)
            painter.drawText(
                QRectF(self.width() - 60, y, 58, 18),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                f"{score * 100:.0f}%",
            )
        painter.end()


class ExampleRecorder:
    """One "Record example": a countdown, then the featured person's joints for ``seconds``.

    The GUI feeds it every view it shows; frames are kept by their capture time (paced recordings
    are stamped when each frame is due) and resampled to EXAMPLE_HZ, the rate windows are built at.
    The first person featured while recording is followed to the end.
    """

    def __init__(self, label: str, countdown_s: float = COUNTDOWN_S, seconds: float = RECORD_S) -> None:
        self.label = label
        self.seconds = seconds
        self.start = time.monotonic() + countdown_s
        self.track: int | None = None
        self.times: list[float] = []
        self.joints: list[np.ndarray] = []
        self._last_index: int | None = None

    def phase(self) -> tuple[str, float]:
        """("countdown", seconds left), ("recording", seconds left) or ("done", 0)."""
        now = time.monotonic()
        if now < self.start:
            return "countdown", self.start - now
        if now < self.start + self.seconds:
            return "recording", self.start + self.seconds - now
        return "done", 0.0

    def feed(self, view: View | None, featured: int | None) -> None:
        if view is None or self.phase()[0] != "recording" or view.pose.frame_index == self._last_index:
            return
        self._last_index = view.pose.frame_index
        if self.track is None:
            self.track = featured
        person = next((p for p in view.pose.persons if p.track_id == self.track), None)
        t = view.pose.t_capture  # a replay's media time jumps back when it loops; capture time does not
        if person is not None and (not self.times or t > self.times[-1]):
            self.times.append(t)
            self.joints.append(np.asarray(person.joints, np.float32))

    def skeleton(self, source: str) -> Skeleton:
        """The example, resampled on its own clock; ExampleError when too little of a person was seen."""
        span = self.times[-1] - self.times[0] if len(self.times) > 1 else 0.0
        if span < MIN_EXAMPLE_S:
            raise ExampleError(
                f"no example stored: a person was seen for {span:.1f} s of the {self.seconds:.0f} s "
                f"(at least {MIN_EXAMPLE_S:.0f} s are needed); stay in view and try again"
            )
        times = np.asarray(self.times)
        flat = np.stack(self.joints).reshape(len(times), -1)
        grid = np.arange(times[0], times[-1] + 1e-9, 1.0 / EXAMPLE_HZ)
        joints = np.stack([np.interp(grid, times, flat[:, k]) for k in range(flat.shape[1])], axis=1)
        meta = {"recorded": time.strftime("%Y-%m-%d %H:%M:%S"), "from": source, "track": str(self.track)}
        return Skeleton.from_single(joints.reshape(len(grid), 25, 3), EXAMPLE_HZ, label=self.label, meta=meta)


class ExamplePlayer(QWidget):
    """Plays a stored example back as a stick figure, seen as the camera saw it (mirrored, like the video)."""

    def __init__(self) -> None:
        super().__init__()
        self.setMinimumSize(60, 60)
        self.xy: np.ndarray | None = None  # (T, 25, 2) normalised image coordinates of the clip
        self.frame = 0
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._step)

    @property
    def playing(self) -> bool:
        return self._timer.isActive()

    def play(self, skeleton: Skeleton) -> None:
        joints = skeleton.joints[:, 0]
        # Seen from 3 m in front, whatever origin the clip has (a camera's, a data set's hips).
        self.xy = project(joints - joints[:1, :1] * np.array([1, 0, 1], np.float32) + [0.0, 0.0, 3.0])
        self.frame = 0
        self._timer.start(int(1000 / skeleton.fps))
        self.update()

    def stop(self) -> None:
        self._timer.stop()
        self.xy = None
        self.update()

    def _step(self) -> None:
        if self.xy is None or self.frame + 1 >= len(self.xy):
            self._timer.stop()
        else:
            self.frame += 1
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), QColor("#0b0c0f"))
        if self.xy is not None:
            lo, hi = self.xy.reshape(-1, 2).min(0), self.xy.reshape(-1, 2).max(0)
            size = max(float((hi - lo).max()), 1e-3)
            side = min(self.width(), self.height()) - 12

            def at(p: np.ndarray) -> QPointF:  # mirrored, fitted, centred
                return QPointF(
                    self.width() / 2 - ((p[0] - (lo[0] + hi[0]) / 2) / size) * side,
                    self.height() / 2 + ((p[1] - (lo[1] + hi[1]) / 2) / size) * side,
                )

            pose = self.xy[self.frame]
            painter.setPen(QPen(QColor(ACCENT), 2.0, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
            for child, parent in NTU25_BONES:
                painter.drawLine(at(pose[child]), at(pose[parent]))
        painter.end()


class ExampleCountDelegate(QStyledItemDelegate):
    """Draws each label as usual plus, right-aligned, how many examples teach it."""

    def __init__(self, count: Callable[[str], int], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.count = count

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        super().paint(painter, option, index)
        n = self.count(index.data())
        if n:
            painter.save()
            painter.setPen(QColor(ACCENT))
            rect = QRectF(option.rect).adjusted(0, 0, -8, 0)
            text = f"{n} example{'s' if n > 1 else ''}"
            painter.drawText(rect, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, text)
            painter.restore()


class PredictionInbox:
    """The GUI's pipeline sink: predictions land here on the model thread, the timer takes them."""

    def __init__(self) -> None:
        self._items: deque[Prediction] = deque(maxlen=256)
        self.received = 0

    def __call__(self, prediction: Prediction) -> None:
        self._items.append(prediction)
        self.received += 1

    def take(self) -> list[Prediction]:
        out = []
        while self._items:
            out.append(self._items.popleft())
        return out


def _panel() -> tuple[QFrame, QVBoxLayout]:
    frame = QFrame()
    frame.setObjectName("panel")
    layout = QVBoxLayout(frame)
    layout.setContentsMargins(14, 12, 14, 12)
    layout.setSpacing(8)
    return frame, layout


def _caption(text: str) -> QLabel:
    label = QLabel(text.upper())
    label.setObjectName("caption")
    return label


class MainWindow(QMainWindow):
    """The whole app on screen. Besides its widgets it holds the user's side of a run: the action list
    (a LabelSet, saved to the config folder on each edit and handed to the pipeline), the taught
    examples (an ExampleStore), the optional annotated video output, and the pipeline's lifetime
    (started in :meth:`start`, stopped on close). The model and the camera stay in the pipeline."""

    def __init__(
        self,
        pipeline: Pipeline,
        inbox: PredictionInbox,
        labels: list[str],
        banner: str | None = None,
        config_dir: Path | None = None,
        kind: str = "video",
        examples: ExampleStore | None = None,
    ) -> None:
        super().__init__()
        self.kind = kind
        self.examples = examples if examples is not None else ExampleStore(config_dir)
        self.video_output: AnnotatedVideoWriter | None = None
        self.pipeline = pipeline
        self.inbox = inbox
        self.label_set = LabelSet(labels)
        self.config_dir = config_dir
        self.latest: dict[int | None, Prediction] = {}
        self._shown: View | None = None
        self.status_text: str | None = None
        self.setWindowTitle(f"Neuron Live: {pipeline.source.name}")
        self.resize(1280, 760)

        self.video = VideoView()
        self.banner = QLabel(banner or "")
        self.banner.setObjectName("banner")
        self.banner.setVisible(bool(banner))
        self.pause_button = QPushButton("Pause")
        self.pause_button.setToolTip("Pause or resume the video (Space)")
        self.pause_button.clicked.connect(self.toggle_pause)
        top_bar = QHBoxLayout()
        source = QLabel(pipeline.source.name)
        source.setObjectName("caption")
        top_bar.addWidget(source)
        top_bar.addStretch(1)
        top_bar.addWidget(self.banner)
        top_bar.addStretch(1)
        top_bar.addWidget(self.pause_button)

        self.stats = {key: QLabel() for key in ("fps", "pose", "model", "latency", "dropped")}
        self.stats["dropped"].setToolTip(
            "frames the pose stage was too busy for (the newest frame always wins)"
        )
        stats_bar = QHBoxLayout()
        for label in self.stats.values():
            label.setObjectName("stat")
            stats_bar.addWidget(label)
        stats_bar.addStretch(1)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addLayout(top_bar)
        left_layout.addWidget(self.video, 1)
        left_layout.addLayout(stats_bar)

        top_panel, top_layout = _panel()
        top_layout.addWidget(_caption("Action now"))
        self.top_label = QLabel("...")
        self.top_label.setObjectName("top")
        self.top_score = QLabel("")
        self.top_score.setObjectName("topScore")
        top_layout.addWidget(self.top_label)
        top_layout.addWidget(self.top_score)

        scores_panel, scores_layout = _panel()
        scores_layout.addWidget(_caption("Scores"))
        self.bars = ScoreBars()
        scores_layout.addWidget(self.bars, 1)
        scores_layout.addWidget(_caption("Scores over time"))
        self.timeline = TimelineWidget()
        self.timeline.setToolTip("The featured person's scores over the last seconds (best labels now)")
        scores_layout.addWidget(self.timeline)
        self._timeline_track: int | None = None

        labels_panel, labels_layout = _panel()
        labels_layout.addWidget(_caption("Actions to recognise"))
        entry = QHBoxLayout()
        self.entry = QLineEdit()
        self.entry.setPlaceholderText("e.g. drink water")
        self.entry.setToolTip("Type an action name and press Enter to recognise it too")
        self.entry.returnPressed.connect(self.add_from_entry)
        self.add_button = QPushButton("Add")
        self.add_button.clicked.connect(self.add_from_entry)
        entry.addWidget(self.entry, 1)
        entry.addWidget(self.add_button)
        labels_layout.addLayout(entry)
        self.message = QLabel("")
        self.message.setObjectName("message")
        self.message.setWordWrap(True)
        labels_layout.addWidget(self.message)
        self.label_list = QListWidget()
        self.label_list.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.label_list.installEventFilter(self)
        self.label_list.setItemDelegate(ExampleCountDelegate(self.examples.count, self.label_list))
        self.label_list.currentItemChanged.connect(lambda *_: self._refresh_examples())
        labels_layout.addWidget(self.label_list, 1)
        label_buttons = QHBoxLayout()
        self.record_button = QPushButton("Record example")
        self.record_button.setToolTip(
            "Teach the selected (or typed) action by showing it: a countdown, then your next "
            f"{RECORD_S:.0f} s are kept as an example"
        )
        self.record_button.clicked.connect(self.record_example)
        self.remove_button = QPushButton("Remove selected")
        self.remove_button.setToolTip("Remove the selected actions (Delete)")
        self.remove_button.clicked.connect(self.remove_selected)
        label_buttons.addWidget(self.record_button)
        label_buttons.addWidget(self.remove_button)
        labels_layout.addLayout(label_buttons)

        examples_panel, examples_layout = _panel()
        self.examples_caption = _caption("Examples")
        examples_layout.addWidget(self.examples_caption)
        examples_row = QHBoxLayout()
        self.example_list = QListWidget()
        self.example_list.setMaximumHeight(76)
        self.player = ExamplePlayer()
        self.player.setFixedSize(76, 76)
        examples_row.addWidget(self.example_list, 1)
        examples_row.addWidget(self.player)
        examples_layout.addLayout(examples_row)
        example_buttons = QHBoxLayout()
        self.play_button = QPushButton("Play")
        self.play_button.clicked.connect(self.play_example)
        self.remove_example_button = QPushButton("Remove example")
        self.remove_example_button.clicked.connect(self.remove_example)
        example_buttons.addWidget(self.play_button)
        example_buttons.addWidget(self.remove_example_button)
        examples_layout.addLayout(example_buttons)
        self.recorder: ExampleRecorder | None = None
        self.countdown_s, self.record_s = COUNTDOWN_S, RECORD_S

        right = QWidget()
        right.setMinimumWidth(330)
        right.setMaximumWidth(460)
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.setSpacing(10)
        right_layout.addWidget(top_panel)
        right_layout.addWidget(scores_panel, 1)
        right_layout.addWidget(labels_panel, 2)
        right_layout.addWidget(examples_panel)

        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 1)
        central = QWidget()
        central.setObjectName("central")
        layout = QHBoxLayout(central)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.addWidget(splitter)
        self.setCentralWidget(central)

        self._refresh_label_list()
        self._refresh_examples()
        self._update_stats()
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.refresh)

    # -- running -------------------------------------------------------------------------------

    def start(self) -> None:
        self.pipeline.start()
        self.timer.start(REFRESH_MS)

    def refresh(self) -> None:
        """One GUI tick: newest frame, new predictions, status messages, numbers."""
        view = self.pipeline.view()
        if view is not None and view is not self._shown:
            self._shown = view
            self.video.set_view(view)
        for status in self.pipeline.poll_status():
            self._on_status(status.kind, status.message)
        fresh = self.inbox.take()
        for prediction in fresh:
            self.latest[prediction.track_id] = prediction
            self._add_to_timeline(prediction)
        if fresh:
            self._show_predictions()
        if self.recorder is not None:
            self._tick_recording(view)
        self._update_stats()

    def _on_status(self, kind: str, message: str) -> None:
        if kind == "camera_lost":
            self.status_text = f"Camera lost: retrying... ({message})"
        elif kind == "camera_back":
            self.status_text = None
        elif kind == "ended":
            self.status_text = ENDED.get(self.kind, "Source ended")
        elif kind == "error":
            self.status_text = f"Error: {message}"
        elif kind == "warning":  # a dropped frame or window: shown for a while, the video goes on
            self.statusBar().showMessage(f"Warning: {message}", WARNING_MS)
        self.video.message = self.status_text

    def _primary(self) -> Prediction | None:
        """The prediction to feature: the lowest track id still in view, else the 'nobody' state."""
        view = self.pipeline.view()
        in_view = sorted(p.track_id for p in view.pose.in_view) if view else []
        for track in in_view:
            if track in self.latest:
                return self.latest[track]
        return self.latest.get(None) if not in_view else None

    def _show_predictions(self) -> None:
        self.video.tags = {
            track: pred.top
            for track, pred in self.latest.items()
            if track is not None and pred.top is not None
        }
        pred = self._primary()
        if pred is None:
            return
        if pred.state == "absent":
            self.top_label.setText("no action")
            self.top_score.setText("nobody in view")
        elif pred.state == "still":
            self.top_label.setText("no action")
            self.top_score.setText("standing still")
        elif not pred.scores:
            self.top_label.setText("...")
            self.top_score.setText("no actions to score: add one below")
        else:
            score = dict(pred.scores).get(pred.top or "", 0.0)
            self.top_label.setText(pred.top or "...")
            self.top_score.setText(f"{score * 100:.0f}%  person {pred.track_id}")
        colour = MUTED if pred.no_action else ACCENT
        self.top_label.setStyleSheet(f"color: {colour};")
        self.bars.set_scores(pred.scores, pred.top, pred.no_action)

    def _update_stats(self) -> None:
        stats = self.pipeline.stats()
        self.stats["fps"].setText(f"{stats.fps:5.1f} fps")
        self.stats["pose"].setText(f"pose {stats.pose_ms:5.1f} ms")
        self.stats["model"].setText(f"model {stats.model_ms:5.1f} ms")
        self.stats["latency"].setText(f"latency {stats.latency_ms:6.1f} ms")
        self.stats["dropped"].setText(f"frames skipped {stats.dropped_frames}")

    def toggle_pause(self) -> None:
        if self.pipeline.paused:
            self.pipeline.resume()
        else:
            self.pipeline.pause()
        self.video.paused = self.pipeline.paused
        self.pause_button.setText("Resume" if self.pipeline.paused else "Pause")
        self.video.update()

    # -- labels --------------------------------------------------------------------------------

    def add_from_entry(self) -> bool:
        """Add the typed action; a refused one stays in the box with the reason shown."""
        try:
            label = self.label_set.add(self.entry.text())
        except LabelError as exc:
            self.message.setText(str(exc))
            return False
        self.entry.clear()
        # Added all the same (the user may know better), but said plainly where it cannot work.
        encoder = getattr(getattr(self.pipeline.recognizer, "encoder", None), "name", "")
        self.message.setText(unreadable_label(label, encoder) or "")
        self._labels_changed()
        self._select(label)
        return True

    def remove_selected(self) -> None:
        selected = [item.text() for item in self.label_list.selectedItems()]
        if not selected:
            self.message.setText("select an action in the list to remove it")
            return
        for label in selected:
            self.label_set.remove(label)
        self.message.setText("")
        self._labels_changed()

    @property
    def labels(self) -> list[str]:
        return self.label_set.list()

    def _labels_changed(self) -> None:
        labels = self.label_set.list()
        self.pipeline.set_labels(labels)
        self._refresh_label_list()
        try:
            save_labels(labels, self.config_dir)
        except OSError as exc:
            self.message.setText(f"could not save the action list: {exc.strerror or exc}")

    def _refresh_label_list(self) -> None:
        self.label_list.clear()
        self.label_list.addItems(self.label_set.list())
        if not len(self.label_set):
            self.message.setText("no actions: type one above to start recognising")

    def _select(self, label: str) -> None:
        for item in self.label_list.findItems(label, Qt.MatchFlag.MatchExactly):
            self.label_list.setCurrentItem(item)

    # -- score timeline --------------------------------------------------------------------------

    def _add_to_timeline(self, pred: Prediction) -> None:
        """The featured person's scores over time; another person featured starts a new plot."""
        featured = self._primary()
        track = featured.track_id if featured is not None else None
        if pred.track_id is None:
            self.timeline.history.gap(pred.frame_time)
        elif pred.track_id == track:
            if track != self._timeline_track:
                self.timeline.history.clear()
                self._timeline_track = track
            self.timeline.history.add(pred.frame_time, pred.scores)
        self.timeline.update()

    # -- examples ------------------------------------------------------------------------------

    def selected_label(self) -> str | None:
        item = self.label_list.currentItem()
        return item.text() if item is not None and item.isSelected() else None

    def record_example(self) -> bool:
        """Start teaching by example: the typed action (added first) or the selected one."""
        if self.recorder is not None:
            self.message.setText("already recording an example")
            return False
        if self.entry.text().strip():
            if not self.add_from_entry():
                return False
        label = self.selected_label()
        if label is None:
            self.message.setText("select an action (or type a new one) to record an example of it")
            return False
        self.recorder = ExampleRecorder(label, self.countdown_s, self.record_s)
        self.record_button.setEnabled(False)
        self.message.setText("")
        self._tick_recording(self.pipeline.view())
        return True

    def _tick_recording(self, view: View | None) -> None:
        recorder = self.recorder
        phase, left = recorder.phase()
        featured = self._primary()  # the person the ranking shows, else the first one in view
        in_view = sorted(p.track_id for p in view.pose.in_view) if view is not None else []
        track = featured.track_id if featured is not None else (in_view[0] if in_view else None)
        recorder.feed(view, track)
        if phase == "countdown":
            self.video.countdown = f"Get ready: {recorder.label!r} in {left:.0f}"
        elif phase == "recording":
            self.video.countdown = f"\u25cf Recording {recorder.label!r}  {left:.1f} s"
        else:
            self.recorder = None
            self.video.countdown = None
            self.record_button.setEnabled(True)
            self._store_example(recorder)
        self.video.update()

    def _store_example(self, recorder: ExampleRecorder) -> None:
        try:
            skeleton = recorder.skeleton(self.pipeline.source.name)
            self.examples.add(skeleton)
        except ExampleError as exc:
            self.message.setText(str(exc))
            return
        except OSError as exc:
            self.message.setText(f"could not save the example: {exc.strerror or exc}")
            return
        count = self._teach(recorder.label)
        self.statusBar().showMessage(f"Example {count} of {recorder.label!r} saved", WARNING_MS)

    def _teach(self, label: str) -> int:
        """Hand the label's examples to the recogniser; refresh the counts shown."""
        count = self.examples.teach(self.pipeline.recognizer, label)
        self.label_list.viewport().update()
        self._refresh_examples()
        return count

    def _shown_examples(self) -> list[Example]:
        label = self.selected_label()
        return self.examples.of(label) if label else []

    def _refresh_examples(self) -> None:
        label = self.selected_label()
        shown = self._shown_examples()
        self.examples_caption.setText(
            (f"Examples of {label!r}: {len(shown)}" if label else "Examples: select an action").upper()
        )
        self.example_list.clear()
        for i, ex in enumerate(shown, 1):
            where = "recorded" if ex.own else f"from {ex.path.parent.name}/"
            self.example_list.addItem(f"{i}.  {ex.seconds:.1f} s, {where}")
        if shown:
            self.example_list.setCurrentRow(len(shown) - 1)
        self.play_button.setEnabled(bool(shown))
        self.remove_example_button.setEnabled(bool(shown))

    def _current_example(self) -> Example | None:
        shown, row = self._shown_examples(), self.example_list.currentRow()
        return shown[row] if 0 <= row < len(shown) else None

    def play_example(self) -> None:
        example = self._current_example()
        if example is not None:
            self.player.play(example.skeleton)

    def remove_example(self) -> None:
        example = self._current_example()
        if example is None:
            return
        try:
            self.examples.remove(example)
        except ExampleError as exc:
            self.message.setText(str(exc))
            return
        self.player.stop()
        self._teach(example.label)

    # -- Qt events -----------------------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.label_list and event.type() == event.Type.KeyPress:
            if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
                self.remove_selected()
                return True
        return super().eventFilter(watched, event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space:
            self.toggle_pause()
            return
        super().keyPressEvent(event)

    def close_video_output(self) -> None:
        """Finish the --output video (once the pipeline has stopped feeding it)."""
        if self.video_output is not None:
            self.video_output.close()
            self.video_output = None

    def closeEvent(self, event: QCloseEvent) -> None:
        self.timer.stop()
        self.pipeline.stop()
        self.close_video_output()
        super().closeEvent(event)


def apply_dark_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    palette = QPalette()
    for role, colour in (
        (QPalette.ColorRole.Window, BG),
        (QPalette.ColorRole.WindowText, TEXT),
        (QPalette.ColorRole.Base, RAISED),
        (QPalette.ColorRole.AlternateBase, PANEL),
        (QPalette.ColorRole.Text, TEXT),
        (QPalette.ColorRole.Button, RAISED),
        (QPalette.ColorRole.ButtonText, TEXT),
        (QPalette.ColorRole.Highlight, "#2f4a5c"),
        (QPalette.ColorRole.HighlightedText, TEXT),
        (QPalette.ColorRole.ToolTipBase, PANEL),
        (QPalette.ColorRole.ToolTipText, TEXT),
        (QPalette.ColorRole.PlaceholderText, MUTED),
    ):
        palette.setColor(role, QColor(colour))
    app.setPalette(palette)
    app.setStyleSheet(STYLE)


def application() -> QApplication:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Neuron Live")
    apply_dark_theme(app)
    return app


def create_window(
    config: LiveConfig,
    inp: Input,
    recognizer: Recognizer,
    record: JsonLinesSink | None = None,
    config_dir: Path | None = None,
    examples: ExampleStore | None = None,
) -> MainWindow:
    """Build the pipeline with the window's inbox (and the record file, the --output video) as sinks,
    and the window. ``examples`` already taught to the recogniser; by default they are loaded now."""
    if examples is None:
        examples = apply_examples(recognizer, config.examples, config_dir)
    inbox = PredictionInbox()
    sinks = [inbox] + ([record] if record is not None else [])
    pipeline = build_pipeline(config, inp, recognizer, sinks)
    video = attach(config, inp, pipeline)
    window = MainWindow(pipeline, inbox, list(recognizer.labels), inp.banner, config_dir, inp.kind, examples)
    window.video_output = video
    return window


def run_gui(
    config: LiveConfig,
    inp: Input,
    recognizer: Recognizer,
    record: JsonLinesSink | None = None,
    examples: ExampleStore | None = None,
) -> int:
    app = application()
    window = create_window(config, inp, recognizer, record, examples=examples)
    # Ctrl-C in the terminal closes the window like its close button (the refresh timer lets
    # Python's signal handler run while Qt's loop waits).
    previous = {sig: signal.signal(sig, lambda *_: window.close()) for sig in (signal.SIGINT, signal.SIGTERM)}
    window.show()
    window.start()
    try:
        return app.exec()
    finally:
        window.pipeline.stop()
        window.close_video_output()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
