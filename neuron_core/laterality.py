"""Left and right from the skeleton, not from the text encoder.

Text encoders put "raise left hand" and "raise right hand" almost on top of each other (cosine 0.97
with MiniLM), so name prompts cannot choose the side of a mirror pair. The skeleton can: which arm or
leg moves more, which way the body travels, which way it turns. When both labels of a mirror pair are
in use, the pair's two scores are given to its two labels in the order the skeleton says, so the model
still decides *what* is done (the pair against every other label) and the skeleton decides the side.

Sides are the person's own (Kinect/NTU joint names): the "left hand" is the performer's left hand.
Axes: Kinect camera space, y up; the person's left is the direction from the right shoulder to the
left one, horizontal part only.
"""

from __future__ import annotations

import re

import numpy as np

# NTU-25 joints, 0-based.
_SPINE_BASE, _SHOULDER_L, _SHOULDER_R, _HIP_L, _HIP_R = 0, 4, 8, 12, 16
_ARM = {"left": (5, 6, 7, 21, 22), "right": (9, 10, 11, 23, 24)}  # elbow, wrist, hand, tip, thumb
_LEG = {"left": (13, 14, 15), "right": (17, 18, 19)}  # knee, ankle, foot
_UP = np.array([0.0, 1.0, 0.0])
# Below this strength the skeleton does not say which side: the model's own order is kept.
MIN_CUE = 0.15

_SIDE = re.compile(r"\b(left|right)\b", re.IGNORECASE)
_LEG_WORDS = re.compile(r"\b(leg|legs|foot|feet|knee|kick|kicks|kicking|hop|hopping)\b", re.IGNORECASE)
_TURN_WORDS = re.compile(r"\b(turn|turns|turning|spin|spins|spinning|rotate|rotating)\b", re.IGNORECASE)
_ARM_WORDS = re.compile(
    r"\b(hand|hands|arm|arms|wave|waving|raise|raising|punch|punching|throw|throwing|point|pointing|"
    r"elbow|wrist|fist|reach|reaching|swipe|swiping)\b",
    re.IGNORECASE,
)


def mirror_label(label: str) -> str:
    """The label of the mirrored action: "wave right hand" -> "wave left hand"; others unchanged."""

    def swap(match: re.Match[str]) -> str:
        word = match.group(0)
        other = "right" if word.lower() == "left" else "left"
        return other.capitalize() if word[0].isupper() else other

    return _SIDE.sub(swap, label)


def side_of(label: str) -> str | None:
    """ "left" or "right" when the label names exactly one side, else None."""
    sides = {m.lower() for m in _SIDE.findall(label)}
    return sides.pop() if len(sides) == 1 else None


def cue_kind(label: str) -> str:
    """Which evidence tells this label's side: "turn", "leg", "arm" or (the rest) "travel"."""
    if _TURN_WORDS.search(label):
        return "turn"
    if _LEG_WORDS.search(label):
        return "leg"
    if _ARM_WORDS.search(label):
        return "arm"
    return "travel"


def _left_axis(frame: np.ndarray) -> np.ndarray | None:
    """Unit horizontal vector to the person's left in one frame (25, 3), from shoulders and hips."""
    v = (frame[_SHOULDER_L] - frame[_SHOULDER_R]) + (frame[_HIP_L] - frame[_HIP_R])
    v = v - _UP * v[1]
    n = np.linalg.norm(v)
    return v / n if n > 1e-6 else None


def _path(joints: np.ndarray, idx: tuple[int, ...]) -> float:
    """Path length of joints relative to the spine base (whole-body travel left out)."""
    rel = joints[:, list(idx)] - joints[:, [_SPINE_BASE]]
    return float(np.linalg.norm(np.diff(rel, axis=0), axis=-1).sum())


def laterality(joints: np.ndarray, kind: str) -> float:
    """Evidence in [-1, 1] that the action is done on / toward the person's left (+) or right (-).

    ``joints``: (T, 25, 3) one person's frames (absent frames all zero are dropped).
    """
    present = np.abs(joints).reshape(len(joints), -1).sum(axis=1) > 0
    joints = np.asarray(joints, np.float64)[present]
    if len(joints) < 2:
        return 0.0
    if kind in ("arm", "leg"):
        limbs = _ARM if kind == "arm" else _LEG
        left, right = _path(joints, limbs["left"]), _path(joints, limbs["right"])
        return (left - right) / (left + right) if left + right > 1e-6 else 0.0
    first, last = _left_axis(joints[0]), _left_axis(joints[-1])
    if first is None or last is None:
        return 0.0
    if kind == "turn":
        facing_end = np.cross(last, _UP)  # with y up, facing = left x up
        return float(np.clip(facing_end @ first, -1.0, 1.0))
    shift = joints[-1, _SPINE_BASE] - joints[0, _SPINE_BASE]
    shift = shift - _UP * shift[1]
    travelled = np.linalg.norm(shift)
    if travelled < 0.1:  # under 10 cm: no travel to read a side from
        return 0.0
    return float(shift @ first / travelled)


def mirror_pairs(labels: list[str]) -> list[tuple[int, int]]:
    """Index pairs (left label, right label) of labels in use that are each other's mirror image."""
    index = {lab.casefold(): i for i, lab in enumerate(labels)}
    pairs = []
    for i, lab in enumerate(labels):
        if side_of(lab) == "left":
            j = index.get(mirror_label(lab).casefold())
            if j is not None and j != i:
                pairs.append((i, j))
    return pairs


def resolve_sides(labels: list[str], windows: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Scores (N, C) with each mirror pair's two scores ordered by the skeleton's side evidence.

    ``windows``: (N, 3, T, 25, M) normalised windows; the first person is read. Where the evidence is
    weak (|cue| < MIN_CUE) the model's order stays.
    """
    pairs = mirror_pairs(labels)
    if not pairs:
        return scores
    out = np.array(scores, copy=True)
    people = np.asarray(windows)[..., 0].transpose(0, 2, 3, 1)  # (N, T, 25, 3)
    for i_left, i_right in pairs:
        kind = cue_kind(labels[i_left])
        for n in range(out.shape[0]):
            cue = laterality(people[n], kind)
            if abs(cue) < MIN_CUE:
                continue
            hi, lo = max(out[n, i_left], out[n, i_right]), min(out[n, i_left], out[n, i_right])
            out[n, i_left], out[n, i_right] = (hi, lo) if cue > 0 else (lo, hi)
    return out
