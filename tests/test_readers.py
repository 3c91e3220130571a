"""Every data set reader on the real data in ../shared/data, and one-line errors on broken files."""

from __future__ import annotations

import logging
import time
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from pose.backends.mediapipe import MP
from pose.errors import SkeletonError
from pose.layouts import J
from pose.readers import (
    NTU120_CLASSES,
    NW_UCLA_CLASSES,
    UTKINECT_CLASSES,
    iter_bandai,
    iter_ctrgcn_npz,
    iter_nw_ucla,
    iter_utkinect,
    read_bvh,
    read_mediapipe_csv,
    read_ntu_skeleton,
    read_skeleton_file,
)
from pose.readers.bvh import BANDAI_LABELS
from pose.skeleton import Skeleton, save_npz
from tests.conftest import shared_path

CUT_SHORT = ("S005C002P013R002A056", "S012C001P008R002A030")
BANDAI_1 = "Bandai-Namco-Research-Motiondataset-1"
BANDAI_2 = "Bandai-Namco-Research-Motiondataset-2"


def ntu_files() -> list[Path]:
    return sorted(shared_path("ntu_skeletons").glob("*.skeleton"))


def bandai_member(part: str, stem: str) -> tuple[bytes, bytes]:
    with zipfile.ZipFile(shared_path("bandai_namco", part, "data.zip")) as archive:
        return archive.read(f"data/{stem}.bvh"), archive.read(f"data/{stem}.json")


def observed(skeleton: Skeleton) -> np.ndarray:
    """All observed (25, 3) poses of a skeleton, persons and frames together."""
    return skeleton.joints[skeleton.valid]


def assert_human_bones(poses: np.ndarray, what: str) -> None:
    """Median bone lengths of (N, 25, 3) poses fall in adult human ranges (metres)."""

    def length(a: str, b: str) -> float:
        return float(np.median(np.linalg.norm(poses[:, J[a]] - poses[:, J[b]], axis=-1)))

    ranges = {
        ("spine_base", "spine_shoulder"): (0.3, 0.75),
        ("left_shoulder", "right_shoulder"): (0.18, 0.5),
        ("left_shoulder", "left_elbow"): (0.18, 0.4),
        ("right_elbow", "right_wrist"): (0.15, 0.4),
        ("left_hip", "left_knee"): (0.25, 0.55),
        ("right_knee", "right_ankle"): (0.25, 0.55),
        ("spine_shoulder", "head"): (0.1, 0.35),
    }
    for (a, b), (lo, hi) in ranges.items():
        assert lo <= length(a, b) <= hi, f"{what}: {a}-{b} is {length(a, b):.3f} m, outside [{lo}, {hi}]"


def left_is_smaller_x(poses: np.ndarray) -> float:
    """Fraction of poses whose left shoulder has the smaller x (a person facing the sensor)."""
    return float(np.mean(poses[:, J["left_shoulder"], 0] < poses[:, J["right_shoulder"], 0]))


# ---------------------------------------------------------------- NTU RGB+D


def test_ntu_all_files_read_with_labels_and_meta():
    files = ntu_files()
    assert len(files) == 17
    for path in files:
        skel = read_ntu_skeleton(path)
        action = int(path.stem[-3:])
        assert skel.label == NTU120_CLASSES[action - 1]
        assert skel.meta["dataset"] == "ntu"
        assert skel.meta["subject"] == str(int(path.stem[9:12]))
        assert skel.meta["setup"] == str(int(path.stem[1:4]))
        assert skel.meta["camera"] == str(int(path.stem[5:8]))
        assert skel.meta["replication"] == str(int(path.stem[13:16]))
        assert skel.fps == 30.0 and skel.num_frames > 40 and skel.valid[:, 0].all()
        assert left_is_smaller_x(observed(skel)) > 0.99
        assert_human_bones(observed(skel), path.name)


def test_ntu_class_names():
    assert len(NTU120_CLASSES) == 120 == len(set(NTU120_CLASSES))
    assert all(name == name.lower().strip() and name for name in NTU120_CLASSES)
    assert NTU120_CLASSES[0] == "drink water" and NTU120_CLASSES[59] == "walking apart"
    assert NTU120_CLASSES[119] == "rock-paper-scissors"


@pytest.mark.parametrize("action", ["A056", "A058"])
def test_ntu_mutual_actions_have_two_persons(action):
    files = [p for p in ntu_files() if p.stem.endswith(action)]
    assert files
    for path in files:
        skel = read_ntu_skeleton(path)
        assert skel.num_persons == 2
        assert skel.valid[:, 1].mean() > 0.7
        # two different people, not one body twice
        gap = np.linalg.norm(skel.joints[:, 0, J["spine_mid"]] - skel.joints[:, 1, J["spine_mid"]], axis=-1)
        assert np.median(gap[skel.valid.all(axis=1)]) > 0.3


@pytest.mark.parametrize("stem", CUT_SHORT)
def test_ntu_cut_short_files_keep_their_complete_frames(stem):
    path = shared_path("ntu_skeletons", f"{stem}.skeleton")
    declared = int(path.read_text().split()[0])
    skel = read_ntu_skeleton(path)
    assert 0 < skel.num_frames < declared
    assert skel.valid[:, 0].all() and np.isfinite(skel.joints).all()


def test_ntu_noise_body_is_dropped():
    path = shared_path("ntu_skeletons", "S001C001P003R002A005.skeleton")
    # The file really holds two bodies in every frame; the second is wide, flat noise.
    assert path.read_text().split("\n")[1].strip() == "2"
    skel = read_ntu_skeleton(path)
    assert skel.num_persons == 1
    person = skel.joints[:, 0]
    height = person[..., 1].max(axis=1) - person[..., 1].min(axis=1)
    width = person[..., 0].max(axis=1) - person[..., 0].min(axis=1)
    assert np.all(height > 1.0) and np.all(width < 0.8 * height)
    assert abs(float(np.median(person[:, J["spine_base"], 0])) - 0.21) < 0.1  # the real person, not x = 1.7 m


# ---------------------------------------------------------------- CTR-GCN .npz


def write_ctrgcn(path: Path, skeletons: list[Skeleton], num_classes: int, compressed: bool) -> None:
    """A small CTR-GCN style file: x (N, 300, 150) zero-padded, one-hot y, same data in both splits."""
    x = np.zeros((len(skeletons), 300, 150), np.float32)
    y = np.zeros((len(skeletons), num_classes), np.float32)
    for i, skel in enumerate(skeletons):
        x[i, : skel.num_frames] = skel.joints.reshape(skel.num_frames, 150)
        y[i, NTU120_CLASSES.index(skel.label)] = 1.0
    (np.savez_compressed if compressed else np.savez)(path, x_train=x, y_train=y, x_test=x, y_test=y)


@pytest.mark.parametrize("compressed", [False, True])
def test_ctrgcn_npz_round_trip(tmp_path, compressed):
    chosen = [p for p in ntu_files() if p.stem.endswith(("A005", "A011", "A056", "A058"))]
    originals = [read_ntu_skeleton(p) for p in chosen]
    path = tmp_path / "NTU60_CS.npz"
    write_ctrgcn(path, originals, 60, compressed)
    for split in ("train", "test"):
        back = list(iter_ctrgcn_npz(path, split))
        assert len(back) == len(originals)
        for orig, got in zip(originals, back, strict=True):
            assert got.label == orig.label and got.meta["split"] == split
            assert got.num_frames == orig.num_frames
            np.testing.assert_array_equal(got.valid, orig.valid)
            np.testing.assert_allclose(got.joints, orig.joints)
    with pytest.raises(SkeletonError, match="many sequences"):
        read_skeleton_file(path)


def test_ctrgcn_npz_refuses_objects_and_bad_split(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, x_test=np.array([object()], dtype=object), y_test=np.zeros((1, 60)))
    with pytest.raises(SkeletonError, match="evil.npz: x_test.npy holds Python objects"):
        list(iter_ctrgcn_npz(path))
    with pytest.raises(SkeletonError, match="split"):
        list(iter_ctrgcn_npz(path, "val"))


# ---------------------------------------------------------------- NW-UCLA


def test_nw_ucla_all_sequences():
    root = shared_path("nw_ucla")
    counts: Counter[str] = Counter()
    views, subjects = set(), set()
    poses = []
    for skel in iter_nw_ucla(root):
        counts[skel.label] += 1
        views.add(skel.meta["view"])
        subjects.add(skel.meta["subject"])
        assert skel.num_persons == 1 and skel.meta["dataset"] == "nw_ucla"
        poses.append(observed(skel))
    assert sum(counts.values()) == 1484
    assert set(counts) == set(NW_UCLA_CLASSES) and min(counts.values()) > 100
    assert views == {"1", "2", "3"} and len(subjects) == 10
    poses = np.concatenate(poses)
    assert np.mean(poses[:, J["head"], 1] > poses[:, J["spine_base"], 1]) > 0.99  # y up
    assert left_is_smaller_x(poses) > 0.95
    assert_human_bones(poses, "nw_ucla")


# ---------------------------------------------------------------- UTKinect


def test_utkinect_every_segment(caplog):
    with caplog.at_level(logging.WARNING, logger="pose.readers.utkinect"):
        segments = list(iter_utkinect(shared_path("utkinect")))
    # 200 labelled segments, one of which (s10_e02 carry) has no frame range: skipped with a warning.
    assert len(segments) == 199
    assert any("s10_e02 carry" in r.getMessage() for r in caplog.records)
    counts = Counter(s.label for s in segments)
    assert set(counts) == set(UTKINECT_CLASSES) and counts["carry"] == 19 and counts["walk"] == 20
    for skel in segments:
        assert skel.fps == 15.0 and skel.valid[:, 0].mean() > 0.9
        assert int(skel.meta["start"]) <= int(skel.meta["end"])
    poses = np.concatenate([observed(s) for s in segments])
    assert np.mean(poses[:, J["head"], 1] > poses[:, J["spine_base"], 1]) > 0.99
    assert left_is_smaller_x(poses) > 0.95
    assert_human_bones(poses, "utkinect")


def test_utkinect_segments_use_frame_ids(tmp_path):
    """Frame ids, not line numbers, bound a segment; repeated ids are averaged."""
    rng = np.random.default_rng(1)
    ids = [10, 10, 14, 18, 20, 100, 104]
    joints = rng.normal(size=(len(ids), 60))
    lines = [" ".join([str(i)] + [f"{v:.6f}" for v in row]) for i, row in zip(ids, joints, strict=True)]
    (tmp_path / "joints_s01_e01.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "actionLabel.txt").write_text("s01_e01\nwalk: 14 20\nthrow: 10 14\npush: NaN NaN\n")
    walk, throw = list(iter_utkinect(tmp_path))
    assert walk.label == "walk" and walk.num_frames == 4  # ids 14..20 at 15 fps (every 2 ids)
    np.testing.assert_allclose(walk.joints[0, 0, :20], joints[2].reshape(20, 3), atol=1e-5)
    np.testing.assert_allclose(throw.joints[0, 0, :20], joints[:2].mean(0).reshape(20, 3), atol=1e-5)


# ---------------------------------------------------------------- Bandai-Namco BVH


@pytest.mark.parametrize("root", [BANDAI_1, f"{BANDAI_2}/data.zip"])
def test_bandai_sample_from_each_zip(root):
    clips = list(iter_bandai(shared_path("bandai_namco", *root.split("/")), limit=6))
    assert len(clips) == 6
    for clip in clips:
        assert clip.label in BANDAI_LABELS.values() and clip.meta["dataset"] == "bandai_namco"
        assert clip.meta["style"] and clip.fps == pytest.approx(30.0, abs=0.01)
        assert left_is_smaller_x(clip.joints[:1, 0]) == 1.0
        assert_human_bones(observed(clip), clip.source)


def test_loose_bvh_walk_faces_and_moves_toward_the_sensor(tmp_path):
    bvh, note = bandai_member(BANDAI_2, "dataset-2_walk_normal_001")
    path = tmp_path / "dataset-2_walk_normal_001.bvh"
    path.write_bytes(bvh)
    skel = read_bvh(path)  # no JSON beside it: the label comes from the name
    assert skel.label == "walk" and skel.meta["style"] == "normal"
    path.with_suffix(".json").write_bytes(note)
    assert read_skeleton_file(path).label == "walk"
    base = skel.joints[:, 0, J["spine_base"]]
    assert base[0, 2] == pytest.approx(3.0) and base[-1, 2] < base[0, 2] - 3.0  # walks toward -z
    assert abs(base[-1, 0] - base[0, 0]) < 1.0
    head_up = skel.joints[:, 0, J["head"], 1] - skel.joints[:, 0, J["spine_base"], 1]
    assert np.all(head_up > 0.5)
    text = read_bvh(bvh.decode())  # BVH text works too, without a label
    assert text.label is None and text.meta["dataset"] == "bvh"
    np.testing.assert_allclose(text.joints, skel.joints)


def test_bvh_left_and_right_follow_the_rig(tmp_path):
    """'wave left hand' moves NTU's left hand; 'walk backward' moves away from the sensor."""
    for stem, moving, still in (
        ("dataset-2_wave-left-hand_normal_001", "left_hand", "right_hand"),
        ("dataset-2_wave-right-hand_normal_001", "right_hand", "left_hand"),
    ):
        path = tmp_path / f"{stem}.bvh"
        path.write_bytes(bandai_member(BANDAI_2, stem)[0])
        joints = read_bvh(path).joints[:, 0]
        assert joints[:, J[moving]].std(axis=0).sum() > 4 * joints[:, J[still]].std(axis=0).sum()
    path = tmp_path / "dataset-1_walk-back_normal_001.bvh"
    path.write_bytes(bandai_member(BANDAI_1, path.stem)[0])
    skel = read_bvh(path)
    assert skel.label == "walk backward"
    assert skel.joints[-1, 0, J["spine_base"], 2] > skel.joints[0, 0, J["spine_base"], 2] + 1.0


def test_bvh_other_rig_names_give_the_same_skeleton():
    bvh = bandai_member(BANDAI_2, "dataset-2_raise-up-both-hands_active_001")[0].decode()
    renamed = bvh
    for side, name in (("_L", "Left"), ("_R", "Right")):
        for bandai, cmu in (
            ("UpperArm", "Arm"),
            ("LowerArm", "ForeArm"),
            ("Hand", "Hand"),
            ("UpperLeg", "UpLeg"),
            ("LowerLeg", "Leg"),
            ("Foot", "Foot"),
            ("Toes", "ToeBase"),
        ):
            renamed = renamed.replace(f"JOINT {bandai}{side}\n", f"JOINT mixamorig:{name}{cmu}\n")
    assert renamed.count("mixamorig:") == 14
    np.testing.assert_allclose(read_bvh(renamed).joints, read_bvh(bvh).joints)


def test_bvh_joint_with_two_channels_lines_is_one_error():
    """Found by the fuzzer: a second CHANNELS line for one joint counted its columns but kept only its
    names, so the motion rows were read short and forward kinematics indexed past them."""
    text = (
        "HIERARCHY\nROOT Hips\n{\n OFFSET 0 0 0\n CHANNELS 3 Xposition Yposition Zposition\n"
        " CHANNELS 3 Zrotation Xrotation Yrotation\n End Site\n {\n OFFSET 0 1 0\n }\n}\n"
        "MOTION\nFrames: 1\nFrame Time: 0.0333\n0 0 0 0 0 0\n"
    )
    with pytest.raises(SkeletonError, match="two CHANNELS lines"):
        read_bvh(text)


@pytest.mark.slow
def test_bandai_full_read_is_fast():
    start = time.perf_counter()
    clips = frames = 0
    labels: Counter[str] = Counter()
    for clip in iter_bandai(shared_path("bandai_namco")):
        clips += 1
        frames += clip.num_frames
        labels[clip.label] += 1
    seconds = time.perf_counter() - start
    print(f"Bandai-Namco: {clips} clips, {frames} frames in {seconds:.1f} s")
    assert clips == 3076 and frames == 416845
    assert None not in labels and len(labels) == len(set(BANDAI_LABELS.values()))
    assert seconds < 120


# ---------------------------------------------------------------- MediaPipe CSV


def test_mediapipe_csvs_map_without_nan_and_keep_handedness():
    files = sorted(shared_path("mediapipe_yoga").glob("*.csv"))
    assert len(files) == 7
    facing_left, facing = 0, 0
    for path in files:
        skel = read_mediapipe_csv(path)
        assert np.isfinite(skel.joints).all() and skel.valid[:, 0].all()
        assert skel.label == (None if path.name.startswith("surya") else path.name.split("__")[0])
        raw = np.loadtxt(path, delimiter=",", skiprows=1, usecols=range(132)).reshape(-1, 33, 4)
        ears_z = raw[:, [MP["left_ear"], MP["right_ear"]], 2].mean(axis=1)
        front = raw[:, MP["nose"], 2] < ears_z - 0.02  # the face is toward the camera
        poses = skel.joints[:, 0]
        facing += int(front.sum())
        facing_left += int(
            np.sum(front & (poses[:, J["left_shoulder"], 0] < poses[:, J["right_shoulder"], 0]))
        )
        assert_human_bones(poses, path.name)
    assert facing > 200 and facing_left / facing > 0.95


def test_mediapipe_missing_landmarks_become_invalid_frames(tmp_path):
    source = shared_path("mediapipe_yoga", "warrior__P1__2_.csv")
    lines = source.read_text().splitlines()
    cells = lines[2].split(",")
    cells[40] = "nan"
    lines[2] = ",".join(cells)
    lines[3] = ",".join(lines[3].split(",")[:50])  # a row cut short
    path = tmp_path / "broken.csv"
    path.write_text("\n".join(lines) + "\n")
    skel = read_mediapipe_csv(path)
    assert not skel.valid[1, 0] and not skel.valid[2, 0] and skel.valid[0, 0] and skel.valid[3:, 0].all()
    assert np.isfinite(skel.joints).all() and np.all(skel.joints[1:3] == 0)


# ---------------------------------------------------------------- dispatcher and errors


def test_dispatcher_reads_every_kind(tmp_path):
    ntu = read_skeleton_file(ntu_files()[0])
    assert ntu.meta["dataset"] == "ntu"
    ucla = read_skeleton_file(shared_path("nw_ucla", "all_sqe", "a01_s01_e00_v01.json"))
    assert ucla.label == "pick up with one hand" and ucla.meta["view"] == "1"
    assert read_skeleton_file(shared_path("mediapipe_yoga", "tree__P1__2_.csv")).label == "tree"
    save_npz(ntu, tmp_path / "x.npz")
    assert read_skeleton_file(tmp_path / "x.npz").label == ntu.label


BAD_BVH = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Wrotation
}
MOTION
Frames: 1
Frame Time: 0.0333333
0 0 0 0 0 0
"""

GOOD_ROOT = BAD_BVH.replace("Wrotation", "Yrotation")

BROKEN_FILES = {
    "garbage.skeleton": (b"hello world\nthis is not kinect\n", "not an NTU .skeleton"),
    "binary.skeleton": (bytes(range(256)) * 4, "binary"),
    "empty.skeleton": (b"", "empty"),
    "bodies.skeleton": (b"5\n1\n72057594037931648 0 1 1 1 1 0 0.06 -0.24 2\n3\n1 2 3\n", "3 joints"),
    "truncated.json": (b'{"file_name": "a01_s01_e00_v01", "skeletons": [[[0.1, 0.2', "not valid JSON"),
    "flat.json": (b'{"skeletons": [[1, 2, 3]]}', "[T][20][3]"),
    "channels.bvh": (BAD_BVH.encode(), "bad CHANNELS"),
    "frames.bvh": (
        BAD_BVH.replace("Wrotation", "Yrotation").replace("0 0 0 0 0 0", "0 0 0").encode(),
        "3 values",
    ),
    "nothing.csv": (b"a,b,c\n1,2,3\n", "33 x 4"),
    "pose.txt": (b"1 2 3\n", "unknown skeleton file type"),
}


@pytest.mark.parametrize("name", sorted(BROKEN_FILES))
def test_broken_files_raise_one_line_skeleton_errors(tmp_path, name):
    content, reason = BROKEN_FILES[name]
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(SkeletonError) as info:
        read_skeleton_file(path)
    message = str(info.value)
    assert name in message and reason in message and "\n" not in message


def test_missing_file_and_bvh_without_a_humanoid(tmp_path):
    with pytest.raises(SkeletonError, match="not found"):
        read_skeleton_file(tmp_path / "absent.skeleton")
    path = tmp_path / "robot.bvh"
    path.write_text(GOOD_ROOT)
    with pytest.raises(SkeletonError, match="no BVH joint for the neck"):
        read_bvh(path)
