"""``--output OUT.mp4``: the run's video with skeletons, track ids and ranked labels drawn on it.

The writer sits beside the pose stage: it wraps the pose estimator, so it sees every frame the
pipeline processes together with that frame's persons, in order, and it is a prediction sink, so it
knows each person's latest ranking. A frame is drawn with the rankings known when its pose was found
(at most one prediction step behind, as on screen). A recording (``--video``) is processed frame by
frame (as with ``--fast``), so the output has exactly the source's frames at the source's rate; a
camera drops frames the pose stage had no time for, and the writer repeats the previous frame in their
place so the output keeps the camera's rate and real time. OpenCV writes it: mp4v for ``.mp4``, MJPG
for ``.avi`` (H.264 writing does not work with the OpenCV wheels here).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
from tqdm import tqdm

from app.pipeline import Estimator, Prediction
from neuron_base.errors import NeuronLiveError
from pose.estimator import PoseResult
from pose.layouts import NTU25_BONES
from pose.sources import Frame

if TYPE_CHECKING:
    from app.config import LiveConfig
    from app.pipeline import Pipeline
    from app.session import Input

log = logging.getLogger(__name__)

CODECS = {".mp4": "mp4v", ".avi": "MJPG"}
TRACK_COLOURS_BGR = ((255, 207, 60), (71, 181, 255), (107, 255, 157), (217, 122, 255))
SHOWN_LABELS = 3


class VideoOutputError(NeuronLiveError):
    """The annotated video cannot be written where asked."""


def _open(path: Path, fps: float, size: tuple[int, int]) -> cv2.VideoWriter:
    codec = CODECS.get(path.suffix.lower())
    if codec is None:
        raise VideoOutputError(f"{path}: use a .mp4 (mp4v) or .avi (MJPG) file name")
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), float(fps), size)
    if not writer.isOpened():
        writer.release()
        raise VideoOutputError(f"{path}: cannot write a {codec} video there")
    return writer


def check_output(path: Path) -> None:
    """Fail now, before anything runs, if ``path`` cannot take a video (missing folder, no permission)."""
    if not path.parent.is_dir():
        raise VideoOutputError(f"{path}: the folder {path.parent} does not exist")
    if path.is_dir():
        raise VideoOutputError(f"{path}: is a folder, not a video file name")
    existed = path.exists()
    _open(path, 30.0, (64, 64)).release()
    if not existed:
        path.unlink(missing_ok=True)


def _pixel(xy: np.ndarray, width: int, height: int) -> tuple[int, int]:
    return int(round(float(xy[0]) * width)), int(round(float(xy[1]) * height))


def _text(image: np.ndarray, text: str, at: tuple[int, int], scale: float, colour, bg=None) -> None:
    """Text with a filled box behind it (``bg``) or a dark outline, readable on any frame."""
    thick = max(1, int(round(scale * 2)))
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    x, y = at
    if bg is not None:
        cv2.rectangle(image, (x - 4, y - h - 6), (x + w + 4, y + base + 2), bg, cv2.FILLED)
    else:
        cv2.putText(image, text, at, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
    cv2.putText(image, text, at, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thick, cv2.LINE_AA)


def _ranking(pred: Prediction) -> list[tuple[str, float]]:
    return [] if pred.state != "action" else pred.scores[:SHOWN_LABELS]


def draw(image: np.ndarray, result: PoseResult | None, predictions: dict[int, Prediction]) -> np.ndarray:
    """A copy of ``image`` (BGR) with each person's skeleton, track id and top labels drawn on it."""
    out = np.ascontiguousarray(image).copy()
    height, width = out.shape[:2]
    scale = max(0.4, height / 900)
    line = max(2, int(round(height / 300)))
    persons = result.in_view if result is not None else []
    for person in persons:
        colour = TRACK_COLOURS_BGR[person.track_id % len(TRACK_COLOURS_BGR)]
        if not np.isfinite(person.image_xy).all():
            continue
        xy = person.image_xy
        for child, parent in NTU25_BONES:
            cv2.line(out, _pixel(xy[child], width, height), _pixel(xy[parent], width, height), colour, line,
                     cv2.LINE_AA)  # fmt: skip
        for joint in person.image_xy:
            cv2.circle(out, _pixel(joint, width, height), line + 1, (255, 255, 255), cv2.FILLED, cv2.LINE_AA)
        pred = predictions.get(person.track_id)
        tag = f"#{person.track_id}"
        if pred is not None:
            tag += f" {pred.top}" if pred.top and pred.state == "action" else " no action"
        hx, hy = _pixel(person.image_xy[3], width, height)
        _text(out, tag, (max(4, hx - 20), max(20, hy - int(40 * scale))), scale, (16, 18, 21), colour)
    # The ranking panel, top left, on a dark veil: every person in view with their top labels and bars.
    ranked = [(p, predictions[p.track_id]) for p in sorted(persons, key=lambda p: p.track_id)
              if p.track_id in predictions]  # fmt: skip
    if not ranked:
        return out
    rows = sum(30 + 26 * len(_ranking(pred)) + 10 for _, pred in ranked)
    bottom, right = min(height, int((rows + 20) * scale)), min(width, int(520 * scale))
    out[:bottom, :right] = (out[:bottom, :right] * 0.45).astype(np.uint8)
    y = int(36 * scale)
    for person, pred in ranked:
        colour = TRACK_COLOURS_BGR[person.track_id % len(TRACK_COLOURS_BGR)]
        state = "" if pred.state == "action" else f" ({pred.state})"
        _text(out, f"person {person.track_id}{state}", (12, y), scale * 0.8, colour)
        y += int(30 * scale)
        for label, score in _ranking(pred):
            bar = int(200 * scale * float(score))
            cv2.rectangle(out, (12, y - int(14 * scale)), (12 + bar, y + 2), colour, cv2.FILLED)
            _text(out, f"{label} {score * 100:.0f}%", (16 + bar, y), scale * 0.7, (255, 255, 255))
            y += int(26 * scale)
        y += int(10 * scale)
    return out


class AnnotatedVideoWriter:
    """Draws and writes frames as the pose stage finishes them; a prediction sink for the rankings.

    ``live`` (a camera): frames are placed by their capture time at ``fps``, repeating the previous
    frame where the pose stage skipped some. ``total`` frames (a recording) drive a progress bar.
    """

    def __init__(self, path: Path, fps: float, total: int | None = None, live: bool = False) -> None:
        check_output(path)
        self.path = path
        self.fps = float(fps)
        self.live = live
        self.frames = 0
        self._writer: cv2.VideoWriter | None = None
        self._size: tuple[int, int] | None = None
        self._t0: float | None = None
        self._last: np.ndarray | None = None
        self._latest: dict[int, Prediction] = {}
        self._lock = threading.Lock()
        self._bar = tqdm(total=total, unit="frame", desc=f"writing {path.name}", disable=live, leave=False)

    def __call__(self, prediction: Prediction) -> None:
        """Prediction sink: remember each person's newest ranking ('nobody in view' clears them)."""
        with self._lock:
            if prediction.track_id is None:
                self._latest.clear()
            else:
                self._latest[prediction.track_id] = prediction

    def write(self, frame: Frame, result: PoseResult | None) -> None:
        """Draw ``frame`` with its persons and the rankings known now, and append it to the video."""
        with self._lock:
            latest = dict(self._latest)
        image = draw(frame.image, result, latest)
        if self._writer is None:
            self._size = (image.shape[1], image.shape[0])
            self._writer = _open(self.path, self.fps, self._size)
        if (image.shape[1], image.shape[0]) != self._size:
            image = cv2.resize(image, self._size)
        if self.live:
            if self._t0 is None:
                self._t0 = frame.t_capture
            due = int(round((frame.t_capture - self._t0) * self.fps))
            while self._last is not None and self.frames < due:  # frames the pose stage skipped
                self._put(self._last)
        self._put(image)

    def _put(self, image: np.ndarray) -> None:
        self._writer.write(image)
        self._last = image
        self.frames += 1
        self._bar.update(1)

    def wrap(self, estimator: Estimator) -> Estimator:
        """The estimator, with every frame it sees (found persons or not) written to the video."""
        return _Annotating(estimator, self)

    def close(self) -> None:
        self._bar.close()
        if self._writer is not None:
            self._writer.release()
            self._writer = None
            log.info("%s: %d frames written at %.2f fps", self.path, self.frames, self.fps)


class _Annotating:
    """An estimator that hands each frame and its result to the writer (also when pose fails)."""

    def __init__(self, inner: Estimator, writer: AnnotatedVideoWriter) -> None:
        self.inner = inner
        self.writer = writer

    def process(self, frame: Frame) -> PoseResult:
        try:
            result = self.inner.process(frame)
        except Exception:
            self.writer.write(frame, None)
            raise
        self.writer.write(frame, result)
        return result

    def close(self) -> None:
        self.inner.close()


def prepare(config: LiveConfig) -> None:
    """Before the pipeline is built: check the output, and process a video frame by frame."""
    if config.output is None:
        return
    check_output(config.output)
    if config.video is not None:
        config.fast = True


def attach(config: LiveConfig, inp: Input, pipeline: Pipeline) -> AnnotatedVideoWriter | None:
    """With ``--output``, put an annotated video writer on ``pipeline`` (before it starts)."""
    if config.output is None or pipeline.estimator is None:
        return None
    source = inp.source
    total = source.frame_count
    if total is not None and config.max_frames is not None:
        total = min(total, config.max_frames)
    writer = AnnotatedVideoWriter(
        config.output, getattr(source, "fps", 30.0) or 30.0, total, live=inp.kind == "camera"
    )
    pipeline.estimator = writer.wrap(pipeline.estimator)
    pipeline.sinks.append(writer)
    return writer
