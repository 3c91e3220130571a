"""Scripted NTU-25 motions for the built-in demo: a person waving, clapping, squatting, jumping ...

The demo must work on any machine, with no camera and no data, and still exercise the real window
and model path, so it synthesises plausible skeletons from a few pose parameters per frame: a root
offset, a forward lean, limb directions for the arms, and ankle targets that two-bone inverse
kinematics turns into legs (feet stay on the floor unless the motion lifts them). Every motion
blends in from and out to a relaxed standing pose, and a little sensor-like noise is added.

Coordinates are Kinect camera axes, metres: x to the sensor's left (so a facing person's left side
has the smaller x), y up, z away from the sensor; the person stands 3 m away, facing it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from pose.layouts import NUM_JOINTS, J

# Unit vectors of the facing person, in camera axes.
LEFT = np.array([-1.0, 0.0, 0.0])
UP = np.array([0.0, 1.0, 0.0])
FORWARD = np.array([0.0, 0.0, -1.0])  # toward the sensor

ROOT = np.array([0.0, -0.12, 3.0])  # spine base of a person standing 3 m in front of the sensor
UPPER_ARM, FOREARM, THIGH, SHIN = 0.28, 0.25, 0.42, 0.41
SHOULDER_HALF, HIP_HALF = 0.17, 0.07
STANCE_HALF = 0.10
BLEND_S = 0.6  # seconds to blend in from, and out to, the standing pose
# Per-joint jitter of a pose sensor: slowly wandering (AR(1)) rather than white, as trackers smooth.
NOISE_M = 0.002
NOISE_RHO = 0.95


@dataclass
class BodyParams:
    """Pose parameters of one frame; limb directions are (side, up, forward) in the torso frame."""

    root: np.ndarray  # offset of the spine base from ROOT (camera axes)
    pitch: float  # forward lean of the torso, radians
    upper: dict[str, np.ndarray]  # "left"/"right" upper-arm direction
    fore: dict[str, np.ndarray]  # forearm direction
    ankle: dict[str, np.ndarray]  # offset of each ankle from its standing place (camera axes)

    def blend(self, other: BodyParams, w: float) -> BodyParams:
        """(1 - w) * self + w * other, parameter by parameter."""

        def mix(a, b):
            return a + w * (b - a)

        return BodyParams(
            mix(self.root, other.root),
            mix(self.pitch, other.pitch),
            {s: mix(self.upper[s], other.upper[s]) for s in self.upper},
            {s: mix(self.fore[s], other.fore[s]) for s in self.fore},
            {s: mix(self.ankle[s], other.ankle[s]) for s in self.ankle},
        )


def _v(*xs: float) -> np.ndarray:
    return np.array(xs, dtype=np.float64)


def rest() -> BodyParams:
    """Standing relaxed: arms hanging a little away from the body."""
    return BodyParams(
        root=_v(0, 0, 0),
        pitch=0.03,
        upper={"left": _v(0.12, -1, 0.05), "right": _v(0.12, -1, 0.05)},
        fore={"left": _v(0.05, -1, 0.15), "right": _v(0.05, -1, 0.15)},
        ankle={"left": _v(0, 0, 0), "right": _v(0, 0, 0)},
    )


def _cosine_cycle(t: float, period: float) -> float:
    """0 -> 1 -> 0 over one period, smooth at both ends."""
    return 0.5 - 0.5 * math.cos(2 * math.pi * t / period)


def wave(t: float) -> BodyParams:
    p = rest()
    p.upper["right"] = _v(0.95, 0.15, 0.25)
    p.fore["right"] = _v(0.6 * math.sin(2 * math.pi * 1.5 * t), 1, 0.15)
    return p


def clap(t: float) -> BodyParams:
    p = rest()
    closed = 0.5 + 0.5 * math.sin(2 * math.pi * 2.0 * t)
    for side in ("left", "right"):
        p.upper[side] = _v(0.2, -0.55, 0.8)
        p.fore[side] = _v(-(0.35 + 0.6 * closed), 0.35, 0.75)
    return p


def squat(t: float) -> BodyParams:
    q = _cosine_cycle(t, 2.4)
    p = rest()
    p.root = _v(0, -0.42 * q, 0.12 * q)
    p.pitch = 0.03 + 0.45 * q
    for side in ("left", "right"):
        p.upper[side] = _v(0.12, -1 + 1.0 * q, 0.05 + 1.0 * q)
        p.fore[side] = _v(0.05, -1 + 1.0 * q, 0.15 + 1.0 * q)
    return p


def jump(t: float) -> BodyParams:
    phase = t % 1.0
    p = rest()
    arms_up = 0.0
    if phase < 0.35:  # crouch and swing the arms back
        q = math.sin(math.pi * phase / 0.35)
        p.root = _v(0, -0.15 * q, 0.04 * q)
        p.pitch = 0.03 + 0.3 * q
        for side in ("left", "right"):
            p.upper[side] = _v(0.12, -1, -0.5 * q)
    elif phase < 0.75:  # flight: body and feet leave the floor together
        h = 0.25 * math.sin(math.pi * (phase - 0.35) / 0.4)
        arms_up = h / 0.25
        p.root = _v(0, h, 0)
        for side in ("left", "right"):
            p.ankle[side] = _v(0, h, 0)
    else:  # landing
        q = math.sin(math.pi * (phase - 0.75) / 0.25)
        p.root = _v(0, -0.1 * q, 0.03 * q)
        p.pitch = 0.03 + 0.2 * q
    for side in ("left", "right"):
        if arms_up:
            p.upper[side] = _v(0.3, -1 + 1.6 * arms_up, 0.3)
            p.fore[side] = _v(0.2, -1 + 1.8 * arms_up, 0.3)
    return p


def walk(t: float) -> BodyParams:
    w = 2 * math.pi * t / 1.1
    p = rest()
    p.root = _v(0.015 * math.sin(w), 0.02 * abs(math.sin(w)), 0)
    lift = {"left": max(0.0, math.sin(w)), "right": max(0.0, -math.sin(w))}
    swing = {"left": -math.sin(w), "right": math.sin(w)}
    for side in ("left", "right"):
        p.ankle[side] = _v(0, 0.22 * lift[side], -0.1 * lift[side])
        p.upper[side] = _v(0.1, -1, 0.4 * swing[side])
        p.fore[side] = _v(0.05, -1, 0.3 + 0.5 * swing[side])
    return p


def raise_hands(t: float) -> BodyParams:
    q = _cosine_cycle(t, 2.5)
    p = rest()
    for side in ("left", "right"):
        p.upper[side] = p.upper[side] + q * (_v(0.25, 1, 0.1) - p.upper[side])
        p.fore[side] = p.fore[side] + q * (_v(0.2, 1, 0.1) - p.fore[side])
    return p


def bow(t: float) -> BodyParams:
    q = _cosine_cycle(t, 3.0)
    p = rest()
    p.pitch = 0.03 + 0.85 * q
    p.root = _v(0, -0.02 * q, 0.1 * q)
    return p


def kick(t: float) -> BodyParams:
    q = max(0.0, math.sin(2 * math.pi * t / 1.6)) ** 1.5
    p = rest()
    p.ankle["right"] = _v(0, 0.45 * q, -0.65 * q)
    p.pitch = 0.03 - 0.12 * q
    for side in ("left", "right"):
        p.upper[side] = _v(0.12 + 0.5 * q, -1, 0.05)
    return p


def stand(t: float) -> BodyParams:
    return rest()


# (label a user would type, seconds, motion). "stand" has no label: it shows the no-action state.
DEMO_SCRIPT: tuple[tuple[str | None, float, Callable[[float], BodyParams]], ...] = (
    (None, 3.0, stand),
    ("wave", 6.0, wave),
    ("clap hands", 6.0, clap),
    ("squat", 6.0, squat),
    ("jump", 6.0, jump),
    ("walk", 6.0, walk),
    ("raise hands", 6.0, raise_hands),
    ("bow", 6.0, bow),
    ("kick", 6.0, kick),
)
SCRIPT_SECONDS = sum(seconds for _, seconds, _ in DEMO_SCRIPT)


def script_at(t: float) -> tuple[str | None, float, float, Callable[[float], BodyParams]]:
    """(label, time into the segment, segment length, motion) at ``t`` seconds into the script."""
    t = t % SCRIPT_SECONDS
    for label, seconds, motion in DEMO_SCRIPT:
        if t < seconds:
            return label, t, seconds, motion
        t -= seconds
    label, seconds, motion = DEMO_SCRIPT[-1]
    return label, seconds, seconds, motion


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-9)


def _two_bone(
    hip: np.ndarray, ankle: np.ndarray, bend: np.ndarray, thigh: float, shin: float
) -> tuple[np.ndarray, np.ndarray]:
    """Knee and ankle for a leg reaching from ``hip`` toward ``ankle``, the knee bending toward
    ``bend``; a target out of reach gives a straight leg pointing at it."""
    span = ankle - hip
    d = float(np.linalg.norm(span))
    axis = _unit(span)
    reach = thigh + shin - 1e-4
    if d > reach:
        d, ankle = reach, hip + axis * reach
    d = max(d, 1e-6)
    along = (thigh**2 - shin**2 + d**2) / (2 * d)
    height = math.sqrt(max(thigh**2 - along**2, 0.0))
    perp = _unit(bend - axis * float(bend @ axis))
    return hip + axis * along + perp * height, ankle


def body_joints(p: BodyParams, scale: float = 1.0) -> np.ndarray:
    """Forward kinematics: parameters to the 25 NTU joints (25, 3) in camera axes."""
    out = np.zeros((NUM_JOINTS, 3))
    root = ROOT + p.root
    up = math.cos(p.pitch) * UP + math.sin(p.pitch) * FORWARD
    fwd = math.cos(p.pitch) * FORWARD - math.sin(p.pitch) * UP
    s = scale
    out[J["spine_base"]] = root
    out[J["spine_mid"]] = root + up * 0.25 * s
    out[J["spine_shoulder"]] = root + up * 0.47 * s
    out[J["neck"]] = root + up * 0.55 * s
    out[J["head"]] = root + up * 0.69 * s
    for side, sign in (("left", 1.0), ("right", -1.0)):
        lateral = LEFT * sign

        def torso_dir(v: np.ndarray, lateral: np.ndarray = lateral) -> np.ndarray:
            return _unit(v[0] * lateral + v[1] * up + v[2] * fwd)

        shoulder = out[J["spine_shoulder"]] + (lateral * SHOULDER_HALF - up * 0.03) * s
        upper, fore = torso_dir(p.upper[side]), torso_dir(p.fore[side])
        elbow = shoulder + upper * UPPER_ARM * s
        wrist = elbow + fore * FOREARM * s
        out[J[f"{side}_shoulder"]] = shoulder
        out[J[f"{side}_elbow"]] = elbow
        out[J[f"{side}_wrist"]] = wrist
        out[J[f"{side}_hand"]] = wrist + fore * 0.07 * s
        out[J[f"{side}_hand_tip"]] = wrist + fore * 0.14 * s
        # The thumb sticks out of the palm, square to the forearm, toward the front where it can.
        palm = fwd - fore * float(fwd @ fore)
        thumb_dir = _unit(palm) if np.linalg.norm(palm) > 0.1 else -lateral
        out[J[f"{side}_thumb"]] = wrist + (fore * 0.04 + thumb_dir * 0.04) * s
        hip = root + (lateral * HIP_HALF - UP * 0.02) * s
        stance = ROOT + lateral * STANCE_HALF * s + UP * (-0.02 * s - (THIGH + SHIN - 0.01) * s)
        knee, ankle = _two_bone(hip, stance + p.ankle[side] * s, FORWARD + 0.1 * lateral, THIGH * s, SHIN * s)
        out[J[f"{side}_hip"]] = hip
        out[J[f"{side}_knee"]] = knee
        out[J[f"{side}_ankle"]] = ankle
        out[J[f"{side}_foot"]] = ankle + (FORWARD * 0.12 - UP * 0.05) * s
    return out


class DemoMotion:
    """Frame-by-frame joints of the demo script, with noise; one draw of body size per loop."""

    def __init__(self, fps: float = 30.0, seed: int = 0) -> None:
        self.fps = fps
        self._rng = np.random.default_rng(seed)
        self._scale = 1.0
        self._loop = -1
        self._noise = np.zeros((NUM_JOINTS, 3))

    @property
    def frames_per_loop(self) -> int:
        return int(round(SCRIPT_SECONDS * self.fps))

    def frame(self, index: int) -> tuple[np.ndarray, str | None]:
        """Joints (25, 3) float32 and the label of the motion shown at frame ``index``."""
        t = index / self.fps
        loop = int(t // SCRIPT_SECONDS)
        if loop != self._loop:
            self._loop = loop
            self._scale = float(self._rng.uniform(0.92, 1.08))
        label, local, seconds, motion = script_at(t)
        w = min(1.0, local / BLEND_S, (seconds - local) / BLEND_S)
        w = w * w * (3 - 2 * w)  # smoothstep: no jerk at the segment boundaries
        params = rest().blend(motion(local), w)
        params.root = params.root + _v(0.02 * math.sin(0.4 * t), 0, 0.03 * math.sin(0.23 * t))
        joints = body_joints(params, self._scale)
        innovation = self._rng.normal(0.0, NOISE_M * math.sqrt(1 - NOISE_RHO**2), joints.shape)
        self._noise = NOISE_RHO * self._noise + innovation
        joints += self._noise
        return joints.astype(np.float32), label
