"""Pose on frames: NTU-25 skeletons in metres, with person ids that stay put across frames.

A pose backend (:mod:`pose.backends`, chosen by name; MediaPipe by default) finds the persons and
maps each to NTU-25 joints, image points and a visibility; everything after that is here and the
same for every backend: tracking, the choice of the most prominent persons, placing each in camera
space, turning it to face the camera, smoothing. A frame that fails, or whose landmarks are not
finite, yields no person rather than an exception or NaN joints: the live loop must survive a bad
frame.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np

from neuron_base.paths import cache_dir as cache_dir  # re-exported: the detection caches live there
from pose import backends
from pose.backends import DEFAULT_POSE_BACKEND, Detection, Detector, PoseBackend, RawPose
from pose.camera_motion import MOTION_VERSION, BackgroundMotion, MotionEstimator
from pose.camera_space import DEFAULT_HFOV_DEG, CameraSpace, FaceCamera
from pose.errors import PoseError
from pose.follow import FOLLOW_VERSION, SEARCH_EVERY_S, FollowingDetector
from pose.layouts import J
from pose.sources import Frame

__all__ = [
    "Detector",
    "PersonPose",
    "PoseEstimator",
    "PoseResult",
    "RawPose",
    "cache_dir",
    "default_candidates",
    "detection_settings",
    "fit_for_detection",
    "live_detection_settings",
    "prominence",
]

log = logging.getLogger(__name__)

# Two detections whose image joints are on average closer than this many torso lengths are one body.
DUPLICATE_TORSOS = 0.5
# Person choice in a crowd: MediaPipe is asked for CANDIDATES_PER_PERSON times as many people as are
# tracked (at least MIN_CANDIDATES), and the most prominent are kept (see ``prominence``). A landmark
# counts as seen from VISIBLE; being at the picture's edge costs up to OFF_CENTRE_PENALTY of the
# prominence; a person whose hips move MOVING_TORSOS_PER_S torso lengths a second or more counts
# (1 + MOVING_BONUS) times; one already reported SELECTED_BONUS times, so two similar people do not
# swap places on every frame. PROMINENCE_EMA: smoothing weight of the newest prominence.
CANDIDATES_PER_PERSON = 2
MIN_CANDIDATES = 4
VISIBLE = 0.5
OFF_CENTRE_PENALTY = 0.5
MOVING_TORSOS_PER_S = 1.0
MOVING_BONUS = 0.5
SELECTED_BONUS = 1.5
VELOCITY_TAU_S = 0.15  # time constant of the velocity (and speed) smoothing, seconds
PROMINENCE_EMA = 0.3
# A detection left unmatched may still continue a track left unmatched within this many torso
# lengths, when neither has another candidate (see _Tracker.assign).
LOOSE_TORSOS = 1.0
# A track's position is extrapolated from its velocity for at most this long.
MAX_PREDICT_S = 0.3
# A reported person unseen for at most this long stays in view with their last pose (PoseResult.held:
# drawn, counted, their place among the reported kept): pose.follow looks at each of two people on
# alternate frames, and MediaPipe misses a frame now and then; neither should make a skeleton blink
# or hand the place to a bystander for a frame.
HOLD_S = 0.1
# Detector clock after a recording restarts: one frame interval on from the last timestamp, the
# interval last seen (at most MAX_FRAME_MS), a 30 fps frame before any was seen.
DEFAULT_FRAME_MS, MAX_FRAME_MS = 1000.0 / 30.0, 200.0
# Frames larger than this (longest side, pixels) would be shrunk before MediaPipe (None: never).
# Measured by neuron-bench on real 1080p and 720p video (docs/BENCHMARKS.md): shrinking saves no CPU
# time (MediaPipe's networks, not the frame's size, cost the time) and moves landmarks, so it is off.
DETECT_MAX_SIDE: int | None = None


def default_candidates(max_persons: int) -> int:
    """How many persons the detector is asked for when ``max_persons`` are tracked."""
    return max(MIN_CANDIDATES, CANDIDATES_PER_PERSON * max_persons)


def detection_settings(
    num_poses: int,
    backend: str = "auto",
    min_confidence: float = 0.5,
    detect_max_side: int | None = DETECT_MAX_SIDE,
    pose_backend_name: str = DEFAULT_POSE_BACKEND,
    follow: tuple[int, float] | None = None,
    motion_version: int | None = None,
) -> dict:
    """Everything that decides what the detector reports for a given frame, for keying caches of
    detections: the detector settings of :class:`PoseEstimator` (``backend`` is the pose backend's
    variant; ``follow`` the number of people followed between searches and the seconds between
    searches, see :mod:`pose.follow`; ``motion_version`` how the camera's motion is measured, which
    recordings keep beside the poses, see :mod:`pose.camera_motion`), and the pose backend's name and
    version. An option at its
    neutral value (``detect_max_side`` None: full frames; the default pose backend; ``follow`` None:
    every frame searched) is left out, so adding an option does not invalidate caches made without it."""
    settings = {"backend": backend, "num_poses": num_poses, "min_confidence": min_confidence}
    if detect_max_side is not None:
        settings["detect_max_side"] = detect_max_side
    if follow is not None:
        settings["follow"] = [int(follow[0]), float(follow[1]), FOLLOW_VERSION]
    if pose_backend_name != DEFAULT_POSE_BACKEND:
        settings["pose_backend"] = pose_backend_name
    if motion_version is not None:
        settings["camera_motion"] = motion_version
    return settings | {pose_backend_name: backends.pose_backend(pose_backend_name).version()}


def live_detection_settings(max_persons: int, search_every_s: float | None = SEARCH_EVERY_S) -> dict:
    """The detection settings of the app's estimator (:class:`PoseEstimator` with its defaults,
    ``max_persons`` and ``search_every_s``), for keying caches of its detections without opening a
    detector."""
    follow = (max_persons, search_every_s) if search_every_s else None
    return detection_settings(default_candidates(max_persons), follow=follow, motion_version=MOTION_VERSION)


@dataclass
class PersonPose:
    """One person in one frame: NTU-25 joints in metres, Kinect axes, origin at the camera as in
    the Kinect recordings (the backend's hip-centred world joints placed by :mod:`pose.camera_space`;
    with ``camera_space=False`` the origin is between the hips); ``image_xy`` the same joints in
    normalised image coordinates of the unmirrored frame, for drawing (may fall outside [0, 1] for
    joints out of view); ``visibility`` the backend's mean keypoint visibility in [0, 1]."""

    track_id: int
    joints: np.ndarray  # (25, 3) float32
    image_xy: np.ndarray  # (25, 2) float32
    visibility: float


@dataclass
class PoseResult:
    """The persons found in one frame, with the frame's capture stamp and the time pose took.

    ``t_media`` is the frame's position in its recording (None for a camera): windows built from a
    recording processed faster or slower than real time use it to keep the true time span.
    """

    frame_index: int
    t_capture: float
    persons: list[PersonPose] = field(default_factory=list)
    pose_ms: float = 0.0
    t_media: float | None = None
    # Reported persons not seen in this frame, as last seen (within HOLD_S): in view, but not a new
    # observation, so nothing that builds a motion from poses (windows, recordings) reads them.
    held: list[PersonPose] = field(default_factory=list)

    @property
    def in_view(self) -> list[PersonPose]:
        """Everyone to draw and count: the persons seen in this frame and those held, by track id."""
        return sorted(self.persons + self.held, key=lambda p: p.track_id)

    @property
    def t(self) -> float:
        """The frame's time on the clock that spaces frames correctly: media time, else capture."""
        return self.t_media if self.t_media is not None else self.t_capture


class _DetectorClock:
    """Detector timestamps (ms) from frame times (s): MediaPipe's video mode wants them strictly
    increasing, and its tracking, smoothing and the followers' search interval read real time from
    them. A recording that restarts (a loop) starts its media time again at 0: the clock goes on
    from where it stopped, one frame interval later, instead of creeping on by 1 ms a frame (which
    stopped the whole-frame searches for as long as the recording had lasted, and lost the second of
    two people in every replay after the first)."""

    def __init__(self) -> None:
        self._offset_ms = 0.0  # added to media time after restarts
        self._last_t: float | None = None
        self.last_ms = -1  # the last timestamp given
        self._step_ms = DEFAULT_FRAME_MS

    def stamp(self, t: float) -> tuple[int, bool]:
        """The timestamp for a frame at ``t`` seconds, and whether its clock restarted."""
        restarted = self._last_t is not None and t < self._last_t
        if self._last_t is not None and t > self._last_t:
            self._step_ms = min(max((t - self._last_t) * 1000.0, 1.0), MAX_FRAME_MS)
        if restarted:
            self._offset_ms = self.last_ms + self._step_ms - t * 1000.0
        self._last_t = t
        self.last_ms = max(int(round(t * 1000.0 + self._offset_ms)), self.last_ms + 1)
        return self.last_ms, restarted


class _OneEuro:
    """One-Euro filter (Casiez et al., CHI 2012) over a person's joints (25, 3), or any array.

    Tasks' PoseLandmarker asked for several persons re-detects them every frame and its output
    jitters: on the NTU sample its world joints move about 3 cm a frame where the smoothed legacy
    API's move 6 mm. This low-pass filter's cutoff rises with each joint's speed, removing jitter
    from still joints while adding little lag to fast ones. Tuned on that clip: 3 cm to 1 cm.
    """

    MIN_CUTOFF_HZ = 1.5
    BETA = 1.0  # cutoff gain per m/s of joint speed
    SPEED_CUTOFF_HZ = 1.0

    def __init__(self) -> None:
        self._t: float | None = None  # time of the last sample; the state below is set with it
        self._x = self._dx = np.zeros((25, 3), np.float32)

    @staticmethod
    def _alpha(cutoff: float | np.ndarray, dt: float) -> float | np.ndarray:
        return 1.0 / (1.0 + 1.0 / (2.0 * np.pi * cutoff * dt))

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        if self._t is None or t <= self._t:
            self._t, self._x, self._dx = t, x.copy(), np.zeros_like(x)
            return x
        dt, self._t = t - self._t, t
        self._dx += self._alpha(self.SPEED_CUTOFF_HZ, dt) * ((x - self._x) / dt - self._dx)
        cutoff = self.MIN_CUTOFF_HZ + self.BETA * np.linalg.norm(self._dx, axis=-1, keepdims=True)
        self._x = (self._x + self._alpha(cutoff, dt) * (x - self._x)).astype(np.float32)
        return self._x.copy()


def _hips_and_torso(image_xy: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, float]:
    """Hip centre and torso length (hips to shoulders, never 0) of image joints (25, 2), both in
    units of image height once ``scale`` = (width / height, 1) has been applied."""
    hips = image_xy[J["spine_base"]] * scale
    return hips, max(float(np.linalg.norm(image_xy[J["spine_shoulder"]] * scale - hips)), 1e-3)


def _without_duplicates(persons: list[PersonPose], scale: np.ndarray) -> list[PersonPose]:
    """Drop a person whose image joints lie, on average, within DUPLICATE_TORSOS torso lengths of a
    more visible one. Tasks' landmarker can report one body twice when the region it tracks from
    the last frame and a fresh detection both land on it (seen after a quick move); two real people,
    even hugging, are further apart than that."""
    kept: list[PersonPose] = []
    for person in sorted(persons, key=lambda p: -p.visibility):
        torso = _hips_and_torso(person.image_xy, scale)[1]
        if all(
            np.linalg.norm((person.image_xy - other.image_xy) * scale, axis=1).mean()
            >= DUPLICATE_TORSOS * torso
            for other in kept
        ):
            kept.append(person)
    return kept


def prominence(image: np.ndarray, aspect: float, image_xy: np.ndarray | None = None) -> float:
    """How much one detected person looks like the one a user means, before motion counts: large
    (torso length in units of image height), fully visible (share of keypoints seen and inside the
    picture) and central (horizontally). ``image`` is the backend's image points (K, 4): x, y, z,
    visibility; ``image_xy`` the person's NTU-25 image joints, which give hips and shoulders
    (default: ``image`` read as MediaPipe's 33 landmarks).

    A detector ranks people by its own confidence, so in a crowd it may report two small people far
    behind the ones in front; this is what ranks them instead.
    """
    if image_xy is None:
        mediapipe = backends.pose_backend("mediapipe")
        image_xy = mediapipe.to_detection((np.zeros((len(image), 3)), image)).image_xy
    xy = image[:, :2].astype(np.float64)
    inside = (xy >= 0.0).all(axis=1) & (xy <= 1.0).all(axis=1)
    complete = float(np.mean(inside & (image[:, 3] >= VISIBLE)))
    ntu = np.asarray(image_xy, np.float64)
    hips = ntu[J["spine_base"]]
    shoulders = ntu[[J["left_shoulder"], J["right_shoulder"]]].mean(0)
    torso = float(np.hypot((shoulders[0] - hips[0]) * aspect, shoulders[1] - hips[1]))
    off_centre = min(abs(float(hips[0]) - 0.5) * 2.0, 1.0)
    return torso * complete * (1.0 - OFF_CENTRE_PENALTY * off_centre)


@dataclass
class _Track:
    """One tracked person in image space: hip centre and its velocity (units of image height, per
    second), when last seen, smoothed prominence, and whether it is among the persons reported."""

    hips: np.ndarray
    seen: float
    velocity: np.ndarray | None = None  # unknown until seen twice, then smoothed from zero
    prominence: float = 0.0
    speed: float = 0.0  # hip speed in torso lengths per second, smoothed
    selected: bool = False

    def predicted(self, t: float) -> np.ndarray:
        """Where the hips should be at ``t``, moving on as they did (for at most MAX_PREDICT_S)."""
        if self.velocity is None:
            return self.hips
        return self.hips + self.velocity * min(t - self.seen, MAX_PREDICT_S)


class _Tracker:
    """Stable ids by greedy nearest matching of image-space hip centres, each track's predicted from
    its velocity, and the choice of the most prominent tracks.

    A distance is measured in torso lengths of the detected person (hip centre to shoulder centre
    in the image, x scaled by the aspect ratio), so the threshold means the same near the camera
    and far from it. It has to be tight: when two persons overlap (a hug), MediaPipe may report one
    of them in one frame and the other in the next, and those must not share an id. Matching to
    where each track is heading, not where it was, keeps two people who cross apart: at the
    crossing each is nearer the other's last position than its own. A track unseen for ``timeout``
    seconds is forgotten; a person who reappears later gets a new id.
    """

    def __init__(self, max_distance: float, timeout: float) -> None:
        self.max_distance = max_distance
        self.timeout = timeout
        self._tracks: dict[int, _Track] = {}
        self._next_id = 1

    @property
    def live_ids(self) -> set[int]:
        return set(self._tracks)

    def assign(self, image_xy: list[np.ndarray], scale: np.ndarray, t: float) -> list[int]:
        """Ids for persons given by their NTU-25 image joints (25, 2); ``scale`` = (width / height, 1)."""
        if any(track.seen > t for track in self._tracks.values()):  # the clock went back: a new recording
            self._tracks.clear()
        self._tracks = {k: v for k, v in self._tracks.items() if t - v.seen <= self.timeout}
        measured = [_hips_and_torso(xy, scale) for xy in image_xy]
        pairs = sorted(
            (float(np.linalg.norm(hips - track.predicted(t))) / torso, i, k)
            for i, (hips, torso) in enumerate(measured)
            for k, track in self._tracks.items()
        )
        ids: list[int | None] = [None] * len(measured)
        taken: set[int] = set()
        for dist, i, k in pairs:
            if dist > self.max_distance:
                break
            if ids[i] is None and k not in taken:
                ids[i] = k
                taken.add(k)
        # A body whose landmarks jumped (a missed frame, half hidden) keeps its id when it is the
        # only candidate left for a track that nothing else claimed, within a looser gate.
        loose = [(d, i, k) for d, i, k in pairs if d <= LOOSE_TORSOS and ids[i] is None and k not in taken]
        for _, i, k in loose:
            rivals = sum(1 for _, j, q in loose if q == k and j != i) + sum(
                1 for _, j, q in loose if j == i and q != k
            )
            if rivals == 0:
                ids[i] = k
                taken.add(k)
        for i, (hips, torso) in enumerate(measured):
            if ids[i] is None:
                ids[i] = self._next_id
                self._next_id += 1
                self._tracks[ids[i]] = _Track(hips, t)
                continue
            track = self._tracks[ids[i]]
            dt = t - track.seen
            if dt > 0:
                velocity = (hips - track.hips) / dt
                speed = float(np.linalg.norm(velocity)) / torso
                # Smoothed over time, not frames: at 50 fps one frame's landmark jitter is a fast "speed".
                weight = 1.0 - math.exp(-dt / VELOCITY_TAU_S)
                known = track.velocity if track.velocity is not None else np.zeros(2)
                track.velocity = known + weight * (velocity - known)
                track.speed += weight * (speed - track.speed)
            track.hips, track.seen = hips, t
        return [int(k) for k in ids]

    def select(self, ids: list[int], prominences: list[float], count: int, t: float) -> set[int]:
        """The ``count`` tracks to report among ``ids`` (seen now) and the reported tracks unseen for
        at most HOLD_S (held): highest smoothed prominence, raised for a moving person and for one
        already reported (so the choice does not flicker)."""
        held = [
            k
            for k, track in self._tracks.items()
            if track.selected and k not in ids and 0 <= t - track.seen <= HOLD_S
        ]
        for k, p in zip(ids, prominences, strict=True):
            track = self._tracks[k]
            track.prominence = p if track.prominence == 0.0 else (
                (1 - PROMINENCE_EMA) * track.prominence + PROMINENCE_EMA * p
            )  # fmt: skip

        def rank(k: int) -> float:
            track = self._tracks[k]
            moving = 1.0 + MOVING_BONUS * min(track.speed / MOVING_TORSOS_PER_S, 1.0)
            return track.prominence * moving * (SELECTED_BONUS if track.selected else 1.0)

        chosen = set(sorted([*ids, *held], key=rank, reverse=True)[:count])
        for k, track in self._tracks.items():
            if k in ids or k in held:
                track.selected = k in chosen
        return chosen


def fit_for_detection(image: np.ndarray, max_side: int | None) -> np.ndarray:
    """``image`` shrunk (area averaging) so that its longest side is at most ``max_side``."""
    height, width = image.shape[:2]
    if max_side is None or max(height, width) <= max_side:
        return image
    scale = max_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


class PoseEstimator:
    """Frames in, tracked NTU-25 persons out.

    ``pose_backend`` names the pose backend (see :mod:`pose.backends`; default MediaPipe) and
    ``backend`` its variant: for MediaPipe "auto" (Tasks, else legacy with a warning), "tasks" or
    "legacy"; ``backend_name`` says which one runs. Pose runs on the frame as captured (never
    mirrored), so left stays left. ``smooth`` filters each person's joints over time (legacy
    MediaPipe does it itself, for the others a One-Euro filter per track does). ``track_distance``
    is how far, in torso lengths, a person's hips may move between two sightings and keep the id;
    ``track_timeout`` how long, in seconds, an unseen id is kept. ``camera_space`` places each
    person's joints in camera space from the image points, with a pinhole camera of horizontal
    field of view ``hfov_deg`` (see :mod:`pose.camera_space`); without it every person stands at
    the origin. ``detector`` replaces the backend's model by another :class:`Detector` (recorded
    detections), everything after it unchanged: its raw poses are mapped by the backend.
    ``candidates`` is how many persons the detector looks for (default: ``default_candidates``); of
    those, the ``max_persons`` most prominent are tracked and reported (see :func:`prominence`).
    ``face_camera`` turns each person to face the camera (see :class:`pose.camera_space.FaceCamera`).
    ``follow_camera`` takes the camera's own turns (panning, a hand-held camera's bobbing) out of
    everyone's camera-space position, measured by ``camera_motion`` (default: the background's
    optical flow, :mod:`pose.camera_motion`; a replay gives what was measured); ``last_shift`` is
    the last frame's measurement (recorded with ``last_raw``).
    ``detect_max_side`` shrinks larger frames before detection (None: full resolution).
    ``search_every_s``: the backend's model looks for every candidate this often and follows the
    reported persons on crops in between (:mod:`pose.follow`; None: it looks for every candidate on
    every frame). It applies where the backend finds several people and no ``detector`` is given.
    The raw poses of the last processed frame are ``last_raw`` (recorded to replay a video).
    """

    def __init__(
        self,
        max_persons: int = 2,
        backend: str = "auto",
        min_confidence: float = 0.5,
        bundle_dir: Path | None = None,
        smooth: bool = True,
        track_distance: float = 0.5,
        track_timeout: float = 1.0,
        camera_space: bool = True,
        hfov_deg: float = DEFAULT_HFOV_DEG,
        detector: Detector | None = None,
        candidates: int | None = None,
        face_camera: bool = True,
        detect_max_side: int | None = DETECT_MAX_SIDE,
        pose_backend: str = DEFAULT_POSE_BACKEND,
        search_every_s: float | None = SEARCH_EVERY_S,
        camera_motion: MotionEstimator | None = None,
        follow_camera: bool = True,
    ) -> None:
        if max_persons < 1:
            raise PoseError(f"max_persons must be at least 1, got {max_persons}")
        self._pose = backends.pose_backend(pose_backend)
        if backend not in self._pose.variants:
            raise PoseError(
                f"unknown {self._pose.name} variant {backend!r} (expected {', '.join(self._pose.variants)})"
            )
        self.max_persons = max_persons
        self.detect_max_side = detect_max_side
        self._camera = CameraSpace(hfov_deg, smoother=_OneEuro if smooth else None) if camera_space else None
        # The camera's own turns, taken out of everyone's position (pose.camera_motion).
        self._motion = (camera_motion or BackgroundMotion()) if follow_camera else None
        self.last_shift: np.ndarray | None = None
        self._facing = FaceCamera() if face_camera else None
        self.candidates = candidates or default_candidates(max_persons)
        if self.candidates < max_persons:
            raise PoseError(f"candidates ({self.candidates}) must be at least max_persons ({max_persons})")
        if search_every_s is not None and not search_every_s > 0:
            raise PoseError(f"search_every_s must be positive, got {search_every_s}")
        self._backend = detector or self._create(
            self._pose, backend, self.candidates, min_confidence, bundle_dir, smooth
        )
        follow: tuple[int, float] | None = None
        several = self._pose.max_poses(self._backend.name) is None  # legacy MediaPipe finds one
        if detector is None and search_every_s is not None and several:
            variant = self._backend.name  # the one that opened, also for the followers

            def open_follower() -> Detector:
                return self._create(self._pose, variant, 1, min_confidence, bundle_dir, smooth)

            self._backend = FollowingDetector(self._backend, open_follower, search_every_s)
            follow = (max_persons, search_every_s)
        self.detector_settings = detection_settings(
            self.candidates,
            backend,
            min_confidence,
            detect_max_side,
            self._pose.name,
            follow,
            MOTION_VERSION if self._motion is not None else None,
        )
        self.last_raw: list[RawPose] = []
        self._tracker = _Tracker(track_distance, track_timeout)
        self._smooth = smooth and self._pose.smooth_after(self._backend.name)
        self._filters: dict[int, _OneEuro] = {}
        # Each reported track's last person as reported and their detection's image points (to hold
        # them, and to keep following them, on a frame that does not see them).
        self._last_seen: dict[int, tuple[PersonPose, np.ndarray]] = {}
        self._clock = _DetectorClock()
        limit = self._pose.max_poses(self._backend.name)
        if limit is not None and max_persons > limit:
            log.warning(
                "%s %s pose finds %d person(s) only (asked for %d)",
                self._backend.name,
                self._pose.name,
                limit,
                max_persons,
            )

    @staticmethod
    def _create(
        backend: PoseBackend,
        variant: str,
        num_poses: int,
        min_confidence: float,
        bundle_dir: Path | None,
        smooth: bool,
    ) -> Detector:
        return backend.open(variant, num_poses, min_confidence, bundle_dir, smooth)

    @property
    def pose_backend(self) -> str:
        """The pose backend's name (``backend_name`` says which of its variants runs)."""
        return self._pose.name

    @property
    def backend_name(self) -> str:
        return self._backend.name

    @property
    def last_timestamp_ms(self) -> int:
        """The detector timestamp of the last frame (recorded detections are replayed by it)."""
        return self._clock.last_ms

    def detect(self, frame: Frame) -> list[RawPose]:
        """The detector's raw persons in one frame (none when it fails on this frame)."""
        t = frame.t_media if frame.t_media is not None else frame.t_capture
        timestamp_ms, restarted = self._clock.stamp(t)
        if restarted and isinstance(self._backend, FollowingDetector):
            self._backend.follow([])  # a new recording: nobody is where they were; search at once
        try:
            if frame.image.ndim != 3 or frame.image.shape[2] != 3:
                raise ValueError(f"expected a BGR image (H, W, 3), got shape {frame.image.shape}")
            return self._backend.detect(fit_for_detection(frame.image, self.detect_max_side), timestamp_ms)
        except Exception as exc:  # one bad frame must not end a live session
            log.warning("frame %d: pose estimation failed: %s", frame.index, exc)
            return []

    def process(self, frame: Frame) -> PoseResult:
        """Detect, map to NTU-25 and track the persons in one frame; report the ``max_persons``
        most prominent of them."""
        start = time.perf_counter()
        result = PoseResult(frame.index, frame.t_capture, t_media=frame.t_media)
        raw = self.last_raw = self.detect(frame)
        self.last_shift = None
        if self._motion is not None and frame.image.ndim == 3:
            people = [image for _, image in raw]
            self.last_shift = self._motion.shift(frame.image, self.last_timestamp_ms, people)
            if self.last_shift is not None and self._camera is not None:
                self._camera.turn(self.last_shift, frame.image.shape[1], frame.image.shape[0])
        aspect = frame.image.shape[1] / max(frame.image.shape[0], 1) if frame.image.ndim == 3 else 1.0
        found: list[PersonPose] = []
        # By id() of the person (tracking drops and reorders them): the detection and its prominence.
        detections: dict[int, tuple[Detection, float]] = {}
        for world, img in raw:
            if not (np.isfinite(world).all() and np.isfinite(img).all()):
                log.warning(
                    "frame %d: %s returned non-finite landmarks; person skipped", frame.index, self._pose.name
                )
                continue
            found_now = self._pose.to_detection((world, img))
            found.append(PersonPose(0, found_now.joints, found_now.image_xy, found_now.visibility))
            detections[id(found[-1])] = (found_now, prominence(img, aspect, found_now.image_xy))
        prominences = {id(p): detections[id(p)][1] for p in found}
        result.persons, chosen = self._track(found, prominences, frame.image.shape, result.t)
        held = sorted(chosen - {p.track_id for p in result.persons})
        result.held = [self._last_seen[k][0] for k in held]
        if isinstance(self._backend, FollowingDetector):
            images = [detections[id(p)][0].image for p in result.persons]
            self._backend.follow(images + [self._last_seen[k][1] for k in held])
        if self._camera is not None and chosen:
            self._camera.keep(chosen)
            for person in result.persons:
                height, width = frame.image.shape[:2]
                detection = detections[id(person)][0]
                root = self._camera.root(
                    person.track_id, detection.world, detection.image, width, height, result.t
                )
                person.joints = person.joints + root
        if self._facing is not None and chosen:
            self._facing.keep(chosen)
            for person in result.persons:
                person.joints = self._facing(person.track_id, person.joints, result.t)
        kept = {k: v for k, v in self._last_seen.items() if k in chosen}
        seen = {
            p.track_id: (replace(p, joints=p.joints.copy()), detections[id(p)][0].image)
            for p in result.persons
        }
        self._last_seen = kept | seen
        result.pose_ms = (time.perf_counter() - start) * 1000.0
        return result

    def _track(
        self, persons: list[PersonPose], prominences: dict[int, float], shape: tuple[int, ...], t: float
    ) -> tuple[list[PersonPose], set[int]]:
        """Drop duplicates, give every person a track id, choose the ``max_persons`` most prominent
        of them and of the reported persons held (unseen for at most HOLD_S) and, where enabled,
        smooth the chosen persons' joints. ``prominences`` is keyed by id() of the person. Returns
        the chosen persons seen now and every chosen track id (held ones included)."""
        ids: list[int] = []
        if persons:  # nothing to match otherwise (the tracker ages its tracks at the next sighting)
            scale = np.array([shape[1] / max(shape[0], 1), 1.0], np.float32)
            persons = _without_duplicates(persons, scale)
            ids = self._tracker.assign([p.image_xy for p in persons], scale, t)
        for person, track_id in zip(persons, ids, strict=True):
            person.track_id = track_id
        chosen = self._tracker.select(ids, [prominences[id(p)] for p in persons], self.max_persons, t)
        chosen &= set(ids) | set(self._last_seen)  # a held person was reported before
        persons = sorted((p for p in persons if p.track_id in chosen), key=lambda p: p.track_id)
        if self._smooth:
            self._filters = {k: f for k, f in self._filters.items() if k in chosen}
            for person in persons:
                person.joints = self._filters.setdefault(person.track_id, _OneEuro())(person.joints, t)
        return persons, chosen

    def close(self) -> None:
        self._backend.close()

    def __enter__(self) -> PoseEstimator:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
