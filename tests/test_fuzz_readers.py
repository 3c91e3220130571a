"""Every skeleton reader fed broken input: truncated, shuffled, huge, empty, NaN/inf-filled, wrong-typed.

The promise under test: a reader either returns valid Skeletons (finite joints of the right shape,
at least one observed person, a usable frame rate) or raises SkeletonError with a readable one-line
message; never another exception, never NaN out. Inputs are mutations of real files from
../shared/data where present, and of small generated files always, so the properties are exercised
(on fewer bases) without the data too. Hypothesis shrinks any failure to a small reproducible input.
"""

from __future__ import annotations

import io
import itertools
import json
import re
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pose.errors import SkeletonError
from pose.readers import (
    iter_bandai,
    iter_ctrgcn_npz,
    iter_utkinect,
    read_bvh,
    read_mediapipe_csv,
    read_ntu_skeleton,
    read_nw_ucla_json,
    read_skeleton_file,
)
from pose.skeleton import MAX_ABS_COORD, Skeleton, load_npz, save_npz
from tests.conftest import SHARED_DATA

# Each reader's budget; together a few thousand cases in well under a minute and a half.
_FUZZ = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


def fuzz(examples: int) -> settings:
    return settings(_FUZZ, max_examples=examples)


MAX_MESSAGE = 400  # a readable line, path included
MAX_SKELETONS = 40  # from an iterating reader, enough to see that what it yields is sound

# Overflow, complex-to-real and scalar-conversion warnings are expected on such input; outcomes are checked.
pytestmark = pytest.mark.filterwarnings(
    "ignore::RuntimeWarning", "ignore::UserWarning", "ignore::DeprecationWarning"
)


# ---------------------------------------------------------------- the property


def assert_valid(skeleton: object) -> None:
    assert isinstance(skeleton, Skeleton), f"a reader returned {type(skeleton).__name__}"
    joints, valid = skeleton.joints, skeleton.valid
    assert joints.dtype == np.float32 and joints.ndim == 4 and joints.shape[1:] == (2, 25, 3)
    assert joints.shape[0] >= 1, "a skeleton without frames"
    assert valid.dtype == bool and valid.shape == joints.shape[:2]
    assert valid.any(), "a skeleton in which no person is ever observed"
    assert np.isfinite(joints).all(), "NaN or infinite joints came out"
    assert np.abs(joints).max() <= MAX_ABS_COORD
    assert np.isfinite(skeleton.fps) and 0 < skeleton.fps <= 1000


def assert_readable(exc: SkeletonError) -> None:
    message = str(exc)
    assert message.strip(), "an empty error message"
    assert "\n" not in message and "\r" not in message, f"a multi-line message: {message!r}"
    assert len(message) <= MAX_MESSAGE, f"an unreadably long message ({len(message)} chars): {message[:200]}"


def outcome(call: Callable[[], object]) -> list[Skeleton]:
    """Run a reader: valid skeletons out, or one readable SkeletonError; anything else fails the test."""
    try:
        result = call()
        if isinstance(result, Skeleton):
            skeletons = [result]
        else:
            skeletons = list(itertools.islice(result, MAX_SKELETONS))  # type: ignore[arg-type]
    except SkeletonError as exc:
        assert_readable(exc)
        return []
    for skeleton in skeletons:
        assert_valid(skeleton)
    return skeletons


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _real(*parts: str) -> Path | None:
    path = SHARED_DATA.joinpath(*parts)
    return path if path.exists() else None


# ---------------------------------------------------------------- byte and text mutations

# Tokens that break number parsing in every way we know: non-finite, overflowing, underflowing,
# too many digits for Python's int parser, not numbers at all, stray quotes, NUL, a BOM.
NASTY = (
    "nan", "-NaN", "inf", "-Infinity", "Infinity", "1e309", "-1e400", "3.5e38", "1e-320", "9" * 40,
    "9" * 5000, "-1", "0", "-0", "", "abc", "0x1f", "1,5", "１２", "\x00", "\ufeff", "None", "null",
    "true", "[]", "{}", "[[[", '"', "'", "\\", "e", "-", ".", "25", "6", "7", "99999", "-99999",
)  # fmt: skip
_TOKEN = re.compile(rb"[^\s,\[\]{}:\"]+")
_NUMBER = re.compile(rb"-?\d[\d.eE+-]*")


def _span(draw, data: bytearray, max_len: int | None = None) -> tuple[int, int]:
    a = draw(st.integers(0, len(data)))
    b = draw(st.integers(a, len(data) if max_len is None else min(len(data), a + max_len)))
    return a, b


def _truncate(draw, data: bytearray) -> bytearray:
    return data[: draw(st.integers(0, len(data)))]


def _replace_token(draw, data: bytearray) -> bytearray:
    if not data:
        return data
    match = _TOKEN.search(data, draw(st.integers(0, len(data) - 1)))
    if match is None:
        return data
    new = draw(st.sampled_from(NASTY)).encode()
    return data[: match.start()] + new + data[match.end() :]


def _poison_numbers(draw, data: bytearray) -> bytearray:
    """Every number in a stretch becomes one nasty value: NaN-filled, inf-filled, huge."""
    a, b = _span(draw, data, 20_000)
    value = draw(st.sampled_from(("nan", "inf", "-inf", "1e30", "1e309", "0")))
    return data[:a] + _NUMBER.sub(value.encode(), bytes(data[a:b])) + data[b:]


def _delete(draw, data: bytearray) -> bytearray:
    a, b = _span(draw, data)
    return data[:a] + data[b:]


def _duplicate(draw, data: bytearray) -> bytearray:
    a, b = _span(draw, data, 5_000)
    at = draw(st.integers(0, len(data)))
    return data[:at] + data[a:b] + data[at:]


def _shuffle_lines(draw, data: bytearray) -> bytearray:
    lines = bytes(data).split(b"\n")
    a = draw(st.integers(0, len(lines)))
    b = draw(st.integers(a, min(len(lines), a + 30)))
    order = draw(st.permutations(range(b - a)))
    lines[a:b] = [lines[a + i] for i in order]
    return bytearray(b"\n".join(lines))


def _insert_garbage(draw, data: bytearray) -> bytearray:
    at = draw(st.integers(0, len(data)))
    junk = draw(st.one_of(st.binary(max_size=40), st.text(max_size=40).map(lambda s: s.encode("utf-8"))))
    return data[:at] + junk + data[at:]


def _set_byte(draw, data: bytearray) -> bytearray:
    if data:
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return data


def _huge(draw, data: bytearray) -> bytearray:
    """Much bigger than the base: a stretch repeated to ~1 MB, or one 200,000-character token."""
    at = draw(st.integers(0, len(data)))
    if draw(st.booleans()):
        a, b = _span(draw, data, 50_000)
        chunk = bytes(data[a:b]) or b"1 "
        return data[:at] + chunk * max(1, 1_000_000 // len(chunk)) + data[at:]
    return data[:at] + b"7" * 200_000 + data[at:]


def _empty(draw, data: bytearray) -> bytearray:
    return bytearray(draw(st.sampled_from((b"", b" ", b"\n\n", b"\xef\xbb\xbf", b"\x00" * 8))))


TEXT_OPS = (
    _truncate,
    _replace_token,
    _replace_token,
    _poison_numbers,
    _delete,
    _duplicate,
    _shuffle_lines,
    _insert_garbage,
    _set_byte,
    _huge,
    _empty,
)
BINARY_OPS = (_truncate, _delete, _duplicate, _insert_garbage, _set_byte, _set_byte)


@st.composite
def mutated(draw, bases: Sequence[bytes], ops=TEXT_OPS, max_ops: int = 3) -> bytes:
    """One base, then one to ``max_ops`` mutations (most often one: a single fault in a good file)."""
    data = bytearray(draw(st.sampled_from(bases)))
    for _ in range(draw(st.integers(1, max_ops))):
        data = draw(st.sampled_from(ops))(draw, data)
    return bytes(data)


# ---------------------------------------------------------------- generated bases

_RNG = np.random.default_rng(7)
# A standing person facing the sensor, about 3 m away (NTU-25 order), for generated files.
_STANDING = np.array(
    [[0, 0, 3], [0, 0.3, 3], [0, 0.6, 3], [0, 0.75, 3], [0.2, 0.5, 3], [0.25, 0.25, 3], [0.3, 0.0, 3],
     [0.3, -0.05, 3], [-0.2, 0.5, 3], [-0.25, 0.25, 3], [-0.3, 0.0, 3], [-0.3, -0.05, 3], [0.1, 0, 3],
     [0.1, -0.45, 3], [0.1, -0.85, 3], [0.1, -0.9, 2.9], [-0.1, 0, 3], [-0.1, -0.45, 3], [-0.1, -0.85, 3],
     [-0.1, -0.9, 2.9], [0, 0.55, 3], [0.32, -0.1, 3], [0.28, -0.08, 3], [-0.32, -0.1, 3], [-0.28, -0.08, 3]],
    np.float64,
)  # fmt: skip


def _motion(frames: int) -> np.ndarray:
    return _STANDING[None] + _RNG.normal(0, 0.02, (frames, 25, 3))


def generated_ntu(frames: int, bodies: int) -> bytes:
    lines = [str(frames)]
    for _ in range(frames):
        lines.append(str(bodies))
        for b in range(bodies):
            lines.append(f"7205759403793{b:04d} 0 1 1 1 1 0 0.02 -0.2 2")
            lines.append("25")
            for x, y, z in _motion(1)[0] + [b * 1.0, 0, 0]:
                lines.append(f"{x:.5f} {y:.5f} {z:.5f} 250.1 200.2 900.3 500.4 0.1 0.2 0.3 0.9 2")
    return ("\n".join(lines) + "\n").encode()


def ntu_head(text: str, frames: int) -> bytes:
    """The first ``frames`` frames of a real file, its header still declaring all of them (cut short)."""
    lines = text.splitlines()
    pos = 1
    for _ in range(frames):
        if pos >= len(lines):
            break
        pos += 1 + int(lines[pos]) * 27
    return ("\n".join(lines[:pos]) + "\n").encode()


def generated_csv(frames: int) -> bytes:
    header = ",".join(str(i) for i in range(33 * 4)) + ",label"
    rows = [header]
    for _ in range(frames):
        lm = np.column_stack([_RNG.uniform(0.3, 0.7, (33, 2)), _RNG.normal(0, 0.1, 33), np.ones(33)])
        lm[[23, 24], 1] += 0.3  # hips below shoulders
        rows.append(",".join(f"{v:.5f}" for v in lm.ravel()) + ",tree_pose")
    return ("\n".join(rows) + "\n").encode()


# A CMU/Mixamo-style rig in centimetres: (name, parent, offset); every joint has 3 rotations.
_RIG = (
    ("Hips", None, (0, 95, 0)), ("Spine", "Hips", (0, 10, 0)), ("Spine1", "Spine", (0, 15, 0)),
    ("Neck", "Spine1", (0, 22, 0)), ("Head", "Neck", (0, 10, 0)),
    ("LeftArm", "Spine1", (18, 18, 0)), ("LeftForeArm", "LeftArm", (28, 0, 0)),
    ("LeftHand", "LeftForeArm", (25, 0, 0)), ("RightArm", "Spine1", (-18, 18, 0)),
    ("RightForeArm", "RightArm", (-28, 0, 0)), ("RightHand", "RightForeArm", (-25, 0, 0)),
    ("LeftUpLeg", "Hips", (10, -5, 0)), ("LeftLeg", "LeftUpLeg", (0, -42, 0)),
    ("LeftFoot", "LeftLeg", (0, -40, 0)), ("LeftToeBase", "LeftFoot", (0, -5, 12)),
    ("RightUpLeg", "Hips", (-10, -5, 0)), ("RightLeg", "RightUpLeg", (0, -42, 0)),
    ("RightFoot", "RightLeg", (0, -40, 0)), ("RightToeBase", "RightFoot", (0, -5, 12)),
)  # fmt: skip


def generated_bvh(frames: int) -> bytes:
    children: dict[str | None, list[int]] = {}
    for i, (_, parent, _) in enumerate(_RIG):
        children.setdefault(parent, []).append(i)
    out = ["HIERARCHY"]

    def joint(i: int, depth: int) -> None:
        name, parent, offset = _RIG[i]
        pad = "  " * depth
        out.append(f"{pad}{'ROOT' if parent is None else 'JOINT'} {name}")
        out.append(pad + "{")
        out.append(f"{pad}  OFFSET {offset[0]} {offset[1]} {offset[2]}")
        channels = "6 Xposition Yposition Zposition" if parent is None else "3"
        out.append(f"{pad}  CHANNELS {channels} Zrotation Xrotation Yrotation")
        for child in children.get(name, []):
            joint(child, depth + 1)
        if name not in children:
            out.extend([f"{pad}  End Site", pad + "  {", f"{pad}    OFFSET 0 5 0", pad + "  }"])
        out.append(pad + "}")

    joint(0, 0)
    out += ["MOTION", f"Frames: {frames}", "Frame Time: 0.0333333"]
    for t in range(frames):
        values = [0.0, 95.0, float(t)] + list(_RNG.normal(0, 5, 3 * len(_RIG)))
        out.append(" ".join(f"{v:.4f}" for v in values))
    return ("\n".join(out) + "\n").encode()


def _bvh_head(raw: bytes, frames: int) -> bytes:
    """A real clip cut to its first ``frames`` motion lines (the header still says how many it had)."""
    head, _, motion = raw.decode().partition("MOTION")
    lines = motion.lstrip().split("\n")
    return (head + "MOTION\n" + "\n".join(lines[: 2 + frames]) + "\n").encode()


def _ntu_bases() -> list[bytes]:
    bases = [generated_ntu(14, 1), generated_ntu(12, 2), b"3\n0\n0\n0\n"]
    folder = _real("ntu_skeletons")
    if folder is not None:
        files = sorted(folder.glob("*.skeleton"))
        bases += [ntu_head(f.read_text(), 15) for f in files[:4]]
        cut_short = folder / "S005C002P013R002A056.skeleton"
        bases.append((cut_short if cut_short.exists() else files[0]).read_bytes())
    return bases


def _csv_bases() -> list[bytes]:
    bases = [generated_csv(12)]
    folder = _real("mediapipe_yoga")
    if folder is not None:
        files = sorted(folder.glob("*.csv"))
        bases += [("\n".join(f.read_text().splitlines()[:16]) + "\n").encode() for f in files[:3]]
        bases.append(files[0].read_bytes())
    return bases


def _bandai_clips() -> list[tuple[str, bytes, bytes]]:
    """(stem, bvh, json) of a few real Bandai-Namco clips."""
    path = _real("bandai_namco", "Bandai-Namco-Research-Motiondataset-1", "data.zip")
    if path is None:
        return []
    with zipfile.ZipFile(path) as archive:
        members = sorted(n for n in archive.namelist() if n.endswith(".bvh"))[:2]
        return [(Path(m).stem, archive.read(m), archive.read(m[:-4] + ".json")) for m in members]


def _bvh_bases() -> list[bytes]:
    bases = [generated_bvh(15)]
    clips = _bandai_clips()
    bases += [_bvh_head(bvh, 20) for _, bvh, _ in clips]
    bases += [bvh for _, bvh, _ in clips[:1]]
    return bases


def _ucla_bases() -> list[tuple[str, str]]:
    joints = _motion(10)[:, :20]
    bases = [
        ("a05_s01_e00_v01.json", json.dumps({"file_name": "x", "skeletons": joints.tolist(), "label": 4}))
    ]
    folder = _real("nw_ucla", "all_sqe")
    if folder is not None:
        bases += [(f.name, f.read_text()) for f in sorted(folder.glob("*.json"))[::400][:4]]
    return bases


def _utk_bases() -> list[tuple[bytes, bytes]]:
    """(actionLabel.txt, joints_s01_e01.txt) pairs."""
    ids = np.arange(100, 260, 4.0)
    table = np.column_stack([ids, _motion(ids.size)[:, :20].reshape(ids.size, 60)])
    joints = "\n".join(" ".join(f"{v:.5f}" for v in row) for row in table).encode()
    bases = [(b"s01_e01\nwalk: 100 180\nsitDown: 190 250\nthrow: 1 2\n", joints)]
    folder = _real("utkinect", "joints")
    if folder is not None:
        labels = (folder / "actionLabel.txt").read_text().split("s01_e02")[0].encode()
        bases.append((labels, (folder / "joints_s01_e01.txt").read_bytes()))
    return bases


NTU_BASES = _ntu_bases()
CSV_BASES = _csv_bases()
BVH_BASES = _bvh_bases()
UCLA_BASES = _ucla_bases()
UTK_BASES = _utk_bases()


# ---------------------------------------------------------------- text formats


@fuzz(500)
@given(raw=mutated(NTU_BASES))
def test_ntu_skeleton_fuzzed(workdir: Path, raw: bytes) -> None:
    path = workdir / "S001C001P001R001A011.skeleton"
    path.write_bytes(raw)
    outcome(lambda: read_ntu_skeleton(path))


@fuzz(400)
@given(raw=mutated(CSV_BASES), via_dispatcher=st.booleans())
def test_mediapipe_csv_fuzzed(workdir: Path, raw: bytes, via_dispatcher: bool) -> None:
    path = workdir / "pose.csv"
    path.write_bytes(raw)
    outcome(lambda: read_skeleton_file(path) if via_dispatcher else read_mediapipe_csv(path))


@fuzz(400)
@given(raw=mutated(BVH_BASES), as_text=st.booleans())
def test_bvh_fuzzed(workdir: Path, raw: bytes, as_text: bool) -> None:
    path = workdir / "clip.bvh"
    path.write_bytes(raw)
    text = raw.decode("utf-8", "replace")
    outcome(lambda: read_bvh(text) if as_text and text.lstrip().startswith("HIERARCHY") else read_bvh(path))


def _annotations() -> list[bytes]:
    notes = [b'{"content": 0, "style": 1}'] + [note for _, _, note in _bandai_clips()]
    return notes


@fuzz(250)
@given(note=mutated(_annotations()), clip=st.sampled_from(BVH_BASES[:2]))
def test_bandai_annotation_fuzzed(workdir: Path, note: bytes, clip: bytes) -> None:
    """A Bandai clip's JSON beside it (content and style ids) broken in every way."""
    path = workdir / "dataset-1_bow_active_001.bvh"
    path.write_bytes(clip)
    path.with_suffix(".json").write_bytes(note)
    try:
        outcome(lambda: read_bvh(path))
    finally:
        path.with_suffix(".json").unlink()


# JSON values of every type, including the ones Python's json writes beyond the standard.
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def ucla_documents(draw) -> tuple[str, bytes]:
    name, text = draw(st.sampled_from(UCLA_BASES))
    doc = json.loads(text)
    skeletons = doc["skeletons"]
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.integers(0, 7))
        frames = skeletons if isinstance(skeletons, list) else []
        if op == 0 and frames:  # one coordinate of any type
            frame = frames[draw(st.integers(0, len(frames) - 1))]
            if isinstance(frame, list) and frame and isinstance(frame[0], list):
                joint = frame[draw(st.integers(0, len(frame) - 1))]
                if isinstance(joint, list) and joint:
                    joint[draw(st.integers(0, len(joint) - 1))] = draw(JSON_VALUES)
        elif op == 1 and frames:  # fewer frames, possibly none
            skeletons = frames[: draw(st.integers(0, len(frames)))]
        elif op == 2 and frames:  # a ragged frame
            frame = frames[draw(st.integers(0, len(frames) - 1))]
            if isinstance(frame, list):
                del frame[draw(st.integers(0, len(frame))) :]
        elif op == 3:  # the whole entry of the wrong type
            skeletons = draw(JSON_VALUES)
        elif op == 4 and frames and _rect(frames):  # NaN/inf/zero/huge everywhere
            value = draw(st.sampled_from((float("nan"), float("inf"), 0.0, 1e30)))
            skeletons = np.full(np.shape(frames), value).tolist()
        elif op == 5 and frames:  # long: the sequence repeated to a few thousand frames
            skeletons = frames * max(1, 3000 // len(frames))
        elif op == 6:  # wrong top level
            doc = draw(JSON_VALUES)
        elif op == 7 and isinstance(doc, dict):
            doc.pop("skeletons", None)
        if isinstance(doc, dict) and "skeletons" in doc:
            doc["skeletons"] = skeletons
    raw = json.dumps(doc).encode()
    if draw(st.booleans()):
        raw = draw(mutated([raw], max_ops=2))
    return draw(st.sampled_from((name, "sequence.json"))), raw


def _rect(value: object) -> bool:
    try:
        np.asarray(value, dtype=np.float64)
    except (ValueError, TypeError, OverflowError):
        return False
    return True


@fuzz(500)
@given(document=ucla_documents())
def test_nw_ucla_json_fuzzed(workdir: Path, document: tuple[str, bytes]) -> None:
    name, raw = document
    path = workdir / name
    path.write_bytes(raw)
    outcome(lambda: read_nw_ucla_json(path))


@fuzz(300)
@given(
    base=st.sampled_from(UTK_BASES),
    which=st.sampled_from(("labels", "joints", "both")),
    data=st.data(),
)
def test_utkinect_fuzzed(workdir: Path, base: tuple[bytes, bytes], which: str, data: st.DataObject) -> None:
    labels, joints = base
    if which in ("labels", "both"):
        labels = data.draw(mutated([labels]))
    if which in ("joints", "both"):
        joints = data.draw(mutated([joints]))
    folder = workdir / "utkinect" / "joints"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "actionLabel.txt").write_bytes(labels)
    (folder / "joints_s01_e01.txt").write_bytes(joints)
    outcome(lambda: iter_utkinect(folder.parent))


# ---------------------------------------------------------------- arrays (.npz)

# Values and dtypes a numpy file can hold that a skeleton must not take at face value.
POISON = (np.nan, np.inf, -np.inf, 1e30, 3.5e38, -0.0, 1e-45)
DTYPES = ("float64", "float16", "int32", "uint8", "bool", "complex64", "<U4", "object", "datetime64[s]")


def _convert(draw, array: np.ndarray) -> np.ndarray:
    """The same numbers in another dtype, possibly one that is not numbers at all."""
    dtype = draw(st.sampled_from(DTYPES))
    if dtype == "object":
        out = np.empty(array.shape, object)
        out[...] = array
        return out
    if dtype.startswith("datetime"):
        return np.zeros(array.shape, dtype)
    try:
        with np.errstate(all="ignore"):
            return array.astype(dtype)
    except (ValueError, TypeError, OverflowError, RuntimeError):  # text that is not numbers stays text;
        return array  # datetimes too short for their text type (numpy raises RuntimeError) stay datetimes


def _array_mutation(draw, array: np.ndarray) -> np.ndarray:
    op = draw(st.integers(0, 6))
    if op == 0 and array.size and array.dtype.kind in "biuf":  # a few poisoned values
        array = array.astype(np.float64)
        for _ in range(draw(st.integers(1, 3))):
            array.flat[draw(st.integers(0, array.size - 1))] = draw(st.sampled_from(POISON))
    elif op == 1:  # all of them
        array = np.full(array.shape, draw(st.sampled_from(POISON)))
    elif op == 2:  # another dtype
        array = _convert(draw, array)
    elif op == 3:  # another shape with the same values
        flat = array.ravel()
        shapes = [(flat.size,), (1, flat.size), (), (0,), (flat.size, 1, 1, 1, 1)]
        if flat.size % 3 == 0:
            shapes.append((flat.size // 3, 3))
        shape = draw(st.sampled_from(shapes))
        array = np.zeros(shape) if int(np.prod(shape)) != flat.size else flat.reshape(shape)
    elif op == 4 and array.ndim:  # fewer or more along the first axis
        count = draw(st.integers(0, 2 * array.shape[0] + 1))
        array = np.resize(array, (count, *array.shape[1:]))
    elif op == 5:  # Fortran order
        array = np.asfortranarray(array)
    elif op == 6 and array.ndim:  # a shape that is one off on the last axis
        array = array[..., : max(0, array.shape[-1] - 1)]
    return array


def _savez(arrays: dict[str, np.ndarray], compressed: bool) -> bytes:
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    return buffer.getvalue()


@st.composite
def npz_files(draw, bases: Sequence[dict[str, np.ndarray]]) -> bytes:
    """A base's arrays with a few of them broken, maybe one missing or extra, maybe bytes damaged."""
    arrays = {k: v.copy() for k, v in draw(st.sampled_from(bases)).items()}
    keys = sorted(arrays)
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from(keys))
        if key in arrays:
            arrays[key] = _array_mutation(draw, arrays[key])
    if draw(st.integers(0, 5)) == 0:
        arrays.pop(draw(st.sampled_from(keys)), None)
    if draw(st.integers(0, 8)) == 0:
        odd = np.asarray(draw(st.sampled_from(["x", 1, None, 2.5])))
        arrays[draw(st.sampled_from(keys + ["extra"]))] = odd
    raw = _savez(arrays, draw(st.booleans()))
    if draw(st.integers(0, 3)) == 0:
        raw = draw(mutated([raw], BINARY_OPS, max_ops=2))
    return raw


def _ctrgcn_base(samples: int, frames: int, classes: int) -> dict[str, np.ndarray]:
    x = np.zeros((samples, frames, 150), np.float32)
    for i in range(samples):
        length = frames - i
        x[i, :length, :75] = _motion(length).reshape(length, 75)
    y = np.eye(classes, dtype=np.float32)[np.arange(samples) % classes]
    return {"x_train": x, "y_train": y, "x_test": x[::-1].copy(), "y_test": y[::-1].copy()}


CTRGCN_BASES = [
    _ctrgcn_base(3, 12, 60),
    {**_ctrgcn_base(2, 8, 120), "y_test": np.array([5, 119], np.int64)},
]


@fuzz(400)
@given(raw=npz_files(CTRGCN_BASES), split=st.sampled_from(("test", "test", "train", "val")))
def test_ctrgcn_npz_fuzzed(workdir: Path, raw: bytes, split: str) -> None:
    path = workdir / "NTU60_CS.npz"
    path.write_bytes(raw)
    outcome(lambda: iter_ctrgcn_npz(path, split))


def _interchange_bases() -> list[dict[str, np.ndarray]]:
    single = Skeleton.from_single(_motion(9).astype(np.float32), 30.0, label="wave", meta={"dataset": "x"})
    skeletons = [single]
    real = _real("ntu_skeletons", "S001C003P008R002A058.skeleton")
    if real is not None:
        skeletons.append(read_ntu_skeleton(real))
    bases = []
    for skeleton in skeletons:
        buffer = io.BytesIO()
        np.savez(buffer, joints=skeleton.joints[:20], valid=skeleton.valid[:20])
        arrays = dict(np.load(io.BytesIO(buffer.getvalue())))
        arrays.update(
            fps=np.asarray(skeleton.fps, np.float32),
            label=np.asarray(skeleton.label or ""),
            meta_keys=np.asarray(list(skeleton.meta) or ["k"]),
            meta_values=np.asarray(list(skeleton.meta.values()) or ["v"]),
        )
        bases.append(arrays)
    bases.append({"joints": _motion(5).astype(np.float32)})  # one person (T, 25, 3), nothing else
    return bases


INTERCHANGE_BASES = _interchange_bases()


@fuzz(500)
@given(raw=npz_files(INTERCHANGE_BASES), via_dispatcher=st.booleans())
def test_interchange_npz_fuzzed(workdir: Path, raw: bytes, via_dispatcher: bool) -> None:
    path = workdir / "clip.npz"
    path.write_bytes(raw)
    outcome(lambda: read_skeleton_file(path) if via_dispatcher else load_npz(path))


@st.composite
def bandai_zips(draw) -> bytes:
    """A data.zip of two clips (one with its JSON), deflated or LZMA-packed, then damaged."""
    buffer = io.BytesIO()
    method = draw(st.sampled_from((zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_LZMA)))
    with zipfile.ZipFile(buffer, "w", method) as archive:
        archive.writestr("data/dataset-1_bow_active_001.bvh", BVH_BASES[0])
        archive.writestr("data/dataset-1_bow_active_001.json", b'{"content": 6, "style": 12}')
        archive.writestr("data/loose.bvh", draw(st.sampled_from(BVH_BASES[:2])))
    return draw(mutated([buffer.getvalue()], BINARY_OPS, max_ops=2))


@fuzz(250)
@given(raw=bandai_zips())
def test_bandai_zip_fuzzed(workdir: Path, raw: bytes) -> None:
    folder = workdir / "bandai"
    folder.mkdir(exist_ok=True)
    (folder / "data.zip").write_bytes(raw)
    outcome(lambda: iter_bandai(folder))


# ---------------------------------------------------------------- the property itself is not vacuous


def test_unmutated_bases_read(workdir: Path) -> None:
    """Every base reads as a valid skeleton, so the fuzzed cases start from files that work."""
    for i, raw in enumerate(NTU_BASES[:2] + NTU_BASES[3:]):
        path = workdir / f"S001C001P001R001A0{i:02d}.skeleton"
        path.write_bytes(raw)
        assert outcome(lambda path=path: read_ntu_skeleton(path)), path
    for raw, (reader, suffix) in itertools.chain(
        ((r, (read_mediapipe_csv, ".csv")) for r in CSV_BASES),
        ((r, (read_bvh, ".bvh")) for r in BVH_BASES),
    ):
        path = workdir / f"base{suffix}"
        path.write_bytes(raw)
        assert outcome(lambda path=path, reader=reader: reader(path)), raw[:60]
    for name, text in UCLA_BASES:
        (workdir / name).write_text(text)
        assert outcome(lambda name=name: read_nw_ucla_json(workdir / name))
    for labels, joints in UTK_BASES:
        folder = workdir / "utk-base"
        folder.mkdir(exist_ok=True)
        (folder / "actionLabel.txt").write_bytes(labels)
        (folder / "joints_s01_e01.txt").write_bytes(joints)
        assert outcome(lambda folder=folder: iter_utkinect(folder))
    for arrays in CTRGCN_BASES:
        (workdir / "base.npz").write_bytes(_savez(arrays, False))
        assert len(outcome(lambda: iter_ctrgcn_npz(workdir / "base.npz"))) == arrays["x_test"].shape[0]
    for arrays in INTERCHANGE_BASES:
        (workdir / "base.npz").write_bytes(_savez(arrays, True))
        assert outcome(lambda: load_npz(workdir / "base.npz"))


def test_outcome_catches_nan_and_foreign_exceptions(workdir: Path) -> None:
    """The checker fails on what it must: NaN in the output, a non-SkeletonError, a multi-line message."""
    bad = Skeleton.from_single(_motion(3).astype(np.float32))
    bad.joints[0, 0, 0, 0] = np.nan  # after validation, as a careless reader could leave it
    with pytest.raises(AssertionError, match="NaN"):
        outcome(lambda: bad)
    with pytest.raises(ValueError):
        outcome(lambda: np.asarray(["x"], float))
    with pytest.raises(AssertionError, match="multi-line"):
        outcome(lambda: (_ for _ in ()).throw(SkeletonError("a\nb")))
    good = workdir / "good.npz"
    save_npz(Skeleton.from_single(_motion(3).astype(np.float32)), good)
    assert outcome(lambda: load_npz(good))


# ---------------------------------------------------------------- the crashes fuzzing found, pinned

PINNED: dict[str, tuple[str, bytes]] = {
    # csv.Error escaped: a field over the csv module's 131,072-character limit
    "csv-huge-field": ("pose.csv", generated_csv(2) + b"7" * 200_000 + b"\n"),
    # ValueError escaped json.loads: an integer with more digits than Python converts
    "ucla-long-int": ("a01_s01_e00_v01.json", b'{"skeletons": [[[' + b"9" * 5000 + b", 0, 0]]]}"),
    # RecursionError escaped json.loads: nesting deeper than the interpreter's stack
    "ucla-deep-nesting": ("a01_s01_e00_v01.json", b'{"skeletons": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
    # a whole hierarchy quoted in the message: 'CHANNELS 99999... <rest of the file>'
    "bvh-long-message": ("clip.bvh", generated_bvh(2).replace(b"CHANNELS 3", b"CHANNELS " + b"9" * 50, 1)),
    # a 600-digit count quoted whole in the message
    "bvh-long-count": ("clip.bvh", generated_bvh(3).replace(b"Frames: 3", b"Frames: -" + b"9" * 600)),
    "ntu-long-count": (
        "S001C001P001R001A001.skeleton",
        b"1\n1\n72057594037931101 0 1 1 1 1 0 0 0 2\n" + b"7" * 300,
    ),
}


@pytest.mark.parametrize("case", sorted(PINNED))
def test_pinned_crashes_are_one_line_errors(workdir: Path, case: str) -> None:
    name, raw = PINNED[case]
    path = workdir / name
    path.write_bytes(raw)
    with pytest.raises(SkeletonError) as info:
        read_skeleton_file(path)
    assert_readable(info.value)


def _npz_with_header(old: bytes, new: bytes) -> bytes:
    """An archive whose .npy headers have ``old`` replaced by ``new``."""
    buffer = io.BytesIO()
    np.save(buffer, _motion(2).astype(np.float32))
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("joints.npy", buffer.getvalue().replace(old, new, 1))
        out.writestr("x_test.npy", buffer.getvalue().replace(old, new, 1))
        out.writestr("y_test.npy", buffer.getvalue())
    return archive.getvalue()


def test_npz_pinned_crashes(workdir: Path) -> None:
    """A 0-d or empty 'valid' (IndexError/ValueError escaped), a damaged deflate stream (zlib.error) and an
    .npy header that opens a string it never closes (tokenize.TokenError from numpy's header parser)."""
    path = workdir / "h.npz"
    path.write_bytes(_npz_with_header(b"{'descr'", b"{'''descr'"))
    for reader in (load_npz, lambda p: list(iter_ctrgcn_npz(p))):
        with pytest.raises(SkeletonError) as info:
            reader(path)
        assert_readable(info.value)
    joints = _motion(4).astype(np.float32)
    for valid in (np.asarray(True), np.zeros((0,), bool), np.asarray(["a", "b", "c", "d"])):
        (workdir / "v.npz").write_bytes(_savez({"joints": joints, "valid": valid}, False))
        with pytest.raises(SkeletonError) as info:
            load_npz(workdir / "v.npz")
        assert_readable(info.value)
    raw = bytearray(_savez({"joints": joints}, True))
    name_len, extra_len = int.from_bytes(raw[26:28], "little"), int.from_bytes(raw[28:30], "little")
    start = 30 + name_len + extra_len  # the first member's deflate stream; the zip headers stay intact
    raw[start : start + 6] = b"\xff" * 6
    (workdir / "z.npz").write_bytes(bytes(raw))
    with pytest.raises(SkeletonError) as info:
        load_npz(workdir / "z.npz")
    assert_readable(info.value)


def test_utkinect_hostile_frame_ids(workdir: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Ids 1e15 apart (a 3.5 PiB resampling grid) and ids too sparse to resample are skipped, not fatal."""
    folder = workdir / "utk-ids"
    folder.mkdir()
    pose = " ".join(f"{v:.4f}" for v in _STANDING[:20].ravel())
    ids = (100, 104, 1e15, 5000, 5400)
    (folder / "joints_s01_e01.txt").write_text("\n".join(f"{i} {pose}" for i in ids) + "\n")
    (folder / "actionLabel.txt").write_text("s01_e01\nwalk: 0 1e16\nthrow: 4000 6000\ncarry: 100 104\n")
    segments = outcome(lambda: iter_utkinect(folder))
    assert [s.label for s in segments] == ["carry"]
    assert "span" in caplog.text and "too far apart" in caplog.text
