"""Where frames come from: a camera, a video file or a folder of images, all behind one small interface.

Every frame is stamped with ``time.monotonic()`` the moment it is captured, so latency can be
measured end to end and stale frames recognised downstream. A recording's frames also carry their
position in it (``t_media``); playing it at its own rate, and keeping only the newest frame when the
consumer is slower, are the app's capture stage's job (``app/capture.py``), not the source's.
A frame that already carries its pose (a replayed skeleton, the demo) is a :class:`PosedFrame`.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import cv2
import numpy as np

from pose.errors import SourceError

if TYPE_CHECKING:
    from pose.estimator import PoseResult

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

    def restamp(self, t: float) -> None:
        """Say the frame was captured at ``t``: a recording played at its own rate is 'captured' when
        it is due, not when it was decoded ahead of time."""
        self.t_capture = t


@dataclass
class PosedFrame(Frame):
    """A frame whose pose is known without estimation (a replayed skeleton, the demo): the pipeline
    skips pose estimation for it. ``reference`` is the action it shows, if known."""

    pose: PoseResult | None = None
    reference: str | None = None

    def restamp(self, t: float) -> None:
        super().restamp(t)
        if self.pose is not None:
            self.pose.t_capture = t


class FrameSource(ABC):
    """A stream of frames that ends (``read`` returns None) or goes on until closed.

    ``fps`` is the nominal rate; ``frame_count`` the number of frames where known in advance (for
    progress bars); ``name`` a short description for messages.
    """

    fps: float = DEFAULT_FPS
    name: str = ""
    frame_count: int | None = None

    def __init__(self) -> None:
        # Set by interrupt(): a source that waits inside read() (a stand-in camera's frame interval,
        # a stall it can cut short) waits on this, so the capture thread can stop without delay.
        self._wake = threading.Event()

    @abstractmethod
    def read(self) -> Frame | None:
        """The next frame, or None when the source has ended. Raises SourceError when it breaks."""

    def rewind(self) -> bool:
        """Start again from the first frame, where the source can (a recording that seeks): True
        when it did. A replayed recording that cannot is opened anew."""
        return False

    def close(self) -> None:
        """Release the device or file; safe to call twice. Subclasses holding one extend this."""
        self.interrupt()

    def interrupt(self) -> None:
        """Cut short any wait inside ``read``; called by a pipeline that wants to stop."""
        self._wake.set()

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self.read()) is not None:
            yield frame


class _RecordingSource(FrameSource):
    """A recording: frames numbered from 0 and placed in time at ``fps``, read as fast as they decode."""

    def __init__(self, fps: float) -> None:
        super().__init__()
        self.fps = fps
        self._index = 0

    def _stamp(self, image: np.ndarray) -> Frame:
        frame = Frame(image, self._index, time.monotonic(), self._index / self.fps)
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


class VideoSource(_RecordingSource):
    """A video file; frames come as fast as they decode.

    Opening checks that the file is a video OpenCV decodes and that its last frame is reachable, so
    a truncated download is reported at once, not after minutes of processing.
    """

    def __init__(self, path: str | os.PathLike) -> None:
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
        super().__init__(float(fps) if np.isfinite(fps) and 0.1 <= fps <= 1000.0 else DEFAULT_FPS)
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

    def rewind(self) -> bool:
        """Back to the first frame (numbered 0 again) without opening the file anew, which costs a
        quarter of a second (the completeness check); False where the container cannot seek."""
        if not self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0):
            return False
        self._index = 0
        return True

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


class ImageFolderSource(_RecordingSource):
    """The images of a folder in natural name order, as frames of a video at ``fps``."""

    def __init__(self, path: str | os.PathLike, fps: float = DEFAULT_FPS) -> None:
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
        super().__init__(float(fps))
        self.frame_count = len(self._files)

    def read(self) -> Frame | None:
        if self._index >= len(self._files):
            return None
        file = self._files[self._index]
        image = cv2.imread(str(file), cv2.IMREAD_COLOR)
        if image is None:
            raise SourceError(f"{file}: not an image OpenCV can read")
        return self._stamp(image)


def open_source(spec: str, fps: float = DEFAULT_FPS) -> FrameSource:
    """Open what the user typed: a camera index ("0"), a video file or an image folder.

    ``fps`` is the rate given to image folders.
    """
    spec = str(spec).strip()
    if spec.isdigit():
        return CameraSource(int(spec))
    path = Path(spec).expanduser()
    if path.is_dir():
        return ImageFolderSource(path, fps)
    if path.exists():
        return VideoSource(path)
    raise SourceError(f"{spec}: no such file or folder, and not a camera index")
