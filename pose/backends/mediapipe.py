"""MediaPipe Pose as a pose backend: its 33 landmarks, their mapping to NTU-25, its model bundle.

Two routes, both offline. The preferred one is MediaPipe Tasks' ``PoseLandmarker``, which finds
several persons; it needs a ``.task`` bundle that is normally downloaded, so we assemble it from the
two models the mediapipe wheel ships (adding the input-normalisation metadata the Tasks runtime
reads) and cache it. If that fails, the legacy ``mp.solutions.pose`` API (one person) takes over
with a logged warning. Variants: "auto" (Tasks, else legacy), "tasks", "legacy".

OpenCV and MediaPipe load only when a detector opens: the landmark-CSV reader uses the mapping here
without them.
"""

from __future__ import annotations

import logging
import warnings
import zipfile
from pathlib import Path

import numpy as np

from neuron_base.atomic import atomic_path
from neuron_base.paths import cache_dir
from pose.backends import Detection, Detector, RawPose
from pose.errors import PoseError
from pose.layouts import MEDIAPIPE_TO_KINECT, NECK_RATIO, NUM_JOINTS, SPINE_MID_RATIO, J

log = logging.getLogger(__name__)

MEDIAPIPE33_NAMES: tuple[str, ...] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_pinky", "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)  # fmt: skip
MP = {name: i for i, name in enumerate(MEDIAPIPE33_NAMES)}

# MediaPipe's world landmarks are in the image's axes (x right, y down, z away from the camera),
# which pose.layouts.MEDIAPIPE_TO_KINECT turns into Kinect axes by a half turn about z (a rotation,
# never a reflection, so left stays left).
#
# Kinect's hip joints are about 0.13 m apart (medians over the real NTU recordings in
# ../shared/data/ntu_skeletons), narrower than MediaPipe's hip landmarks, so those are pulled toward
# their centre. The spine mid and the neck sit where pose.layouts' Kinect proportions put them.
HIP_INWARD = 0.65
# Kinect's spine-shoulder joint sits at the base of the neck, above the line between the shoulder
# joints: on the NTU recordings the shoulders' centre lies 0.05 torso lengths below it.
SHOULDER_RISE = 0.05
# Kinect's hand, hand tip and thumb lie 0.31, 0.57 and 0.41 forearm lengths from the wrist (medians,
# NTU recordings). MediaPipe's nearest points are closer in and their distances vary with the input:
# its index and pinky points are the knuckles, and its thumb point, near the thumb's root, lies 0.09
# forearm lengths from the wrist in world landmarks but about 0.2 in image landmarks (medians on the
# real videos in ../shared/data/videos and the yoga CSVs; ``python -m app.live_gap``). So each joint
# takes only its direction from MediaPipe (wrist to knuckles' centre, to index, to thumb) and Kinect's
# distance, in forearm lengths.
HAND_REACH = 0.31
TIP_REACH = 0.57
THUMB_REACH = 0.41


def mediapipe_to_ntu25(landmarks: np.ndarray, world: bool = True) -> np.ndarray:
    """Map MediaPipe-33 landmarks (..., 33, C>=2) to NTU-25 joints (..., 25, C).

    With ``world`` the input is MediaPipe world landmarks and the output is in Kinect axes; without
    it the coordinates are kept as they are (image landmarks, for drawing the NTU skeleton over the
    video). Joints NTU has and MediaPipe lacks are synthesised from their neighbours; hands, tips
    and thumbs come from MediaPipe's hand points. With ``world``, only the first three columns are
    read (a fourth, visibility, is dropped).
    """
    lm = np.asarray(landmarks, np.float32)
    if world:
        lm = lm[..., :3] @ MEDIAPIPE_TO_KINECT.T
    if lm.shape[-2] != len(MEDIAPIPE33_NAMES):
        raise ValueError(f"expected 33 MediaPipe landmarks, got {lm.shape[-2]}")
    out = np.zeros(lm.shape[:-2] + (NUM_JOINTS, lm.shape[-1]), np.float32)

    def mp(name: str) -> np.ndarray:
        return lm[..., MP[name], :]

    hip_c = (mp("left_hip") + mp("right_hip")) / 2
    sh_c = (mp("left_shoulder") + mp("right_shoulder")) / 2
    head = (mp("left_ear") + mp("right_ear")) / 2
    spine_sh = sh_c + SHOULDER_RISE * (sh_c - hip_c)
    out[..., J["spine_base"], :] = hip_c
    out[..., J["spine_shoulder"], :] = spine_sh
    out[..., J["spine_mid"], :] = hip_c + SPINE_MID_RATIO * (spine_sh - hip_c)
    out[..., J["neck"], :] = spine_sh + NECK_RATIO * (head - spine_sh)
    out[..., J["head"], :] = head
    for side in ("left", "right"):
        wrist = mp(f"{side}_wrist")
        forearm = np.linalg.norm(wrist - mp(f"{side}_elbow"), axis=-1, keepdims=True)

        def reach(point: np.ndarray, ratio: float, wrist: np.ndarray = wrist, forearm: np.ndarray = forearm):
            """``ratio`` forearm lengths from the wrist toward ``point``."""
            away = point - wrist
            return wrist + ratio * forearm * away / np.maximum(
                np.linalg.norm(away, axis=-1, keepdims=True), 1e-6
            )

        out[..., J[f"{side}_shoulder"], :] = mp(f"{side}_shoulder")
        out[..., J[f"{side}_elbow"], :] = mp(f"{side}_elbow")
        out[..., J[f"{side}_wrist"], :] = wrist
        out[..., J[f"{side}_hand"], :] = reach((mp(f"{side}_pinky") + mp(f"{side}_index")) / 2, HAND_REACH)
        out[..., J[f"{side}_hand_tip"], :] = reach(mp(f"{side}_index"), TIP_REACH)
        out[..., J[f"{side}_thumb"], :] = reach(mp(f"{side}_thumb"), THUMB_REACH)
        out[..., J[f"{side}_hip"], :] = hip_c + HIP_INWARD * (mp(f"{side}_hip") - hip_c)
        out[..., J[f"{side}_knee"], :] = mp(f"{side}_knee")
        out[..., J[f"{side}_ankle"], :] = mp(f"{side}_ankle")
        out[..., J[f"{side}_foot"], :] = mp(f"{side}_foot_index")
    return out


# -- the model bundle ---------------------------------------------------------------------------------

# protobuf 4 warns, from inside mediapipe 0.10.14's result conversion, about an API mediapipe still
# calls; it is not ours to fix and says nothing to a user.
warnings.filterwarnings("ignore", message=r"SymbolDatabase\.GetPrototype\(\) is deprecated")

# Bundle member, model file in the mediapipe wheel, and the input normalisation (pixel - mean) / std
# the network was trained with, which the Tasks runtime reads from each model's metadata: the
# detector takes [-1, 1], the landmark model [0, 1].
BUNDLE_MODELS = (
    ("pose_detector.tflite", "pose_detection/pose_detection.tflite", 127.5, 127.5),
    ("pose_landmarks_detector.tflite", "pose_landmark/pose_landmark_full.tflite", 0.0, 255.0),
)


def mediapipe_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mediapipe")
    except PackageNotFoundError:
        return "absent"


def _bundle_ok(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            return {m[0] for m in BUNDLE_MODELS} <= set(zf.namelist()) and zf.testzip() is None
    except (OSError, zipfile.BadZipFile):
        return False


def pose_landmarker_bundle(directory: Path | None = None) -> Path:
    """Path of a Tasks ``.task`` bundle for PoseLandmarker, built from the wheel's models if absent.

    The bundle is named after the mediapipe version whose models it holds and written atomically
    (``neuron_base.atomic``), so concurrent processes and crashes never leave a half-written bundle.
    """
    import mediapipe as mp
    from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer, model_asset_bundle_utils

    directory = directory or cache_dir()
    path = directory / f"pose_landmarker_full_mediapipe-{mp.__version__}.task"
    if path.exists() and _bundle_ok(path):
        return path
    root = Path(mp.__file__).parent / "modules"
    models: dict[str, bytes] = {}
    for member, model, mean, std in BUNDLE_MODELS:
        writer = metadata_writer.MetadataWriter.create(bytearray((root / model).read_bytes()))
        writer.add_general_info(member.removesuffix(".tflite")).add_image_input([mean], [std])
        models[member] = bytes(writer.populate()[0])
    with atomic_path(path) as tmp:
        model_asset_bundle_utils.create_model_asset_bundle(models, str(tmp))
    log.info("built the pose bundle %s", path)
    return path


# -- detectors ----------------------------------------------------------------------------------------


class _TasksDetector:
    """MediaPipe Tasks PoseLandmarker in video mode (tracks between frames, several persons)."""

    name = "tasks"

    def __init__(self, max_persons: int, min_confidence: float, bundle: Path) -> None:
        import cv2
        import mediapipe as mp
        from mediapipe.tasks.python import BaseOptions, vision

        self._mp, self._cv2 = mp, cv2
        options = vision.PoseLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(bundle)),
            running_mode=vision.RunningMode.VIDEO,
            num_poses=max_persons,
            min_pose_detection_confidence=min_confidence,
            min_pose_presence_confidence=min_confidence,
            min_tracking_confidence=min_confidence,
        )
        self._landmarker = vision.PoseLandmarker.create_from_options(options)

    def detect(self, image: np.ndarray, timestamp_ms: int) -> list[RawPose]:
        rgb = self._cv2.cvtColor(image, self._cv2.COLOR_BGR2RGB)
        result = self._landmarker.detect_for_video(
            self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=rgb), timestamp_ms
        )
        return [
            (
                np.array([(p.x, p.y, p.z) for p in world], np.float32),
                np.array([(p.x, p.y, p.z, p.visibility or 0.0) for p in img], np.float32),
            )
            for world, img in zip(result.pose_world_landmarks, result.pose_landmarks, strict=True)
        ]

    def close(self) -> None:
        self._landmarker.close()


class _LegacyDetector:
    """``mp.solutions.pose`` (full model, the only complexity shipped in the wheel): one person."""

    name = "legacy"

    def __init__(self, min_confidence: float, smooth: bool) -> None:
        import cv2
        import mediapipe as mp

        self._cv2 = cv2
        self._pose = mp.solutions.pose.Pose(
            static_image_mode=False,
            model_complexity=1,
            smooth_landmarks=smooth,
            min_detection_confidence=min_confidence,
            min_tracking_confidence=min_confidence,
        )

    def detect(self, image: np.ndarray, timestamp_ms: int) -> list[RawPose]:
        result = self._pose.process(self._cv2.cvtColor(image, self._cv2.COLOR_BGR2RGB))
        if result.pose_world_landmarks is None or result.pose_landmarks is None:
            return []
        world = np.array([(p.x, p.y, p.z) for p in result.pose_world_landmarks.landmark], np.float32)
        img = np.array([(p.x, p.y, p.z, p.visibility) for p in result.pose_landmarks.landmark], np.float32)
        return [(world, img)]

    def close(self) -> None:
        self._pose.close()


class MediaPipeBackend:
    """The :class:`pose.backends.PoseBackend` of MediaPipe Pose."""

    name = "mediapipe"
    variants = ("auto", "tasks", "legacy")

    def open(
        self, variant: str, num_poses: int, min_confidence: float, bundle_dir: Path | None, smooth: bool
    ) -> Detector:
        if variant in ("auto", "tasks"):
            try:
                return _TasksDetector(num_poses, min_confidence, pose_landmarker_bundle(bundle_dir))
            except Exception as exc:  # any failure to build or load the bundle: fall back
                if variant == "tasks":
                    raise PoseError(f"MediaPipe Tasks pose landmarker unavailable: {exc}") from exc
                log.warning("MediaPipe Tasks pose unavailable (%s); using legacy single-person pose", exc)
        try:
            return _LegacyDetector(min_confidence, smooth)
        except Exception as exc:
            raise PoseError(f"MediaPipe pose cannot be started: {exc}") from exc

    def to_detection(self, raw: RawPose) -> Detection:
        world, image = raw
        visibility = float(np.clip(image[:, 3].mean(), 0.0, 1.0))
        return Detection(
            mediapipe_to_ntu25(world), mediapipe_to_ntu25(image[:, :2], world=False), visibility, world, image
        )

    def version(self) -> str:
        return mediapipe_version()

    def smooth_after(self, detector_name: str) -> bool:
        # Tasks re-detects every frame and jitters; legacy smooths inside MediaPipe.
        return detector_name == "tasks"

    def max_poses(self, detector_name: str) -> int | None:
        return 1 if detector_name == "legacy" else None


BACKEND = MediaPipeBackend()
