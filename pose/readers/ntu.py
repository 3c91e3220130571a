"""NTU RGB+D: the raw Kinect v2 ``.skeleton`` files and the CTR-GCN preprocessed ``.npz`` layout.

A raw file lists, per frame, every body the Kinect tracked, and the Kinect also "tracks" furniture
and reflections. As the NTU pipelines of the field do, we drop bodies that are too short-lived or
wider than tall (not a standing or sitting person), rank the rest by how much their joints move and
keep two person tracks; a body id that never overlaps a track in time continues it, since the Kinect
often re-assigns ids when a person is lost for a moment.
"""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from pose.errors import SkeletonError, one_line, reading_npz
from pose.layouts import NUM_JOINTS
from pose.readers._common import ARCHIVE_ERRORS, iter_files, read_text
from pose.skeleton import MAX_PERSONS, Skeleton

NTU_FPS = 30.0

# The 120 NTU RGB+D classes in class order (0-based: A001 is index 0). These are the short names
# the Neuron paper's published side information is keyed by (lower-cased), so a label read here
# finds its descriptions by name; NTU-60 is the first 60.
NTU120_CLASSES: tuple[str, ...] = (
    "drink water", "eat meal", "brush teeth", "brush hair", "drop", "pick up", "throw", "sit down",
    "stand up", "clapping", "reading", "writing", "tear up paper", "put on jacket", "take off jacket",
    "put on a shoe", "take off a shoe", "put on glasses", "take off glasses", "put on a hat/cap",
    "take off a hat/cap", "cheer up", "hand waving", "kicking something", "reach into pocket", "hopping",
    "jump up", "phone call", "play with phone/tablet", "type on a keyboard", "point to something",
    "taking a selfie", "check time (from watch)", "rub two hands", "nod head/bow", "shake head",
    "wipe face", "salute", "put palms together", "cross hands in front", "sneeze/cough", "staggering",
    "falling down", "headache", "chest pain", "back pain", "neck pain", "nausea/vomiting", "fan self",
    "punch/slap", "kicking", "pushing", "pat on back", "point finger", "hugging", "giving object",
    "touch pocket", "shaking hands", "walking towards", "walking apart", "put on headphone",
    "take off headphone", "shoot at basket", "bounce ball", "tennis bat swing",
    "juggle table tennis ball", "hush", "flick hair", "thumb up", "thumb down", "make ok sign",
    "make victory sign", "staple book", "counting money", "cutting nails", "cutting paper",
    "snap fingers", "open bottle", "sniff/smell", "squat down", "toss a coin", "fold paper",
    "ball up paper", "play magic cube", "apply cream on face", "apply cream on hand", "put on bag",
    "take off bag", "put object into bag", "take object out of bag", "open a box",
    "move heavy objects", "shake fist", "throw up cap/hat", "capitulate", "cross arms", "arm circles",
    "arm swings", "run on the spot", "butt kicks", "cross toe touch", "side kick", "yawn",
    "stretch oneself", "blow nose", "hit with object", "wield knife", "knock over", "grab stuff",
    "shoot with gun", "step on foot", "high-five", "cheers and drink", "carry object", "take a photo",
    "follow", "whisper", "exchange things", "support somebody", "rock-paper-scissors",
)  # fmt: skip

# NTU RGB+D cross-subject training performers (the rest are test); NTU-120 adds more.
NTU60_CS_TRAIN_SUBJECTS = (1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38)
NTU120_CS_TRAIN_SUBJECTS = NTU60_CS_TRAIN_SUBJECTS + (
    45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86, 89, 91,
    92, 93, 94, 95, 97, 98, 100, 103,
)  # fmt: skip

_NAME = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")
_BODY_HEADER_VALUES = 10  # body id, clipped edges, hand states ..., lean x/y, tracking state
_JOINT_VALUES = 12  # x y z depthX depthY colorX colorY orientW X Y Z trackingState
_MAX_BODIES = 6  # the Kinect v2 tracks at most six bodies

# Body filters of the NTU pipelines: a body seen in fewer frames than this is a flicker, and one
# whose joints spread wider (x) than 0.8 of their height (y) in most of its frames is not a person.
MIN_BODY_FRAMES = 11
SPREAD_RATIO = 0.8
NOISY_SPREAD_FRACTION = 0.69


def parse_ntu_name(name: str) -> dict[str, str]:
    """Setup, camera, performer, replication and action from an ``SsssCcccPpppRrrrAaaa`` name."""
    match = _NAME.search(name)
    if not match:
        return {}
    setup, camera, performer, replication, action = (str(int(g)) for g in match.groups())
    return {
        "setup": setup,
        "camera": camera,
        "performer": performer,
        "subject": performer,
        "replication": replication,
        "action": action,
    }


def ntu_label(action: int) -> str | None:
    """Class name of a 1-based NTU action number (A001 -> 'drink water'); None when out of range."""
    return NTU120_CLASSES[action - 1] if 1 <= action <= len(NTU120_CLASSES) else None


def _read_bodies(path: Path) -> tuple[int, dict[str, tuple[list[int], list[np.ndarray]]]]:
    """Frames read and, per body id, the frames it appears in and its joints there.

    Stops at the end of the data: a file cut short (fewer frames than its header says) keeps its
    complete frames and drops the one it was cut in.
    """
    tokens = read_text(path).split()
    try:
        declared = _int_token(tokens[0], path, "frame count")
    except SkeletonError:
        raise SkeletonError(f"{path}: not an NTU .skeleton file (frame count {tokens[0][:20]!r})") from None
    if declared <= 0:
        raise SkeletonError(f"{path}: the header declares {declared} frames")
    bodies: dict[str, tuple[list[int], list[np.ndarray]]] = {}
    pos, frames = 1, 0
    while frames < declared and pos < len(tokens):
        frame = _read_frame(tokens, pos, path, frames + 1)
        if frame is None:
            break  # cut short inside this frame
        frame_bodies, pos = frame
        for body_id, xyz in frame_bodies:
            seen = bodies.setdefault(body_id, ([], []))
            seen[0].append(frames)
            seen[1].append(xyz)
        frames += 1
    if frames == 0:
        raise SkeletonError(f"{path}: no complete frame in the file (cut short or malformed)")
    return frames, bodies


def _read_frame(tokens: list[str], pos: int, path: Path, number: int):
    """The (body id, joints (25, 3)) of the frame at ``pos`` and the position after it.

    None when the data ends inside the frame (a file cut short).
    """
    count = _int_token(tokens[pos], path, f"body count of frame {number}")
    if not 0 <= count <= _MAX_BODIES:
        raise SkeletonError(f"{path}: frame {number} claims {count} bodies (at most {_MAX_BODIES})")
    pos += 1
    frame_bodies = []
    for _ in range(count):
        joints_at = pos + _BODY_HEADER_VALUES
        if joints_at >= len(tokens):
            return None
        n = _int_token(tokens[joints_at], path, f"joint count in frame {number}")
        if n != NUM_JOINTS:
            raise SkeletonError(f"{path}: frame {number} has a body with {n} joints, expected 25")
        end = joints_at + 1 + NUM_JOINTS * _JOINT_VALUES
        if end > len(tokens):
            return None
        try:
            values = np.asarray(tokens[joints_at + 1 : end], dtype=np.float64)
        except ValueError:
            if end == len(tokens):  # the last value itself was cut mid-number
                return None
            raise SkeletonError(f"{path}: non-numeric joint values in frame {number}") from None
        frame_bodies.append((tokens[pos], values.reshape(NUM_JOINTS, _JOINT_VALUES)[:, :3]))
        pos = end
    return frame_bodies, pos


def _int_token(token: str, path: Path, what: str) -> int:
    """A count from the file; more than 12 digits is no count of frames, bodies or joints."""
    try:
        if len(token) > 12:
            raise ValueError(token)
        return int(token)
    except ValueError:
        raise SkeletonError(f"{path}: {what} is not a number ({token[:20]!r})") from None


def _is_noise(joints: np.ndarray) -> bool:
    """A body that is short-lived or mostly wider than tall: an object, not a person."""
    if joints.shape[0] < MIN_BODY_FRAMES:
        return True
    spread = joints.max(axis=1) - joints.min(axis=1)
    wide = spread[:, 0] > SPREAD_RATIO * spread[:, 1]
    return float(wide.mean()) > NOISY_SPREAD_FRACTION


def _assign_tracks(bodies: dict[str, tuple[list[int], list[np.ndarray]]], num_frames: int):
    """Up to two person tracks (joints (T, 2, 25, 3), valid (T, 2)) from the kept bodies."""
    items = [(np.asarray(f), np.asarray(j, np.float32)) for f, j in bodies.values()]
    people = [item for item in items if not _is_noise(item[1])]
    if not people:  # nothing looks like a person: keep the longest-lived body rather than nothing
        people = [max(items, key=lambda item: item[0].size)]
    people.sort(key=lambda item: float(item[1].var(axis=0).sum()), reverse=True)
    joints = np.zeros((num_frames, MAX_PERSONS, NUM_JOINTS, 3), np.float32)
    valid = np.zeros((num_frames, MAX_PERSONS), bool)
    for frames, xyz in people:
        for slot in range(MAX_PERSONS):
            if not valid[frames, slot].any():
                joints[frames, slot] = xyz
                valid[frames, slot] = np.abs(xyz).sum(axis=(1, 2)) > 0
                break
    return joints, valid


def read_ntu_skeleton(path: str | os.PathLike) -> Skeleton:
    """Read one raw NTU RGB+D ``.skeleton`` file (Kinect v2 text format) as a two-person Skeleton.

    The label is the class name of the ``Axxx`` part of the file name (None if the name is not an
    NTU name); meta holds dataset, setup, camera, performer (= subject), replication and action as
    plain numbers.
    """
    path = Path(path)
    num_frames, bodies = _read_bodies(path)
    if not bodies:
        raise SkeletonError(f"{path}: no body is tracked in any frame")
    joints, valid = _assign_tracks(bodies, num_frames)
    if not valid.any():
        raise SkeletonError(f"{path}: every tracked body has all-zero joints")
    meta = {"dataset": "ntu", **parse_ntu_name(path.name)}
    label = ntu_label(int(meta["action"])) if "action" in meta else None
    return Skeleton(joints, valid, NTU_FPS, label=label, source=str(path), meta=meta)


def _ctrgcn_labels(data, key: str, path: Path) -> np.ndarray:
    if key not in data:
        raise SkeletonError(f"{path}: no {key!r} array (expected the CTR-GCN layout x_/y_train, x_/y_test)")
    y = np.asarray(data[key])
    if y.ndim == 2:  # one-hot
        return y.argmax(axis=1)
    if y.ndim == 1 and np.issubdtype(y.dtype, np.integer):
        return y
    raise SkeletonError(f"{path}: {key} must be one-hot (N, classes) or class indices (N,), got {y.shape}")


def _npy_header(stream, where: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of an .npy stream holding x (N, T, 150); refuses object arrays."""
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
    else:
        raise SkeletonError(f"{where} uses .npy format version {version}, expected 1.0 or 2.0")
    if dtype.hasobject:
        raise SkeletonError(f"{where} holds Python objects; refusing to unpickle")
    if fortran or len(shape) != 3 or shape[2] != MAX_PERSONS * NUM_JOINTS * 3:
        raise SkeletonError(f"{where} must be a C-ordered (N, T, 150) array, got {shape}")
    return shape, dtype


def _npy_rows(path: Path, member: str) -> tuple[Iterator[np.ndarray], tuple[int, ...]]:
    """Stream the rows of one array of an .npz without loading it whole (NTU-120 x_train is ~11 GB)."""
    archive = zipfile.ZipFile(path)
    stream = archive.open(member)
    try:
        shape, dtype = _npy_header(stream, f"{path}: {member}")
    except BaseException:
        stream.close()
        archive.close()
        raise
    row_bytes = int(np.prod(shape[1:])) * dtype.itemsize

    def rows() -> Iterator[np.ndarray]:
        with archive, stream:
            for index in range(shape[0]):
                try:
                    raw = stream.read(row_bytes)
                except ARCHIVE_ERRORS as exc:
                    raise SkeletonError(
                        f"{path}: {member} is corrupt at sample {index} ({one_line(exc)})"
                    ) from None
                if len(raw) != row_bytes:
                    raise SkeletonError(f"{path}: {member} is truncated at sample {index}")
                yield np.frombuffer(raw, dtype).reshape(shape[1:])

    return rows(), shape


def iter_ctrgcn_npz(path: str | os.PathLike, split: str = "test") -> Iterator[Skeleton]:
    """Samples of a CTR-GCN preprocessed file (``NTU60_CS.npz``, ``NTU120_CSub.npz`` ...).

    ``x_<split>`` is (N, 300, 150): per frame two persons x 25 joints x xyz, zero-padded after the
    sequence ends; ``y_<split>`` is one-hot. Padding frames are dropped and a person whose joints
    are all zero in a frame is absent there. Never unpickles; streams ``x`` sample by sample.
    """
    path = Path(path)
    if split not in ("train", "test"):
        raise SkeletonError(f"{path}: split must be 'train' or 'test', got {split!r}")
    with reading_npz(path, "CTR-GCN .npz"):
        with np.load(path, allow_pickle=False) as data:
            labels = _ctrgcn_labels(data, f"y_{split}", path)
            if f"x_{split}" not in data:
                raise SkeletonError(f"{path}: no 'x_{split}' array in the file")
        rows, shape = _npy_rows(path, f"x_{split}.npy")
    if labels.shape[0] != shape[0]:
        raise SkeletonError(f"{path}: {shape[0]} samples in x_{split} but {labels.shape[0]} labels")
    for index, row in enumerate(rows):
        joints = row.reshape(shape[1], MAX_PERSONS, NUM_JOINTS, 3).astype(np.float32)
        valid = np.abs(joints).sum(axis=(2, 3)) > 0
        frames = np.flatnonzero(valid.any(axis=1))
        if frames.size == 0:
            raise SkeletonError(f"{path}: sample {index} of x_{split} holds no person")
        end = int(frames[-1]) + 1
        yield Skeleton(
            joints[:end],
            valid[:end],
            NTU_FPS,
            label=ntu_label(int(labels[index]) + 1),
            source=f"{path}[{split} {index}]",
            meta={"dataset": "ntu", "split": split, "index": str(index)},
        )


def cross_subject_partition(meta: dict[str, str]) -> str:
    """The NTU-120 cross-subject part ("train" or "test") of a sample by its performer; "" if unknown."""
    performer = meta.get("performer") or meta.get("subject")
    if not performer:
        return ""
    return "train" if int(performer) in NTU120_CS_TRAIN_SUBJECTS else "test"


def iter_ntu_skeletons(root: str | os.PathLike) -> Iterator[Skeleton]:
    """Every ``.skeleton`` file under ``root`` (or ``root`` itself), in name order, with meta
    "partition" (cross-subject train or test); a broken file is skipped with a warning."""
    for skel in iter_files(root, (".skeleton",), read_ntu_skeleton):
        skel.meta.setdefault("dataset", "ntu")
        skel.meta["partition"] = cross_subject_partition(skel.meta)
        yield skel


def iter_ctrgcn_parts(path: str | os.PathLike) -> Iterator[Skeleton]:
    """Both parts of a CTR-GCN file, train then test, each sample's meta "partition" naming its part."""
    for part in ("train", "test"):
        for skel in iter_ctrgcn_npz(path, split=part):
            skel.meta.setdefault("dataset", "ntu")
            skel.meta["partition"] = part
            yield skel
