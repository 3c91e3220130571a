"""BVH motion capture (Bandai-Namco Research Motion datasets 1 and 2, and loose .bvh files) as NTU-25.

A humanoid BVH rig has fewer joints than the Kinect: we map Hips to the spine base, a point 0.57 of
the way up the spine chain to the spine mid, the neck base to the spine shoulder, and place the head
(Kinect: head centre) 0.12 m beyond the skull-base Head joint along the head's own axis; the Kinect
neck then sits 0.35 of the way from spine shoulder to head, as in pose.layouts. Without finger
joints, hand, tip and thumb are built from the wrist: 0.065 m and 0.13 m along the hand's axis, and
the thumb 0.065 m along it plus 0.06 m to the thumb side. All those distances are medians measured
on the real NTU recordings in ../shared/data.

The body is then turned about the vertical only (a rotation, never a mirror) so that at the first
frame it faces the sensor (-z), and placed 3 m in front of a sensor 1 m above the floor, in metres.
Checked on the Bandai clips: "walk" then moves toward the sensor, "walk backward" away from it,
"wave left hand" moves the joints mapped to NTU's left hand, and the left shoulder has the smaller x.
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from pose.errors import SkeletonError, one_line
from pose.layouts import NECK_RATIO, NUM_JOINTS, SPINE_MID_RATIO, J
from pose.readers._bvh_parse import BvhMotion, forward_kinematics, parse_bvh
from pose.readers._common import ARCHIVE_ERRORS, decode_text, quote, read_text
from pose.skeleton import Skeleton

HEAD_ABOVE_SKULL_BASE = 0.12
HAND_ALONG = 0.065
TIP_ALONG = 0.13
THUMB_ALONG = 0.065
THUMB_SIDE = 0.06
SENSOR_DISTANCE = 3.0
SENSOR_HEIGHT = 1.0

# Rig roles -> accepted joint names, compared lower-case without "_", " " or a "prefix:" namespace
# (Bandai-Namco, and the Mixamo/CMU naming most other BVH files use); {s} is l/r, {side} left/right.
_SIDE_ROLES: dict[str, tuple[str, ...]] = {
    "shoulder": ("upperarm{s}", "{side}arm", "{side}upperarm", "{s}shldr"),
    "elbow": ("lowerarm{s}", "{side}forearm", "{side}lowerarm", "{s}forearm"),
    "wrist": ("hand{s}", "{side}hand", "{s}hand"),
    "hip": ("upperleg{s}", "{side}upleg", "{side}upperleg", "{side}thigh", "{s}thigh"),
    "knee": ("lowerleg{s}", "{side}leg", "{side}lowerleg", "{side}shin", "{s}shin"),
    "ankle": ("foot{s}", "{side}foot", "{s}foot"),
    "foot": ("toes{s}", "{side}toebase", "{side}toe", "{s}toe"),
}
_ROLES: dict[str, tuple[str, ...]] = {
    "hips": ("hips", "pelvis"),
    "neck": ("neck",),
    "head": ("head",),
    **{
        f"{side}_{part}": tuple(n.format(s=side[0], side=side) for n in names)
        for side in ("left", "right")
        for part, names in _SIDE_ROLES.items()
    },
}

# Bandai-Namco content ids (0-based, the order of each data set's cfg/content_label.txt) and styles.
BANDAI_CONTENTS: dict[int, tuple[str, ...]] = {
    1: ("walk", "run", "dash", "walk-back", "walk-left", "walk-right", "bow", "bye", "guide", "byebye",
        "respond", "call", "punch", "kick", "slash", "dance-long", "dance-short"),
    2: ("walk", "walk-turn-left", "walk-turn-right", "run", "wave-both-hands", "wave-left-hand",
        "wave-right-hand", "raise-up-both-hands", "raise-up-left-hand", "raise-up-right-hand"),
}  # fmt: skip
BANDAI_STYLES: dict[int, tuple[str, ...]] = {
    1: ("normal", "happy", "sad", "angry", "proud", "not-confident", "masculinity", "feminine",
        "childish", "old", "tired", "active", "musical", "giant", "chimpira"),
    2: ("active", "elderly", "exhausted", "feminine", "masculine", "normal", "youthful"),
}  # fmt: skip
# Content id -> label in natural words. Chosen after looking at the motion itself: "bye" waves the
# right hand at shoulder height, "byebye" waves both hands, "guide" holds the right hand out to the
# side, "respond" raises the left hand above the head, "call" cups both hands at the mouth while
# leaning forward, "walk-left/right" walk diagonally forward, "slash" swings both hands overhead.
BANDAI_LABELS: dict[str, str] = {
    "walk": "walk",
    "run": "run",
    "dash": "dash",
    "walk-back": "walk backward",
    "walk-left": "walk to the left",
    "walk-right": "walk to the right",
    "walk-turn-left": "walk and turn left",
    "walk-turn-right": "walk and turn right",
    "bow": "bow",
    "bye": "wave goodbye",
    "byebye": "wave goodbye with both hands",
    "guide": "show the way",
    "respond": "raise hand to answer",
    "call": "call out",
    "punch": "punch",
    "kick": "kick",
    "slash": "slash with a sword",
    "dance-long": "dance",
    "dance-short": "dance",
    "wave-both-hands": "wave both hands",
    "wave-left-hand": "wave left hand",
    "wave-right-hand": "wave right hand",
    "raise-up-both-hands": "raise both hands",
    "raise-up-left-hand": "raise left hand",
    "raise-up-right-hand": "raise right hand",
}

_BANDAI_NAME = re.compile(r"dataset-(\d)_([a-z-]+)_([a-z-]+)_(\d+)$")


def _role_indices(motion: BvhMotion, source: str) -> dict[str, int]:
    normalised = {re.sub(r"[_\s]", "", n.split(":")[-1]).lower(): i for i, n in enumerate(motion.names)}
    found: dict[str, int] = {}
    for role, names in _ROLES.items():
        index = next((normalised[n] for n in names if n in normalised), None)
        if index is None:
            raise SkeletonError(
                f"{source}: no BVH joint for the {role.replace('_', ' ')} (looked for {names})"
            )
        found[role] = index
    return found


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def _chain(parents: list[int], top: int, bottom: int, source: str) -> list[int]:
    """Joint indices from ``bottom`` up to ``top`` (both included), following parents."""
    chain = [top]
    while chain[-1] != bottom:
        if parents[chain[-1]] < 0:
            raise SkeletonError(f"{source}: the neck joint does not descend from the hips joint")
        chain.append(parents[chain[-1]])
    return chain[::-1]


def _point_along(pos: np.ndarray, chain: list[int], offsets: np.ndarray, ratio: float) -> np.ndarray:
    """The point ``ratio`` of the rest length up a joint chain, per frame (T, 3)."""
    lengths = np.linalg.norm(offsets[chain[1:]], axis=1)
    target = ratio * lengths.sum()
    for k, length in enumerate(lengths):
        if target <= length or k == len(lengths) - 1:
            w = min(target / max(length, 1e-9), 1.0)
            return pos[:, chain[k]] * (1.0 - w) + pos[:, chain[k + 1]] * w
        target -= length
    return pos[:, chain[0]]


def _units_scale(motion: BvhMotion, roles: dict[str, int], source: str) -> float:
    """Metres per file unit, told from the leg length (Bandai-Namco and most BVH use centimetres)."""
    leg = sum(np.linalg.norm(motion.offsets[roles[r]]) for r in ("left_knee", "left_ankle"))
    if 40.0 <= leg <= 150.0:
        return 0.01
    if 0.4 <= leg <= 1.5:
        return 1.0
    raise SkeletonError(f"{source}: cannot tell the units (thigh + shin is {leg:.3g} file units)")


def motion_to_ntu25(motion: BvhMotion, source: str) -> np.ndarray:
    """Joints (T, 25, 3) in metres and Kinect camera axes, facing the sensor at the first frame."""
    roles = _role_indices(motion, source)
    scale = _units_scale(motion, roles, source)
    pos, rot = forward_kinematics(motion)
    pos = pos * scale
    out = np.zeros((pos.shape[0], NUM_JOINTS, 3))

    def put(name: str, role: str) -> None:
        out[:, J[name]] = pos[:, roles[role]]

    put("spine_base", "hips")
    put("spine_shoulder", "neck")
    spine = _chain(motion.parents, roles["neck"], roles["hips"], source)
    out[:, J["spine_mid"]] = _point_along(pos, spine, motion.offsets, SPINE_MID_RATIO)
    # A joint's own axis: where its parent's bone would continue, turned by the joint's rotation.
    h = roles["head"]
    head = pos[:, h] + HEAD_ABOVE_SKULL_BASE * _unit(rot[:, h] @ _unit(motion.offsets[h]))
    out[:, J["head"]] = head
    out[:, J["neck"]] = out[:, J["spine_shoulder"]] + NECK_RATIO * (head - out[:, J["spine_shoulder"]])
    up = np.array([0.0, 1.0, 0.0])
    across = (pos[0, roles["left_shoulder"]] - pos[0, roles["right_shoulder"]]) + (
        pos[0, roles["left_hip"]] - pos[0, roles["right_hip"]]
    )
    forward0 = _unit(np.cross(across * [1.0, 0.0, 1.0], up))  # left x up = forward
    for side in ("left", "right"):
        for part in _SIDE_ROLES:
            put(f"{side}_{part}", f"{side}_{part}")
        w = roles[f"{side}_wrist"]
        wrist, bone = pos[:, w], _unit(motion.offsets[w])
        hand_axis = _unit(rot[:, w] @ bone)
        out[:, J[f"{side}_hand"]] = wrist + HAND_ALONG * hand_axis
        out[:, J[f"{side}_hand_tip"]] = wrist + TIP_ALONG * hand_axis
        thumb = rot[:, w] @ _thumb_axis(rot[0, w], bone, forward0)
        out[:, J[f"{side}_thumb"]] = wrist + THUMB_ALONG * hand_axis + THUMB_SIDE * thumb
    return _face_sensor(out, forward0)


def _thumb_axis(wrist_rot0: np.ndarray, bone: np.ndarray, forward0: np.ndarray) -> np.ndarray:
    """The wrist's local axis, across the hand's bone axis, that points where the thumb does.

    In a rest or T pose, the first frame of nearly every capture, thumbs point forward; the local
    axis closest to forward at frame 0 is then the thumb side for the whole clip.
    """
    local = wrist_rot0.T @ forward0
    local -= (local @ bone) * bone
    k = int(np.argmax(np.abs(local)))
    axis = np.zeros(3)
    axis[k] = np.sign(local[k])
    return axis


def _face_sensor(joints: np.ndarray, forward0: np.ndarray) -> np.ndarray:
    """Rotate about y so ``forward0`` becomes -z and place the person in front of the sensor."""
    up = np.array([0.0, 1.0, 0.0])
    z_axis = -forward0
    x_axis = np.cross(up, z_axis)
    turn = np.stack([x_axis, up, z_axis])  # rows: new axes; det +1, a rotation
    origin = joints[0, J["spine_base"]] * [1.0, 0.0, 1.0]
    placed = (joints - origin) @ turn.T
    placed += [0.0, -SENSOR_HEIGHT, SENSOR_DISTANCE]
    return placed.astype(np.float32)


def bandai_annotation(stem: str, annotation: dict | None) -> tuple[str | None, dict[str, str]]:
    """Label and meta of a Bandai-Namco clip from its name and, where present, its JSON."""
    match = _BANDAI_NAME.match(stem)
    if not match:
        return None, {"dataset": "bvh"}
    part = int(match.group(1))
    content, style = match.group(2), match.group(3)
    contents, styles = BANDAI_CONTENTS.get(part, ()), BANDAI_STYLES.get(part, ())
    if annotation is not None:
        try:
            ids = int(annotation["content"]), int(annotation["style"])
            if min(ids) < 0:
                raise IndexError(ids)
            content, style = contents[ids[0]], styles[ids[1]]
        except (KeyError, IndexError, TypeError, ValueError, OverflowError):
            raise SkeletonError(
                f"{stem}: its JSON has no valid 'content'/'style' ids ({quote(str(annotation))})"
            ) from None
    meta = {"dataset": "bandai_namco", "part": str(part), "style": style.replace("-", " "), "clip": stem}
    return BANDAI_LABELS.get(content), meta


def _to_skeleton(text: str, source: str, stem: str, annotation: dict | None) -> Skeleton:
    motion = parse_bvh(text, source)
    label, meta = bandai_annotation(stem, annotation)
    joints = motion_to_ntu25(motion, source)
    return Skeleton.from_single(joints, 1.0 / motion.frame_time, label=label, source=source, meta=meta)


def _load_json(text: str, source: str) -> dict:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SkeletonError(f"{source}: not valid JSON ({exc.msg})") from None
    except (ValueError, RecursionError) as exc:  # a number too long for Python's int, nesting too deep
        raise SkeletonError(f"{source}: unreadable JSON ({one_line(exc)})") from None
    if not isinstance(data, dict):
        raise SkeletonError(f"{source}: expected a JSON object with 'content' and 'style'")
    return data


def read_bvh(path_or_text: str | os.PathLike) -> Skeleton:
    """A BVH file (or BVH text) as a one-person NTU-25 Skeleton.

    For a Bandai-Namco clip (``dataset-N_content_style_id.bvh``) the label is the content in
    natural words (BANDAI_LABELS), from the JSON beside it when there is one, else from the name.
    """
    if isinstance(path_or_text, str) and path_or_text.lstrip().startswith("HIERARCHY"):
        return _to_skeleton(path_or_text, "<bvh text>", "", None)
    path = Path(path_or_text)
    beside = path.with_suffix(".json")
    annotation = _load_json(read_text(beside), str(beside)) if beside.is_file() else None
    return _to_skeleton(read_text(path), str(path), path.stem, annotation)


def _iter_zip(archive_path: Path) -> Iterator[Skeleton]:
    try:
        archive = zipfile.ZipFile(archive_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise SkeletonError(f"{archive_path}: not a readable zip ({exc})") from None
    with archive:
        names = set(archive.namelist())
        for member in sorted(n for n in names if n.lower().endswith(".bvh")):
            source = f"{archive_path}:{member}"
            try:
                raw = archive.read(member)
                beside = member[:-4] + ".json"
                note = archive.read(beside) if beside in names else None
            except ARCHIVE_ERRORS as exc:
                raise SkeletonError(f"{source}: cannot extract ({one_line(exc)})") from None
            annotation = _load_json(decode_text(note, source), source) if note is not None else None
            yield _to_skeleton(decode_text(raw, source), source, Path(member).stem, annotation)


def iter_bandai(root: str | os.PathLike, limit: int | None = None) -> Iterator[Skeleton]:
    """Every clip under ``root``: the .bvh members of each ``data.zip`` and loose .bvh files.

    ``root`` may be the folder holding both data sets, one data set's folder, a data.zip itself or a
    folder of loose BVH files. ``limit`` stops after that many clips (for quick checks).
    """
    root = Path(root)
    if root.is_file():
        sources = [root]
    else:
        sources = sorted(p for p in root.rglob("*") if p.suffix.lower() in (".zip", ".bvh") and p.is_file())
    if not sources:
        raise SkeletonError(f"{root}: no data.zip or .bvh file found")
    count = 0
    for source in sources:
        clips = _iter_zip(source) if source.suffix.lower() == ".zip" else iter([read_bvh(source)])
        for clip in clips:
            if limit is not None and count >= limit:
                return
            count += 1
            yield clip
