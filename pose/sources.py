"""Where frames come from: a camera, a video file or a folder of images, all behind one small interface.

Every frame is stamped with ``time.monotonic()`` the moment it is captured, so latency can be
measured end to end and stale frames recognised downstream. :class:`LatestFrameGrabber` decouples a
fast source from a slow consumer by keeping only the newest frame: the pipeline always works on the
present and memory never grows.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np

from pose.errors import SourceError

log = logging.getLogger(__name__)

# OpenCV and the FFmpeg inside it print their own warnings straight to stderr (a missing camera,
# every damaged macroblock of a truncated video). Each problem that matters reaches the user as one
# SourceError line instead, so keep the native chatter off unless the user asked for it. FFmpeg reads
# its level once, at the first video opened, hence at import.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
if "OPENCV_LOG_LEVEL" not in os.environ:
    cv2.setLogLevel(0)  # silent

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
DEFAULT_FPS = 30.0


@dataclass
class Frame:
    """One captured image. ``t_capture`` is ``time.monotonic()`` when it was read; ``t_media`` its
    position in seconds within a recording (None for a live camera)."""

    image: np.ndarray  # BGR uint8 (H, W, 3)
    index: int
    t_capture: float
    t_media: float | None = None


class FrameSource(ABC):
    """A stream of frames that ends (``read`` returns None) or goes on until closed.

    ``fps`` is the nominal rate; ``frame_count`` the number of frames where known in advance (for
    progress bars); ``name`` a short description for messages.
    """

    fps: float = DEFAULT_FPS
    name: str = ""
    frame_count: int | None = None

    def __init__(self) -> None:
        # Set by interrupt(): wakes a paced read() so a reader thread can stop without delay.
        self._wake = threading.Event()

    @abstractmethod
    def read(self) -> Frame | None:
        """The next frame, or None when the source has ended. Raises SourceError when it breaks."""

    def close(self) -> None:
        """Release the device or file; safe to call twice. Subclasses holding one extend this."""
        self.interrupt()

    def interrupt(self) -> None:
        """Cut short any wait inside ``read`` (real-time pacing); used by threads that want to stop."""
        self._wake.set()

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __iter__(self):
        while (frame := self.read()) is not None:
            yield frame


class _PacedSource(FrameSource):
    """A recording that can be played at its own rate (``realtime``) or as fast as it decodes."""

    def __init__(self, fps: float, realtime: bool) -> None:
        super().__init__()
        self.fps = fps
        self.realtime = realtime
        self._index = 0
        self._t_start: float | None = None

    def _stamp(self, image: np.ndarray) -> Frame:
        """Wait (when real-time) until this frame is due, then stamp it."""
        t_media = self._index / self.fps
        if self.realtime:
            now = time.monotonic()
            if self._t_start is None:
                self._t_start = now
            delay = self._t_start + t_media - now
            if delay > 0 and self._wake.wait(delay):
                self._wake.clear()  # interrupted: this read returns now, later ones are paced again
        frame = Frame(image, self._index, time.monotonic(), t_media)
        self._index += 1
        return frame


class CameraSource(FrameSource):
    """A local camera by index. Opening it reads (and drops) one frame, so a camera that opens but
    delivers nothing fails here rather than later in the pipeline."""

    def __init__(self, index: int, width: int | None = None, height: int | None = None) -> None:
        super().__init__()
        self.name = f"camera {index}"
        self._cap = cv2.VideoCapture(index)
        if not self._cap.isOpened():
            self._cap.release()
            raise SourceError(f"{self.name}: cannot be opened (no such camera, or it is in use)")
        if width:
            self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        if height:
            self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if np.isfinite(fps) and 1.0 <= fps <= 240.0 else DEFAULT_FPS
        self._index = 0
        if not self._cap.read()[0]:
            self._cap.release()
            raise SourceError(f"{self.name}: opens but delivers no frames")

    def read(self) -> Frame | None:
        ok, image = self._cap.read()
        if not ok or image is None:
            raise SourceError(f"{self.name}: stopped delivering frames")
        frame = Frame(image, self._index, time.monotonic(), None)
        self._index += 1
        return frame

    def close(self) -> None:
        super().close()
        self._cap.release()


class VideoSource(_PacedSource):
    """A video file. ``realtime`` plays it at its own frame rate (as a camera would deliver it);
    otherwise frames come as fast as they decode (conversion, tests).

    Opening checks that the file is a video OpenCV decodes and that its last frame is reachable, so
    a truncated download is reported at once, not after minutes of processing.
    """

    def __init__(self, path: str | os.PathLike, realtime: bool = False) -> None:
        path = Path(path)
        self.name = str(path)
        if not path.exists():
            raise SourceError(f"{path}: file not found")
        if not path.is_file():
            raise SourceError(f"{path}: not a file")
        if path.stat().st_size == 0:
            raise SourceError(f"{path}: the file is empty")
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"{path}: not a video that OpenCV can read")
        fps = cap.get(cv2.CAP_PROP_FPS)
        super().__init__(float(fps) if np.isfinite(fps) and 0.1 <= fps <= 1000.0 else DEFAULT_FPS, realtime)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.frame_count = count if count > 0 else None
        self._cap = cap
        try:
            self._check_complete(path)
        except SourceError:
            cap.release()
            raise

    def _check_complete(self, path: Path) -> None:
        """Decode the first frame and one near the last that the header promises.

        A truncated file fails the second. Headers of some containers only estimate the count, so
        the last few frames may be missing without the file being damaged: that is tolerated.
        """
        probe = cv2.VideoCapture(str(path))
        try:
            ok, _ = probe.read()
            if not ok:
                raise SourceError(f"{path}: holds no decodable video frames")
            if self.frame_count and self.frame_count > 1:
                probe.set(cv2.CAP_PROP_POS_FRAMES, self._last_expected())
                ok, _ = probe.read()
                if not ok:
                    raise SourceError(
                        f"{path}: truncated or damaged: frame {self._last_expected() + 1} of the "
                        f"{self.frame_count} its header promises cannot be read"
                    )
        finally:
            probe.release()

    def _last_expected(self) -> int:
        """Index of the last frame that must be readable: the header's count less a small slack."""
        count = self.frame_count or 0
        return max(count - 1 - max(2, count // 50), 0)

    def read(self) -> Frame | None:
        ok, image = self._cap.read()
        if not ok or image is None:
            if self.frame_count and self._index <= self._last_expected():
                log.warning("%s: ended after %d of %d frames", self.name, self._index, self.frame_count)
            return None
        return self._stamp(image)

    def close(self) -> None:
        super().close()
        self._cap.release()


def _natural_key(path: Path) -> list[int | str]:
    """Sort frame2.png before frame10.png."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


class ImageFolderSource(_PacedSource):
    """The images of a folder in natural name order, as frames of a video at ``fps``."""

    def __init__(self, path: str | os.PathLike, fps: float = DEFAULT_FPS, realtime: bool = False) -> None:
        path = Path(path)
        self.name = str(path)
        if not path.is_dir():
            raise SourceError(f"{path}: not a folder")
        if not (np.isfinite(fps) and fps > 0):
            raise SourceError(f"{path}: frame rate must be positive, got {fps}")
        images = (p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        self._files = sorted(images, key=_natural_key)
        if not self._files:
            raise SourceError(f"{path}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in the folder")
        super().__init__(float(fps), realtime)
        self.frame_count = len(self._files)

    def read(self) -> Frame | None:
        if self._index >= len(self._files):
            return None
        file = self._files[self._index]
        image = cv2.imread(str(file), cv2.IMREAD_COLOR)
        if image is None:
            raise SourceError(f"{file}: not an image OpenCV can read")
        return self._stamp(image)


def open_source(spec: str, realtime: bool = False, fps: float = DEFAULT_FPS) -> FrameSource:
    """Open what the user typed: a camera index ("0"), a video file or an image folder.

    ``realtime`` paces recordings at their own rate; ``fps`` is the rate given to image folders.
    """
    spec = str(spec).strip()
    if spec.isdigit():
        return CameraSource(int(spec))
    path = Path(spec).expanduser()
    if path.is_dir():
        return ImageFolderSource(path, fps, realtime)
    if path.exists():
        return VideoSource(path, realtime)
    raise SourceError(f"{spec}: no such file or folder, and not a camera index")


class LatestFrameGrabber:
    """Reads a source on its own thread and keeps only the newest frame.

    A consumer slower than the source (pose estimation on a busy CPU) then always receives the most
    recent frame, the older ones are counted in ``dropped`` and forgotten: one slot, never a queue.
    A SourceError raised by the source on the thread is raised again by ``get``. The thread starts
    at construction; ``stop`` ends it within a second. The caller still owns (and closes) the source.
    """

    def __init__(self, source: FrameSource) -> None:
        self.source = source
        self.dropped = 0
        self.captured = 0
        self._slot: Frame | None = None
        self._ended = False
        self._error: SourceError | None = None
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=f"grab {source.name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                frame = self.source.read()
                if frame is None:
                    break
                with self._cond:
                    if self._slot is not None:
                        self.dropped += 1
                    self._slot = frame
                    self.captured += 1
                    self._cond.notify_all()
        except SourceError as exc:
            self._error = exc
        except Exception as exc:  # a backend failure must still reach the consumer, as one line
            self._error = SourceError(f"{self.source.name}: {type(exc).__name__}: {exc}")
        finally:
            with self._cond:
                self._ended = True
                self._cond.notify_all()

    @property
    def finished(self) -> bool:
        """The source has ended (or failed, or was stopped) and no frame is waiting."""
        with self._cond:
            return self._ended and self._slot is None

    def get(self, timeout: float | None = None) -> Frame | None:
        """The newest frame not yet returned; waits up to ``timeout`` seconds for one.

        Returns None on timeout or when the source has ended (``finished`` tells them apart).
        """
        with self._cond:
            self._cond.wait_for(lambda: self._slot is not None or self._ended, timeout)
            frame, self._slot = self._slot, None
            if frame is None and self._error is not None:
                raise self._error
            return frame

    def stop(self, timeout: float = 1.0) -> None:
        """End the thread (waiting up to ``timeout`` seconds) and discard any frame not yet taken."""
        self._stop.set()
        self.source.interrupt()
        self._thread.join(timeout)
        with self._cond:
            self._slot = None
        if self._thread.is_alive():
            log.warning("%s: reader thread still blocked after %.1f s", self.source.name, timeout)

    def __enter__(self) -> LatestFrameGrabber:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
