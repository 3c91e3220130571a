"""From a :class:`LiveConfig` to a ready pipeline: open the source, pick the labels, load the model.

The order is the user's: the cheap checks that most often fail (a wrong camera index, a file that is
not a video) come first and fail in a fraction of a second; the model, which takes seconds to load,
comes last. Every failure is one of the project's error types, which the command line shows as one
line.
"""

from __future__ import annotations

import itertools
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from app.config import LiveConfig, read_labels_file
from app.label_store import DEFAULT_LABELS, load_labels, model_preprocess
from app.pipeline import Pipeline, Prediction, Recognizer
from app.synthetic import DemoSource, SkeletonReplaySource, read_skeleton
from app.track_scoring import ScoringSettings
from neuron_base.paths import cache_dir
from neuron_core.errors import CheckpointError, LabelError, NeuronCoreError, one_line
from neuron_core.labels import LabelSet
from pose.errors import SourceError
from pose.sources import CameraSource, FrameSource, VideoSource

if TYPE_CHECKING:
    from pose.camera_motion import MotionEstimator
    from pose.estimator import Detector, PoseEstimator

log = logging.getLogger(__name__)

DEMO_BANNER = "DEMO: scripted motions from the built-in demo, not a camera"
NO_CAMERA_BANNER = "DEMO: no camera found (camera 0 did not open), playing the built-in demo instead"


@dataclass
class Input:
    """An opened source, how to open it again, and what kind it is (camera, video, skeleton, demo)."""

    source: FrameSource
    reopen: Callable[[], FrameSource]
    kind: str
    banner: str | None = None

    @property
    def needs_pose(self) -> bool:
        return self.kind in ("camera", "video")


def open_input(config: LiveConfig) -> Input:
    """Open the configured source (SourceError/SkeletonError when it cannot be used)."""
    if config.video is not None:
        path = config.video

        def video() -> FrameSource:
            # Pacing happens in the pipeline, so pausing and looping keep the video's own rate.
            return VideoSource(path)

        return Input(video(), video, "video")
    if config.skeleton_file is not None:
        skeleton = read_skeleton(config.skeleton_file)
        name = str(config.skeleton_file)

        def replay() -> FrameSource:
            return SkeletonReplaySource(skeleton, name)

        return Input(replay(), replay, "skeleton")
    plays = itertools.count()

    def demo() -> FrameSource:
        # The pipeline loops the demo; each pass draws a new body size and noise.
        return DemoSource(seed=next(plays))

    if config.demo:
        return Input(demo(), demo, "demo", DEMO_BANNER)
    index = 0 if config.camera is None else config.camera

    def camera() -> FrameSource:
        return CameraSource(index)

    try:
        return Input(camera(), camera, "camera")
    except SourceError:
        if config.camera is not None:
            raise
        log.info("camera 0 did not open; falling back to the built-in demo")
        return Input(demo(), demo, "demo", NO_CAMERA_BANNER)


def initial_labels(config: LiveConfig) -> list[str]:
    """--labels, else --labels-file, else the list saved by the GUI, else the defaults; validated."""
    if config.labels is not None:
        return LabelSet(config.labels).list()
    if config.labels_file is not None:
        labels = read_labels_file(config.labels_file)
        try:
            return LabelSet(labels).list()
        except LabelError as exc:
            raise LabelError(f"{config.labels_file}: {exc}") from None
    saved = load_labels()
    if saved:
        try:
            return LabelSet(saved).list()
        except LabelError as exc:
            log.warning("ignoring the saved label list: %s", exc)
    return list(DEFAULT_LABELS)


def checkpoint_path(config: LiveConfig) -> Path:
    from neuron_core.checkpoint import DEFAULT_CHECKPOINT

    path = config.checkpoint or Path(DEFAULT_CHECKPOINT)
    if config.checkpoint is None and not path.exists():
        raise CheckpointError(
            f"{path}: the default model is not installed "
            "(train one with neuron-train, or pass --checkpoint FILE)"
        )
    return path


def load_recognizer(config: LiveConfig, labels: Sequence[str], from_pose: bool = True) -> Recognizer:
    """Load the checkpoint and encode the labels (CheckpointError names the file and the cause).
    ``from_pose``: the windows come from the pose backend (camera, video), so the checkpoint's live
    reference, where it has one, serves the prior calibration (``Input.needs_pose``).

    On the CPU with ONNX Runtime and warm caches (the model's graph, the labels' embeddings) this
    imports no torch (tests/test_lean_start.py)."""
    from neuron_core.recognizer import ZeroShotRecognizer

    # Leave a core to capture, pose and drawing: the model need not take every core when it is fast.
    threads = max(1, (os.cpu_count() or 2) // 2)
    path = checkpoint_path(config)
    try:
        # Label embeddings are cached on disk: a label costs its text encoding once, not at every start.
        recognizer = ZeroShotRecognizer.from_checkpoint(
            path,
            device=config.device,
            backend=config.backend,
            cache_dir=cache_dir() / "labels",
            threads=threads,
            live_reference=from_pose,
        )
        if "torch" in sys.modules:  # the torch backend, or an export: its model runs on as many threads
            sys.modules["torch"].set_num_threads(threads)
    except NeuronCoreError:
        raise
    except Exception as exc:  # a file torch cannot parse must still be one line, not a traceback
        raise CheckpointError(f"{path}: cannot load the checkpoint ({one_line(exc)})") from exc
    recognizer.set_labels(list(labels))
    return recognizer


def pose_estimator(
    config: LiveConfig, detector: Detector | None = None, motion: MotionEstimator | None = None
) -> PoseEstimator:
    """The app's pose stage for this configuration (its --pose-backend; ``detector`` stands in for
    the backend's model, ``motion`` for the measurement of the camera's motion)."""
    from pose.estimator import PoseEstimator

    return PoseEstimator(
        max_persons=config.max_persons,
        detector=detector,
        pose_backend=config.pose_backend,
        search_every_s=config.search_every_s,
        camera_motion=motion,
    )


def build_pipeline(
    config: LiveConfig,
    inp: Input,
    recognizer: Recognizer,
    sinks: Sequence[Callable[[Prediction], None]] = (),
    detector: Detector | None = None,
    motion: MotionEstimator | None = None,
) -> Pipeline:
    """Wire the stages for this source: pose only where frames are images, pacing unless --fast.

    ``detector`` stands in for MediaPipe and ``motion`` for the camera's measured motion (recorded
    detections, to re-score a video quickly); the rest of the pose stage is the app's own."""
    estimator = pose_estimator(config, detector, motion) if inp.needs_pose else None
    recording = inp.kind != "camera"
    contract = model_preprocess(recognizer)  # windows made as the checkpoint's model was trained
    return Pipeline(
        inp.source,
        recognizer,
        estimator,
        reopen=inp.reopen,
        realtime=not config.fast,
        lossless=config.fast and recording,
        loop=config.loop or (inp.kind == "demo" and not config.headless),
        retry=inp.kind == "camera",
        preprocess=contract,
        rate=config.rate,
        scoring=ScoringSettings(config.smoothing, config.hysteresis, config.still_threshold),
        max_frames=config.max_frames,
        sinks=sinks,
    )
