"""Where a person stands: MediaPipe's hip-centred world joints placed in camera space.

MediaPipe's world landmarks are metric but centred on each person's own hips, so on their own every
person stands at the origin: walking becomes walking on the spot, a jump loses its rise and two people
lose their placement. The recordings the model learns from (Kinect, motion capture) keep that global
motion, and so does the shared normalisation (it centres on the first frame only), so live joints must
carry it too. The image landmarks of the same joints say where the body is in the picture: with a
pinhole camera of assumed field of view, the translation t that makes the projection of (world + t)
fall on them is the hip centre's position in camera space. Its depth is the focal length times the
ratio of the body's metric size to its size in the image, so a wrong field of view scales the depths
(and motion toward the camera) by one factor; sideways and vertical positions in metres are the
body's offset from the image centre in units of its own size, in which the field of view cancels.

The solve runs in MediaPipe's axes (x right, y down, z away from the camera: the image's own axes,
those of a pinhole camera) and the result is turned into Kinect axes with the same half turn
:func:`pose.backends.mediapipe.mediapipe_to_ntu25` applies to the joints.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from pose.errors import PoseError
from pose.layouts import MEDIAPIPE_TO_KINECT, J

# A typical webcam's horizontal field of view; laptop and USB cameras lie between about 55 and 80.
DEFAULT_HFOV_DEG = 60.0
# Depths a person in front of a camera can have; solves outside are clamped into it.
DEPTH_RANGE_M = (0.5, 8.0)
# Depth assumed for a person seen for the first time in a frame that gives none.
DEFAULT_DEPTH_M = 2.5
# Landmarks MediaPipe is less sure of than this (hidden or out of the picture) are guesses: left out.
MIN_VISIBILITY = 0.5
# The depth needs the body's spread in the image: fewer visible landmarks than this do not give it.
MIN_POINTS = 6
# Below this mean squared spread of the visible landmarks (in units of the focal length, so a body
# under about 1/300 of it), the depth is not determined.
MIN_SPREAD = 1e-5

# A smoother takes a value and its time in seconds and returns the smoothed value.
Smoother = Callable[[np.ndarray, float], np.ndarray]


def ray_slopes(image_xy: np.ndarray, width: int, height: int, hfov_deg: float) -> np.ndarray:
    """Normalised image coordinates (N, 2 or more: x, y first) in [0, 1] to ray slopes (x/z, y/z)
    of a pinhole camera.

    The principal point is the image centre and the focal length in pixels is (width / 2) /
    tan(hfov / 2), square pixels: all a frame tells about a camera nobody calibrated.
    """
    per_width = 2.0 * math.tan(math.radians(hfov_deg) / 2.0)  # image width over focal length
    slopes = np.asarray(image_xy, np.float64)[:, :2] - 0.5
    return slopes * np.array([per_width, per_width * height / width])


def _moments(world: np.ndarray, slopes: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted means of a, b, d, e, a^2 + b^2 and a d + b e, where (a, b) are a joint's ray slopes
    and d = X - a Z, e = Y - b Z; zero weights throughout count every joint equally."""
    total = weights.sum()
    w = weights / total if total > 0 else np.full(len(weights), 1.0 / len(weights))
    de = world[:, :2] - slopes * world[:, 2:]
    m = w @ np.concatenate([slopes, de, slopes * slopes, slopes * de], axis=1)
    return np.array([m[0], m[1], m[2], m[3], m[4] + m[5], m[6] + m[7]])


def solve_translation(
    world: np.ndarray, slopes: np.ndarray, weights: np.ndarray, depth_range: tuple[float, float]
) -> np.ndarray | None:
    """The translation t (3,) that best puts the projections of world + t (N, 3) on the rays.

    A joint (X, Y, Z) seen along slopes (a, b) satisfies X + tx = a (Z + tz) and Y + ty = b (Z + tz),
    linear in t. Weighted least squares over the joints has a closed form: for a given tz the best
    tx, ty are weighted means, and eliminating them leaves tz as the regression of d = X - a Z on a
    and of e = Y - b Z on b, i.e. the joints' metric spread over their spread in the image. tz is
    clamped into ``depth_range`` and tx, ty are taken at the clamped depth. None when the landmarks
    do not determine a depth (too few, or all in one spot), so the caller can fall back on what it
    knew.
    """
    if np.count_nonzero(weights) < MIN_POINTS:
        return None
    m = _moments(world, slopes, weights)
    spread = m[4] - m[0] * m[0] - m[1] * m[1]
    if not spread > MIN_SPREAD:
        return None
    tz = (m[5] - m[0] * m[2] - m[1] * m[3]) / spread
    if not math.isfinite(tz):
        return None
    tz = min(max(tz, depth_range[0]), depth_range[1])
    return np.array([tz * m[0] - m[2], tz * m[1] - m[3], tz])


def translation_at_depth(world: np.ndarray, slopes: np.ndarray, weights: np.ndarray, tz: float) -> np.ndarray:
    """The translation with depth ``tz`` that best puts world + t on the rays: where the body is
    across the picture, even when its depth is not known."""
    m = _moments(world, slopes, weights)
    return np.array([tz * m[0] - m[2], tz * m[1] - m[3], tz])


class CameraSpace:
    """Per tracked person, the camera-space position of the hip centre, frame after frame.

    ``hfov_deg`` is the camera's assumed horizontal field of view, ``depth_range`` the depths
    allowed, ``default_depth`` the depth of a new person whose first frame gives none (a later
    frame without a depth keeps the person's last one, and only where the person is across the
    picture is updated). ``smoother`` makes a fresh filter for each track: the position, whose depth
    comes from the body's size in pixels, jitters more than the pose does.
    """

    def __init__(
        self,
        hfov_deg: float = DEFAULT_HFOV_DEG,
        depth_range: tuple[float, float] = DEPTH_RANGE_M,
        default_depth: float = DEFAULT_DEPTH_M,
        smoother: Callable[[], Smoother] | None = None,
    ) -> None:
        if not 1.0 <= hfov_deg <= 170.0:
            raise PoseError(f"camera field of view must be 1 to 170 degrees, got {hfov_deg}")
        if not 0.0 < depth_range[0] <= default_depth <= depth_range[1]:
            raise PoseError(f"bad camera depths: range {depth_range}, default {default_depth}")
        self.hfov_deg = hfov_deg
        self.depth_range = (float(depth_range[0]), float(depth_range[1]))
        self.default_depth = float(default_depth)
        self._smoother = smoother
        # id -> (last root, filter, offset, pan then): the offset (x, y, metres) takes out how far the
        # camera turned while the person was followed (``turn``), measured as ``pan`` was when it was
        # last brought up to date.
        self._tracks: dict[int, tuple[np.ndarray, Smoother | None, np.ndarray, np.ndarray]] = {}
        self._pan = np.zeros(2)  # the camera's turn since the start, as ray slopes (x/z, y/z)

    def turn(self, shift: np.ndarray, width: int, height: int) -> None:
        """The background moved by ``shift`` (normalised x, y: :mod:`pose.camera_motion`) since the
        previous frame: the camera turned the other way. A turn by a small angle moves the ray of
        every still point by the same slope, so a person's position is corrected by their depth
        times the slopes the camera turned while they were followed."""
        self._pan += ray_slopes(np.asarray(shift, np.float64)[None] + 0.5, width, height, self.hfov_deg)[0]

    def root(
        self, track_id: int, world: np.ndarray, image: np.ndarray, width: int, height: int, t: float
    ) -> np.ndarray:
        """Camera-space position (3,) float32, Kinect axes, metres, of the hip centre of one person.

        ``world`` are MediaPipe's world landmarks (33, 3), ``image`` its image landmarks (33, 4:
        normalised x, y, z, visibility) of a ``width`` x ``height`` frame, ``t`` the frame's time.
        """
        world = np.asarray(world, np.float64)
        slopes = ray_slopes(image, width, height, self.hfov_deg)
        visibility = np.asarray(image, np.float64)[:, 3]
        weights = np.where(visibility >= MIN_VISIBILITY, visibility, 0.0)
        last, smooth, offset, pan = self._tracks.get(track_id, (None, None, np.zeros(2), self._pan))
        if track_id not in self._tracks and self._smoother is not None:
            smooth = self._smoother()
        found = solve_translation(world, slopes, weights, self.depth_range)
        if found is None:
            depth = self.default_depth if last is None else float(last[2])
            found = translation_at_depth(world, slopes, weights, depth)
        if not np.isfinite(found).all():
            found = np.array([0.0, 0.0, self.default_depth]) if last is None else last
        if smooth is not None:
            found = smooth(found, t)
        # A still point's ray turned by (pan now - pan then) against the camera: its solved position
        # moved by its depth times that, which the offset takes back.
        offset = offset - found[2] * (self._pan - pan)
        self._tracks[track_id] = (found, smooth, offset, self._pan.copy())
        placed = found + np.array([offset[0], offset[1], 0.0])
        return (MEDIAPIPE_TO_KINECT @ placed).astype(np.float32)

    def keep(self, track_ids: set[int]) -> None:
        """Forget every track but these (the tracker's live ones)."""
        self._tracks = {k: v for k, v in self._tracks.items() if k in track_ids}


# How slowly the turn that faces a person to the camera follows their heading: seconds for it to
# move 63% of the way to a new heading. A window (about 2 s) still shows the body turning, but a
# person seen from the side for longer is turned to face the camera.
FACING_TAU_S = 2.0


def heading(joints: np.ndarray) -> complex:
    """The direction of a body's left-to-right line (shoulders and hips) in the ground plane, as a
    unit complex number x + iz in Kinect axes: 1 for a person facing the camera (their left at the
    smaller x), -1 for one with their back to it, +-i seen from the side."""
    across = (joints[J["right_shoulder"]] - joints[J["left_shoulder"]]) + (
        joints[J["right_hip"]] - joints[J["left_hip"]]
    )
    z = complex(float(across[0]), float(across[2]))
    return z / abs(z) if abs(z) > 1e-9 else 1.0 + 0.0j


class FaceCamera:
    """Per tracked person, the body turned about the vertical through its spine base so that it
    faces the camera, and its path on the ground turned with it.

    The motion-capture clips the model learns from are placed facing the sensor at their start, and
    the Kinect ones were filmed from 45 degrees at most; a person filmed from the side is a view the
    model has rarely seen (measured by ``app.live_gap``: on the real videos 42% of frames show the
    shoulder line turned over 45 degrees from the image plane, in NTU 18%, in Human3.6M 20%;
    docs/VIDEO_BENCHMARK.md). The turn follows the person's
    heading slowly (``tau_s``), so turning within a window stays visible. The path is integrated
    from the turned steps, so a person walking across the picture walks toward the camera instead.
    """

    def __init__(self, tau_s: float = FACING_TAU_S) -> None:
        self.tau_s = tau_s
        self._tracks: dict[int, tuple[float, complex, np.ndarray, np.ndarray]] = {}

    def __call__(self, track_id: int, joints: np.ndarray, t: float) -> np.ndarray:
        """``joints`` (25, 3) in camera space, turned to face the camera."""
        root = joints[J["spine_base"]].astype(np.float64)
        seen = self._tracks.get(track_id)
        if seen is None or t <= seen[0]:
            turn, path = heading(joints), root
        else:
            last_t, turn, last_root, path = seen
            turn += (1.0 - math.exp(-(t - last_t) / self.tau_s)) * (heading(joints) - turn)
            turn = turn / abs(turn) if abs(turn) > 1e-9 else 1.0 + 0.0j
            step = root - last_root
            flat = complex(step[0], step[2]) / turn
            path = path + np.array([flat.real, step[1], flat.imag])
        self._tracks[track_id] = (t, turn, root, path)
        local = joints.astype(np.float64) - root
        flat = (local[:, 0] + 1j * local[:, 2]) / turn
        out = np.stack([flat.real, local[:, 1], flat.imag], axis=1) + path
        return out.astype(np.float32)

    def keep(self, track_ids: set[int]) -> None:
        """Forget every track but these."""
        self._tracks = {k: v for k, v in self._tracks.items() if k in track_ids}
