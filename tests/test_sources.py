"""Frame sources: cameras, videos, image folders, their errors; and the capture stage that reads them
(pacing a recording at its own rate, keeping only the latest frame for a slow consumer)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.capture import Capture
from app.channels import END, RESET, Channel
from app.status import StatusBoard
from pose.errors import SourceError
from pose.sources import (
    CameraSource,
    Frame,
    FrameSource,
    ImageFolderSource,
    VideoSource,
    open_source,
)
from tests.conftest import shared_path

NTU_CLIP = ("media", "mmaction2_ntu_sample.avi")


def write_video(path: Path, frames: int, fps: float, size: tuple[int, int] = (64, 48)) -> Path:
    """A small MJPG video whose frame i is filled with grey level 10 * i (to check order)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert writer.isOpened()
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), 10 * i, np.uint8))
    writer.release()
    return path


class EndlessSource(FrameSource):
    """A camera stand-in: a new frame every 1/fps seconds, forever."""

    def __init__(self, fps: float = 100.0) -> None:
        super().__init__()
        self.fps, self.name, self.index = fps, "endless", 0

    def read(self) -> Frame | None:
        self._wake.wait(1.0 / self.fps)
        self.index += 1
        return Frame(np.zeros((4, 4, 3), np.uint8), self.index - 1, time.monotonic(), None)


def test_missing_camera_is_a_source_error() -> None:
    probe = cv2.VideoCapture(0)
    present = probe.isOpened()
    probe.release()
    if present:
        pytest.skip("this machine has a camera 0")
    with pytest.raises(SourceError, match="camera 0: cannot be opened"):
        CameraSource(0)
    with pytest.raises(SourceError, match="camera 0"):
        open_source("0")


def test_truncated_video_is_a_source_error(tmp_path: Path) -> None:
    data = shared_path(*NTU_CLIP).read_bytes()
    for fraction in (0.05, 0.5, 0.9):
        cut = tmp_path / f"cut{fraction}.avi"
        cut.write_bytes(data[: int(len(data) * fraction)])
        with pytest.raises(SourceError, match="truncated"):
            VideoSource(cut)


def test_empty_and_non_video_files_are_source_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.avi"
    empty.touch()
    with pytest.raises(SourceError, match="empty"):
        VideoSource(empty)
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n" * 50)
    with pytest.raises(SourceError, match="not a video"):
        open_source(str(text))
    with pytest.raises(SourceError, match="no such file"):
        open_source(str(tmp_path / "absent.avi"))


def test_folder_without_images_is_a_source_error(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("no frames here")
    with pytest.raises(SourceError, match="no images"):
        open_source(str(tmp_path))


def test_video_frames_in_order_then_none() -> None:
    with VideoSource(shared_path(*NTU_CLIP)) as source:
        assert source.fps == pytest.approx(30.0)
        assert source.frame_count == 72
        frames = list(source)
        assert source.read() is None  # stays ended
    assert len(frames) == 72
    assert [f.index for f in frames] == list(range(72))
    assert frames[0].image.shape == (1080, 1920, 3) and frames[0].image.dtype == np.uint8
    assert frames[10].t_media == pytest.approx(10 / 30)
    stamps = np.array([f.t_capture for f in frames])
    assert np.all(np.diff(stamps) > 0)
    assert abs(stamps[-1] - time.monotonic()) < 60  # time.monotonic() clock


def test_a_video_rewinds_to_its_first_frame(tmp_path: Path) -> None:
    path = write_video(tmp_path / "clip.avi", frames=6, fps=20.0)
    with VideoSource(path) as source:
        first = list(source)
        assert source.rewind()
        again = list(source)
    assert [f.index for f in again] == [f.index for f in first] == list(range(6))
    assert [int(round(f.image.mean() / 10)) for f in again] == list(range(6))


def test_a_video_replayed_as_a_camera_never_ends_and_its_clock_goes_on(tmp_path: Path) -> None:
    from app.bench_options import CameraLike

    path = write_video(tmp_path / "clip.avi", frames=6, fps=20.0)
    with CameraLike(path, 30.0, (32, 24)) as camera:
        frames = [camera.read() for _ in range(15)]
    assert all(f is not None and f.image.shape == (24, 32, 3) for f in frames)
    assert [f.t_media for f in frames] == pytest.approx([k / 30.0 for k in range(15)])
    assert [int(round(f.image.mean() / 10)) for f in frames] == [k % 6 for k in range(15)]
    other = write_video(tmp_path / "other.avi", frames=4, fps=20.0, size=(32, 48))  # portrait
    with CameraLike([path, other], 30.0, (64, 24)) as camera:
        camera.read()
        image = camera.read().image  # grey 10 in both clips (frame 0 is black)
    assert image.shape == (24, 64, 3) and "clip.avi beside other.avi" in camera.name
    # Each clip fitted to the height in its own half: 32x24 as it is, 32x48 as 16x24 centred.
    filled = image.max(axis=(0, 2)) > 0
    assert filled.tolist() == [True] * 32 + [False] * 8 + [True] * 16 + [False] * 8


def test_a_looped_video_is_rewound_not_opened_again(tmp_path: Path) -> None:
    """Opening a video checks it whole (a quarter of a second for a 1080p clip): a loop rewinds it."""
    path = write_video(tmp_path / "clip.avi", frames=6, fps=20.0)
    stop, out = threading.Event(), Channel(100, drop_oldest=False, stop=threading.Event())

    def reopen() -> FrameSource:
        raise AssertionError("opened again")

    capture = Capture(VideoSource(path), out, stop, StatusBoard(), reopen=reopen, realtime=False, loop=True,
                      max_frames=15)  # fmt: skip
    capture.run()
    items = []
    while (item := out.get(1.0)) is not END:
        items.append("reset" if item is RESET else item.index)
    assert capture.error is None
    assert items == [*range(6), "reset", *range(6), "reset", *range(3)]


class Captured:
    """A capture stage over ``source`` on its own thread, as the pipeline runs it: live (a slot of one,
    latest wins) or lossless (every frame)."""

    def __init__(self, source: FrameSource, realtime: bool = True, live: bool = True) -> None:
        self.stop = threading.Event()
        self.board = StatusBoard()
        self.channel = Channel(1 if live else 1000, drop_oldest=live, stop=self.stop)
        self.capture = Capture(source, self.channel, self.stop, self.board, realtime=realtime)
        self.thread = threading.Thread(target=self.capture.run, daemon=True)
        self.thread.start()

    def frames(self, consumer_s: float = 0.0) -> list[Frame]:
        """Every frame handed over until the end, taking ``consumer_s`` seconds over each."""
        out = []
        while (frame := self.channel.get(2.0)) is not END:
            assert frame is not None, "no frame within 2 s"
            out.append(frame)
            time.sleep(consumer_s)
        return out

    def end(self) -> float:
        """Stop the stage as the pipeline does; seconds until its thread ended."""
        start = time.monotonic()
        self.stop.set()
        self.capture.source.interrupt()
        self.thread.join(1.0)
        return time.monotonic() - start


def test_realtime_video_plays_at_its_own_rate(tmp_path: Path) -> None:
    path = write_video(tmp_path / "clip.avi", frames=11, fps=20.0)
    start = time.monotonic()
    frames = Captured(VideoSource(path), realtime=False, live=False).frames()
    fast = time.monotonic() - start
    start = time.monotonic()
    paced = Captured(VideoSource(path), realtime=True, live=False).frames()
    slow = time.monotonic() - start
    assert len(frames) == len(paced) == 11
    assert slow >= 0.45  # 10 intervals of 50 ms
    assert fast < slow
    gaps = np.diff([f.t_capture for f in paced])
    assert np.median(gaps) == pytest.approx(0.05, abs=0.02)
    # grey levels 0, 10, 20 ... survive MJPG closely enough to prove the order
    assert [int(round(f.image.mean() / 10)) for f in paced] == list(range(11))


def test_image_folder_natural_order_and_bad_image(tmp_path: Path) -> None:
    for i in (1, 2, 10, 11):
        cv2.imwrite(str(tmp_path / f"frame{i}.png"), np.full((8, 8, 3), i, np.uint8))
    (tmp_path / "notes.txt").write_text("ignored")
    source = open_source(str(tmp_path), fps=12.5)
    assert isinstance(source, ImageFolderSource) and source.frame_count == 4
    frames = list(source)
    assert [int(f.image[0, 0, 0]) for f in frames] == [1, 2, 10, 11]
    assert frames[2].t_media == pytest.approx(2 / 12.5)
    (tmp_path / "frame12.png").write_bytes(b"not a png")
    with pytest.raises(SourceError, match="frame12.png"):
        list(ImageFolderSource(tmp_path))


def test_capture_keeps_only_the_latest_frame(tmp_path: Path) -> None:
    path = write_video(tmp_path / "clip.avi", frames=30, fps=100.0)
    captured = Captured(VideoSource(path))
    received = [frame.index for frame in captured.frames(consumer_s=0.05)]  # five times slower
    assert captured.capture.ended
    assert received == sorted(received) and len(set(received)) == len(received)
    assert captured.channel.dropped > 0
    assert captured.capture.captured == 30 == len(received) + captured.channel.dropped
    assert received[-1] == 29  # the end is never lost
    assert captured.end() < 1.0


def test_capture_stops_promptly_and_reports_errors() -> None:
    captured = Captured(EndlessSource())
    assert captured.channel.get(1.0) is not None
    assert captured.end() < 1.0
    assert not captured.thread.is_alive()
    captured.channel.drain(10)
    assert captured.channel.get(0.2) is END  # and the stage said the stream is over

    class Broken(EndlessSource):
        def read(self) -> Frame | None:
            raise SourceError("camera 7: stopped delivering frames")

    failing = Captured(Broken())
    assert failing.channel.get(1.0) is END
    assert isinstance(failing.capture.error, SourceError) and "camera 7" in str(failing.capture.error)
    assert [s.kind for s in failing.board.poll()] == ["error"]
    failing.end()


def test_capture_hands_nothing_over_while_the_source_waits() -> None:
    gate = threading.Event()

    class Slow(EndlessSource):
        def read(self) -> Frame | None:
            gate.wait(2.0)
            return None

    captured = Captured(Slow())
    start = time.monotonic()
    assert captured.channel.get(timeout=0.2) is None
    assert 0.15 < time.monotonic() - start < 1.0
    assert not captured.capture.ended  # a timeout, not the end
    gate.set()
    assert captured.channel.get(1.0) is END and captured.capture.ended
    captured.end()
