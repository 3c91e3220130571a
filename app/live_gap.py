"""``python -m app.live_gap``: how live MediaPipe skeletons differ from the skeletons the model learns from.

Training data are Kinect (NTU RGB+D, NW-UCLA) and motion capture (Human3.6M), read with the project's
readers; live data are the app's own pose stage (MediaPipe, the NTU-25 mapping, tracking, the
camera-space root, smoothing) replayed from the detections ``neuron-live evaluate-videos`` cached for
real videos. Per source it prints, as Markdown tables: bone lengths; where the joints MediaPipe lacks
land relative to the body (spine base, spine mid, neck, spine at the shoulders, head, hands); left and
right; body orientation; jitter per joint and axis; the root's stability; and the window motion the
still rule reads. Figures are medians over frames (and sequences) unless a column says otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from app.config import LiveConfig
from app.video_eval import Detections, cache_file, read_truth, tracked_skeleton
from neuron_base.atomic import atomic_write_text
from neuron_base.paths import shared_data_dir
from pose.estimator import live_detection_settings
from pose.layouts import J
from pose.readers import read_skeleton_file
from pose.skeleton import Skeleton
from pose.window import RESAMPLE_HZ, SlidingWindow

SHARED = shared_data_dir()
BONES = (
    ("spine_base", "spine_mid"), ("spine_mid", "spine_shoulder"), ("spine_shoulder", "neck"),
    ("neck", "head"), ("left_shoulder", "right_shoulder"), ("left_hip", "right_hip"),
    ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"), ("left_wrist", "left_hand"),
    ("left_hip", "left_knee"), ("left_knee", "left_ankle"), ("left_ankle", "left_foot"),
    ("spine_base", "left_hip"), ("spine_shoulder", "left_shoulder"),
)  # fmt: skip
# Bins (m/s) of the window motion the still rule reads, fine where still and moving people part.
MOTION_BINS = (0.0, 0.03, 0.05, 0.07, 0.1, 0.12, 0.2, 0.5, 1.0, 3.0, np.inf)
# Bands of the videos' frame rates (fps) over which live figures are also reported.
FPS_BANDS = ((0.0, 20.0), (20.0, 27.0), (27.0, 35.0), (35.0, 100.0))
JITTER_JOINTS = ("spine_base", "spine_shoulder", "head", "left_wrist", "left_hand", "left_ankle", "left_foot")


def training_sources(shared: Path, per_source: int, seed: int = 0) -> dict[str, list[Skeleton]]:
    """A sample of each training source, read with the project's readers."""
    rng = np.random.default_rng(seed)

    def sample(files: list[Path]) -> list[Skeleton]:
        picked = sorted(rng.choice(len(files), min(per_source, len(files)), replace=False)) if files else []
        return [read_skeleton_file(files[i]) for i in picked]

    return {
        "NTU (Kinect v2)": sample(sorted((shared / "ntu_skeletons").glob("*.skeleton"))),
        "NW-UCLA (Kinect v1)": sample(sorted((shared / "nw_ucla" / "all_sqe").glob("*.json"))),
        "Human3.6M (mocap)": sample(sorted((shared / "h36m").glob("*.npz"))),
    }


def live_sequences(videos: Path, config: LiveConfig) -> Iterator[tuple[str, Skeleton]]:
    """The app's pose stage on each cached video: the most prominent person's joints, camera space."""
    for clip in read_truth(videos / "labels.tsv", videos):
        path = cache_file(clip.path, live_detection_settings(config.max_persons, config.search_every_s))
        if not path.exists():
            print(
                f"note: {clip.path.name} skipped (no cached detections; run evaluate-videos)", file=sys.stderr
            )
            continue
        # Not turned to face the camera: the orientation people have on video is one of the gaps.
        skeleton = tracked_skeleton(Detections.load(path), clip, face_camera=False)
        if skeleton.valid.sum() >= 10:
            yield clip.path.name, skeleton


def frames_of(skeletons: Sequence[Skeleton]) -> np.ndarray:
    """Every valid frame of the first person, (N, 25, 3)."""
    return np.concatenate([s.joints[s.valid[:, 0], 0] for s in skeletons if s.valid[:, 0].any()])


def at_30hz(skeleton: Skeleton) -> np.ndarray:
    """The first person's longest valid run resampled to the window rate, (T, 25, 3)."""
    valid = skeleton.valid[:, 0]
    runs = np.split(np.arange(len(valid)), np.flatnonzero(np.diff(valid.astype(int))) + 1)
    best = max((r for r in runs if valid[r[0]]), key=len)
    joints = skeleton.joints[best, 0]
    t = np.arange(len(best)) / skeleton.fps
    grid = np.arange(0.0, t[-1], 1.0 / RESAMPLE_HZ)
    flat = joints.reshape(len(best), -1)
    return np.stack([np.interp(grid, t, flat[:, k]) for k in range(flat.shape[1])], 1).reshape(-1, 25, 3)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def shape_figures(f: np.ndarray) -> dict[str, float]:
    """Bone lengths (m) and where joints land relative to the body, medians over frames ``f``."""
    j = {name: f[:, J[name]] for name in J}
    out = {f"bone {a}-{b} (m)": float(np.median(np.linalg.norm(j[a] - j[b], axis=-1))) for a, b in BONES}
    spine = j["spine_shoulder"] - j["spine_base"]
    torso = np.linalg.norm(spine, axis=-1)
    up = _unit(spine)
    hip_c = (j["left_hip"] + j["right_hip"]) / 2
    sh_c = (j["left_shoulder"] + j["right_shoulder"]) / 2
    forearm = np.linalg.norm(j["left_wrist"] - j["left_elbow"], axis=-1)

    def along(p: np.ndarray) -> np.ndarray:  # position along the spine, in torso lengths from the base
        return np.einsum("nd,nd->n", p - j["spine_base"], up) / torso

    out |= {
        "torso: spine base to spine shoulder (m)": float(np.median(torso)),
        "spine mid along the spine (0 base, 1 shoulder)": float(np.median(along(j["spine_mid"]))),
        "neck along spine shoulder to head": float(
            np.median(
                np.einsum("nd,nd->n", j["neck"] - j["spine_shoulder"], _unit(j["head"] - j["spine_shoulder"]))
                / np.linalg.norm(j["head"] - j["spine_shoulder"], axis=-1)
            )
        ),
        "head above spine shoulder (torso lengths)": float(np.median(along(j["head"]) - 1.0)),
        "hip centre above spine base (torso lengths)": float(np.median(along(hip_c))),
        "shoulder centre above spine shoulder (torso lengths)": float(np.median(along(sh_c) - 1.0)),
        "hip width / shoulder width": float(
            np.median(
                np.linalg.norm(j["left_hip"] - j["right_hip"], axis=-1)
                / np.linalg.norm(j["left_shoulder"] - j["right_shoulder"], axis=-1)
            )
        ),
        "hand from wrist (forearm lengths)": float(
            np.median(np.linalg.norm(j["left_hand"] - j["left_wrist"], axis=-1) / forearm)
        ),
        "hand tip from wrist (forearm lengths)": float(
            np.median(np.linalg.norm(j["left_hand_tip"] - j["left_wrist"], axis=-1) / forearm)
        ),
    }  # fmt: skip
    across = j["right_shoulder"] - j["left_shoulder"]
    out["left shoulder at smaller x (share of frames)"] = float(np.mean(across[:, 0] > 0))
    # Facing: the yaw of the shoulder line in the ground plane; 0 = square to the camera.
    yaw = np.degrees(np.arctan2(np.abs(across[:, 2]), np.abs(across[:, 0])))
    out["shoulder line yaw from the image plane (deg)"] = float(np.median(yaw))
    out["frames turned over 45 deg from the image plane (share)"] = float(np.mean(yaw > 45.0))
    out["spine tilt from vertical (deg)"] = float(np.median(np.degrees(np.arccos(np.clip(up[:, 1], -1, 1)))))
    return out


def motion_figures(seqs: Sequence[np.ndarray]) -> dict[str, float]:
    """Jitter (median |second difference| at 30 Hz, mm) per joint and axis, relative to the spine
    base, and of the spine base itself (the root) in camera space."""
    out: dict[str, float] = {}
    rel = [s - s[:, :1] for s in seqs if len(s) > 3]
    for name in JITTER_JOINTS[1:]:
        for axis, a in (("x", 0), ("y", 1), ("z", 2)):
            d2 = np.concatenate([np.abs(np.diff(s[:, J[name], a], 2)) for s in rel])
            out[f"jitter {name} {axis} (mm)"] = float(np.median(d2) * 1000)
    for axis, a in (("x", 0), ("y", 1), ("z", 2)):
        d2 = np.concatenate([np.abs(np.diff(s[:, 0, a], 2)) for s in seqs if len(s) > 3])
        out[f"root jitter {axis} (mm)"] = float(np.median(d2) * 1000)
    out["root depth (m)"] = float(np.median(np.concatenate([s[:, 0, 2] for s in seqs])))
    return out


def window_motion(skeleton: Skeleton) -> np.ndarray:
    """The motion (m/s) the app's still rule reads, for every window the app would score."""
    from pose.estimator import PersonPose, PoseResult

    windows = SlidingWindow()
    out = []
    for i in range(skeleton.num_frames):
        result = PoseResult(i, i / skeleton.fps, t_media=i / skeleton.fps)
        if skeleton.valid[i, 0]:
            result.persons = [PersonPose(1, skeleton.joints[i, 0], np.zeros((25, 2), np.float32), 1.0)]
        out += [w.motion for w in windows.push(result)]
    return np.array(out)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m app.live_gap", description=__doc__.splitlines()[0])
    p.add_argument("--shared", type=Path, default=SHARED, help="the shared data folder")
    p.add_argument("--per-source", type=int, default=120, help="training sequences sampled per source")
    p.add_argument("--out", type=Path, default=Path("runs/live_gap.json"))
    args = p.parse_args(argv)
    sources = training_sources(args.shared, args.per_source)
    live = dict(live_sequences(args.shared / "videos", LiveConfig()))
    sources["live: MediaPipe on the 32 videos"] = list(live.values())
    table: dict[str, dict[str, float]] = {}
    for name, skeletons in sources.items():
        table[name] = shape_figures(frames_of(skeletons)) | motion_figures([at_30hz(s) for s in skeletons])
    for low, high in FPS_BANDS:  # frame-rate effects: the same figures per band of the videos' rates
        band = [s for s in live.values() if low <= s.fps < high]
        if band:
            table[f"live, {low:g}-{high:g} fps ({len(band)} videos)"] = shape_figures(frames_of(band)) | (
                motion_figures([at_30hz(s) for s in band])
            )
    windows = {clip: window_motion(s) for clip, s in live.items()}
    motion = {clip: np.percentile(m, [10, 50, 90]).round(3).tolist() for clip, m in windows.items()}
    pooled = np.concatenate(list(windows.values()))
    counts, _ = np.histogram(pooled, MOTION_BINS)
    histogram = {
        f"{a:g}-{b:g}": int(n) for a, b, n in zip(MOTION_BINS[:-1], MOTION_BINS[1:], counts, strict=True)
    }
    report = {"figures": table, "window_motion_p10_p50_p90": motion, "window_motion_histogram": histogram}
    atomic_write_text(args.out, json.dumps(report, indent=1))
    names = list(table)
    print("| figure | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for key in table[names[0]]:
        print(f"| {key} | " + " | ".join(f"{table[n][key]:.3f}" for n in names) + " |")
    print(f"\nwindow motion over all {len(pooled)} windows (m/s: count): {histogram}")
    print("\n| clip | window motion p10 / p50 / p90 (m/s) |\n|---|---|")
    for clip, (p10, p50, p90) in motion.items():
        print(f"| {clip} | {p10:.3f} / {p50:.3f} / {p90:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
