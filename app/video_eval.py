"""``neuron-live evaluate-videos``: the app's live path, headless, scored against labelled real videos.

Every frame of each video goes through exactly what the app runs: the same pose estimator (MediaPipe,
NTU-25 mapping, tracking, camera-space root, smoothing), the same sliding windows, the app's
recogniser and backend, the same score smoothing and still rule (``app.session.build_pipeline``,
lossless as ``--headless --fast``). Only MediaPipe's raw detections are cached (per video, keyed by
a hash of the file's bytes and the detector's settings, under the user cache dir), because MediaPipe
is the slow part: a second run, after a model or a mapping change, replays them through the same
pose stage and takes seconds per video, not minutes.

What is reported: per clip the most frequent shown label and the mean rank of the true label; then
clip accuracy, class-balanced top-1 and top-5, and a confusion matrix (JSON and PNG).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import logging
import platform
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.config import ConfigError, LiveConfig, split_labels
from neuron_base.atomic import atomic_path, atomic_write_text
from neuron_base.devices import BACKEND_CHOICES, DEVICE_CHOICES
from neuron_base.errors import NeuronLiveError
from neuron_base.paths import cache_dir
from pose.errors import SkeletonError, reading_npz
from pose.estimator import PoseEstimator, RawPose, live_detection_settings
from pose.skeleton import Skeleton, save_npz, write_npz
from pose.sources import Frame, FrameSource, VideoSource

log = logging.getLogger(__name__)

EXIT_OK, EXIT_USAGE = 0, 2
# Bumped when the cache file's layout changes: older files are then ignored, never misread.
CACHE_FORMAT = 2  # 2: the camera's measured motion per frame (pose.camera_motion)
STILL, ABSENT = "(still)", "(absent)"
TOP_K = 5


class VideoEvalError(NeuronLiveError):
    """The videos, the truth file or the output folder cannot be used; the message says which."""


@dataclass
class Clip:
    """One video and the action it shows."""

    path: Path
    truth: str


# -- the clips and their truth ---------------------------------------------------------------------


def read_truth(path: Path, folder: Path) -> list[Clip]:
    """Clips from a TSV with at least the columns ``file`` and ``label`` (files relative to ``folder``)."""
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
    except FileNotFoundError:
        raise VideoEvalError(f"{path}: truth file not found") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise VideoEvalError(f"{path}: cannot read the truth file ({type(exc).__name__})") from None
    if not rows or not {"file", "label"} <= set(rows[0]):
        raise VideoEvalError(f"{path}: expected a tab-separated file with columns 'file' and 'label'")
    clips = []
    for number, row in enumerate(rows, start=2):
        name, label = (row.get("file") or "").strip(), (row.get("label") or "").strip()
        if not name or not label:
            raise VideoEvalError(f"{path}: line {number} has no file or no label")
        video = folder / name
        if not video.is_file():
            raise VideoEvalError(f"{path}: line {number}: video {video} not found")
        clips.append(Clip(video, label))
    return clips


def find_clips(videos: Path, truth: Path | None, truth_label: str | None) -> list[Clip]:
    """The clips to score: one video with ``truth_label``, or a folder with its truth TSV."""
    if not videos.exists():
        raise VideoEvalError(f"{videos}: not found")
    if videos.is_file():
        if truth_label is None:
            raise VideoEvalError("a single video needs --truth-label (the action it shows)")
        return [Clip(videos, truth_label)]
    if truth_label is not None:
        raise VideoEvalError("--truth-label is for a single video; a folder takes --truth FILE.tsv")
    truth = truth or videos / "labels.tsv"
    return read_truth(truth, videos)


# -- cached detections ------------------------------------------------------------------------------


@dataclass
class Detections:
    """MediaPipe's raw persons for every frame of one video, and the frames' times and size."""

    backend: str
    fps: float
    size: tuple[int, int]  # height, width
    t_media: np.ndarray  # (T,) seconds
    timestamps_ms: np.ndarray  # (T,) the detector's timestamps, the key for replay
    frames: list[list[RawPose]] = field(default_factory=list)
    shifts: np.ndarray | None = None  # (T, 2) the background's motion per frame, NaN where unknown

    def save(self, path: Path) -> None:
        counts = np.array([len(f) for f in self.frames], np.int32)
        poses = [pose for frame in self.frames for pose in frame]
        world = np.stack([w for w, _ in poses]) if poses else np.zeros((0, 33, 3), np.float32)
        image = np.stack([i for _, i in poses]) if poses else np.zeros((0, 33, 4), np.float32)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_npz(
            path,
            {
                "format": np.asarray(CACHE_FORMAT),
                "backend": np.asarray(self.backend),
                "fps": np.asarray(self.fps),
                "size": np.asarray(self.size, np.int32),
                "t_media": self.t_media,
                "timestamps_ms": self.timestamps_ms,
                "counts": counts,
                "world": world.astype(np.float32),
                "image": image.astype(np.float32),
                "shifts": self.shift_table(),
            },
        )

    def shift_table(self) -> np.ndarray:
        """(T, 2) float64 shifts, NaN for frames without one (all NaN when none were recorded)."""
        if self.shifts is None:
            return np.full((len(self.frames), 2), np.nan)
        return np.asarray(self.shifts, np.float64).reshape(len(self.frames), 2)

    @classmethod
    def load(cls, path: Path) -> Detections:
        with reading_npz(path, "detections cache"), np.load(path, allow_pickle=False) as data:
            if int(data["format"]) != CACHE_FORMAT:
                raise SkeletonError(f"{path}: cache format {int(data['format'])}, not {CACHE_FORMAT}")
            counts, world, image = data["counts"], data["world"], data["image"]
            if (
                counts.sum() != len(world)
                or world.shape[1:] != (33, 3)
                or image.shape != world.shape[:1] + (33, 4)
            ):
                raise SkeletonError(f"{path}: inconsistent detections cache")
            starts = np.concatenate([[0], np.cumsum(counts)])
            frames = [
                [(world[k], image[k]) for k in range(starts[i], starts[i + 1])] for i in range(len(counts))
            ]
            height, width = (int(v) for v in data["size"])
            shifts = np.asarray(data["shifts"], np.float64)
            if shifts.shape != (len(counts), 2):
                raise SkeletonError(f"{path}: inconsistent detections cache")
            return cls(
                str(data["backend"]),
                float(data["fps"]),
                (height, width),
                np.asarray(data["t_media"], np.float64),
                np.asarray(data["timestamps_ms"], np.int64),
                frames,
                shifts,
            )


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes: the same video under another name or folder hits the same cache."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_file(video: Path, settings: dict) -> Path:
    """Where the detections of ``video`` under detector ``settings`` are cached."""
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    return cache_dir() / "video_detections" / f"{file_digest(video)[:32]}-{key}.npz"


def detect_video(video: Path, config: LiveConfig, progress: bool = True) -> Detections:
    """Run the app's MediaPipe detector on every frame of ``video`` (the slow part)."""
    from tqdm import tqdm

    from app.session import pose_estimator

    source = VideoSource(video)
    frames: list[list[RawPose]] = []
    times: list[float] = []
    stamps: list[int] = []
    shifts: list[np.ndarray] = []
    size = (0, 0)
    with pose_estimator(config) as estimator, source:
        bar = tqdm(total=source.frame_count, desc=f"pose {video.name}", leave=False, disable=not progress)
        for frame in source:
            estimator.process(frame)  # the live path's choice of whom to follow decides what is detected
            frames.append(estimator.last_raw)
            times.append(float(frame.t_media))
            stamps.append(estimator.last_timestamp_ms)
            shifts.append(np.full(2, np.nan) if estimator.last_shift is None else estimator.last_shift)
            size = frame.image.shape[:2]
            bar.update()
        bar.close()
        backend = estimator.backend_name
    if not frames:
        raise VideoEvalError(f"{video}: no frames decoded")
    stamps_ms = np.array(stamps, np.int64)
    return Detections(backend, source.fps, size, np.array(times), stamps_ms, frames, np.array(shifts))


def cached_detections(video: Path, config: LiveConfig, progress: bool = True) -> tuple[Detections, bool]:
    """The video's detections from the cache, else detected now and cached; and whether it was a hit."""
    path = cache_file(video, live_detection_settings(config.max_persons, config.search_every_s))
    if path.exists():
        try:
            return Detections.load(path), True
        except SkeletonError as exc:
            log.warning("ignoring a damaged detections cache: %s", exc)
    detections = detect_video(video, config, progress)
    detections.save(path)
    return detections, False


class RecordedDetector:
    """A :class:`pose.estimator.Detector` that answers from cached detections, by timestamp; and the
    :class:`pose.camera_motion.MotionEstimator` that gives the camera motion measured then."""

    def __init__(self, detections: Detections) -> None:
        self.name = detections.backend
        stamps = detections.timestamps_ms.tolist()
        self._by_stamp = dict(zip(stamps, detections.frames, strict=True))
        self._shifts = dict(zip(stamps, detections.shift_table(), strict=True))
        self.missed = 0

    def shift(self, image: np.ndarray, timestamp_ms: int, people: Sequence[np.ndarray]) -> np.ndarray | None:
        found = self._shifts.get(timestamp_ms)
        return None if found is None or not np.isfinite(found).all() else found.copy()

    def detect(self, image: np.ndarray, timestamp_ms: int) -> list[RawPose]:
        found = self._by_stamp.get(timestamp_ms)
        if found is None:
            self.missed += 1
            return []
        return [(w.copy(), i.copy()) for w, i in found]

    def close(self) -> None:
        pass


class CachedVideoSource(FrameSource):
    """The video's frames as the pose stage needs them when detections are cached: right size and
    times, blank pixels (nothing reads them)."""

    def __init__(self, detections: Detections, name: str) -> None:
        super().__init__()
        self.name = name
        self.fps = detections.fps
        self.frame_count = len(detections.t_media)
        self._times = detections.t_media
        self._image = np.zeros((*detections.size, 3), np.uint8)
        self._index = 0

    def read(self) -> Frame | None:
        if self._index >= self.frame_count:
            return None
        i, self._index = self._index, self._index + 1
        return Frame(self._image, i, time.monotonic(), float(self._times[i]))


def tracked_skeleton(detections: Detections, clip: Clip, face_camera: bool = True) -> Skeleton:
    """The most prominent person of a cached video, frame by frame, through the app's pose stage
    (mapping, choice, tracking, camera-space root, smoothing; turned to face the camera unless
    ``face_camera`` is False) as an interchange skeleton labelled with the clip's truth."""
    replay = RecordedDetector(detections)
    estimator = PoseEstimator(max_persons=1, detector=replay, face_camera=face_camera, camera_motion=replay)
    image = np.zeros((*detections.size, 3), np.uint8)
    joints = np.zeros((len(detections.t_media), 25, 3), np.float32)
    valid = np.zeros(len(detections.t_media), bool)
    for i, t in enumerate(detections.t_media):
        persons = estimator.process(Frame(image, i, float(t), float(t))).persons
        if persons:
            joints[i], valid[i] = persons[0].joints, True
    return Skeleton.from_single(joints, detections.fps, valid, label=clip.truth, source=str(clip.path))


# -- scoring one clip -------------------------------------------------------------------------------


@dataclass
class Shown:
    """What the app showed at one prediction: the label (or still/absent) and the truth's rank."""

    label: str
    rank: int | None  # 1-based rank of the true label among the scores; None when nobody was seen
    track_id: int | None
    motion: float | None = None  # the window motion the still rule read (m/s)


def score_clip(
    clip: Clip, detections: Detections, config: LiveConfig, recognizer: object
) -> tuple[list[Shown], int]:
    """Replay the detections through the app's pipeline; what it showed, and frames not replayed."""
    from app.session import Input, build_pipeline

    shown: list[Shown] = []

    def sink(pred) -> None:  # the recogniser thread calls it in order
        if pred.track_id is None:
            shown.append(Shown(ABSENT, None, None))
            return
        labels = [label for label, _ in pred.scores]
        rank = labels.index(clip.truth) + 1 if clip.truth in labels else None
        shown.append(Shown(pred.top if pred.state == "action" else STILL, rank, pred.track_id, pred.motion))

    def source() -> FrameSource:
        return CachedVideoSource(detections, str(clip.path))

    replay = RecordedDetector(detections)
    pipeline = build_pipeline(config, Input(source(), source, "video"), recognizer, [sink], replay, replay)
    pipeline.start()
    pipeline.wait()
    pipeline.stop()
    if pipeline.error is not None:
        raise pipeline.error
    return shown, replay.missed


def clip_summary(clip: Clip, shown: list[Shown]) -> dict:
    """Per clip: the most frequent shown label, shares of top-1 / top-5 / still / absent, mean rank."""
    counts = Counter(s.label for s in shown)
    ranks = [s.rank for s in shown if s.rank is not None]
    n = max(len(shown), 1)
    top_label, top_count = counts.most_common(1)[0] if counts else (ABSENT, 0)
    motion = [s.motion for s in shown if s.motion is not None]
    by_track: dict[int, list[Shown]] = defaultdict(list)
    for s in shown:
        if s.track_id is not None:
            by_track[s.track_id].append(s)
    tracks = {  # per person: how often the truth was shown
        str(k): {"predictions": len(of), "top1": round(sum(s.label == clip.truth for s in of) / len(of), 4)}
        for k, of in sorted(by_track.items())
    }
    return {
        "file": clip.path.name,
        "truth": clip.truth,
        "predictions": len(shown),
        "most_frequent": top_label,
        "most_frequent_share": round(top_count / n, 4),
        "correct": top_label == clip.truth,
        "top1": round(counts.get(clip.truth, 0) / n, 4),
        "top5": round(sum(1 for r in ranks if r <= TOP_K) / n, 4),
        "mean_rank": round(float(np.mean(ranks)), 2) if ranks else None,
        "still": round(counts.get(STILL, 0) / n, 4),
        "absent": round(counts.get(ABSENT, 0) / n, 4),
        "tracks": tracks,
        "motion_p10_p50_p90": np.percentile(motion, [10, 50, 90]).round(3).tolist() if motion else None,
        "counts": dict(counts.most_common()),
    }


def summarise(clips: list[dict], labels: list[str]) -> dict:
    """Over clips: clip accuracy, class-balanced top-1 / top-5 (each class's clips averaged, then the
    classes), and the confusion of truths against shown labels (counts of predictions)."""
    by_class: dict[str, list[dict]] = defaultdict(list)
    for c in clips:
        by_class[c["truth"]].append(c)
    per_class = {
        truth: {
            "clips": len(cs),
            "top1": round(float(np.mean([c["top1"] for c in cs])), 4),
            "top5": round(float(np.mean([c["top5"] for c in cs])), 4),
            "clip_accuracy": round(float(np.mean([c["correct"] for c in cs])), 4),
        }
        for truth, cs in by_class.items()
    }
    rows = list(dict.fromkeys(c["truth"] for c in clips))
    columns = list(labels) + [STILL, ABSENT]
    matrix = np.zeros((len(rows), len(columns)), np.int64)
    for c in clips:
        for label, count in c["counts"].items():
            matrix[rows.index(c["truth"]), columns.index(label)] += count
    return {
        "clips": len(clips),
        "classes": len(per_class),
        "clip_accuracy": round(float(np.mean([c["correct"] for c in clips])), 4),
        "class_balanced_top1": round(float(np.mean([v["top1"] for v in per_class.values()])), 4),
        "class_balanced_top5": round(float(np.mean([v["top5"] for v in per_class.values()])), 4),
        "per_class": per_class,
        "confusion": {"rows": rows, "columns": columns, "counts": matrix.tolist()},
    }


# -- reports ----------------------------------------------------------------------------------------


def _draw(image: np.ndarray, xy: np.ndarray, colour: tuple[int, int, int], thickness: int) -> None:
    """An NTU-25 skeleton given in normalised image coordinates, drawn onto ``image``."""
    import cv2

    from pose.layouts import NTU25_BONES

    points = (xy * (image.shape[1], image.shape[0])).astype(int)
    for child, parent in NTU25_BONES:
        cv2.line(image, tuple(points[child]), tuple(points[parent]), colour, thickness, cv2.LINE_AA)


def person_snapshots(clip: Clip, detections: Detections, config: LiveConfig, count: int, path: Path) -> None:
    """``count`` frames of the clip in a grid: every person MediaPipe detected in grey, the persons
    the app tracks (the pose stage replayed) in colour with their ids: who the app looks at."""
    import cv2

    from app.session import pose_estimator
    from pose.backends.mediapipe import mediapipe_to_ntu25

    wanted = set(np.linspace(0, len(detections.t_media) - 1, count).round().astype(int).tolist())
    replay = RecordedDetector(detections)
    estimator = pose_estimator(config, replay, replay)
    blank = np.zeros((*detections.size, 3), np.uint8)
    tracked = {}
    for i, t in enumerate(detections.t_media):
        result = estimator.process(Frame(blank, i, float(t), float(t)))
        if i in wanted:
            tracked[i] = [(p.track_id, p.image_xy) for p in result.in_view]
    colours = ((0, 200, 255), (255, 120, 0), (0, 220, 0), (200, 0, 255))
    tiles = []
    for i, frame in enumerate(VideoSource(clip.path)):
        if i not in wanted:
            continue
        image = frame.image.copy()
        height, width = image.shape[:2]

        for _, img in detections.frames[i]:
            _draw(image, mediapipe_to_ntu25(img[:, :2], world=False), (160, 160, 160), 2)
        for track_id, xy in tracked.get(i, []):
            _draw(image, xy, colours[track_id % len(colours)], 4)
            x, y = (xy.min(axis=0) * (width, height)).astype(int)
            cv2.putText(image, f"id {track_id}", (x, max(y - 8, 20)), cv2.FONT_HERSHEY_SIMPLEX, 1.0,
                        colours[track_id % len(colours)], 2, cv2.LINE_AA)  # fmt: skip
        cv2.putText(image, f"frame {i}", (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2)
        tiles.append(cv2.resize(image, (640, int(640 * height / width))))
    rows = [np.hstack(tiles[k : k + 2] + [np.zeros_like(tiles[0])] * (2 - len(tiles[k : k + 2])))
            for k in range(0, len(tiles), 2)]  # fmt: skip
    cv2.imwrite(str(path), np.vstack(rows))


def confusion_png(confusion: dict, path: Path, title: str) -> None:
    """The confusion matrix, each row as shares of that class's predictions, with readable labels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = np.asarray(confusion["counts"], np.float64)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    rows, columns = confusion["rows"], confusion["columns"]
    fig, ax = plt.subplots(figsize=(2.5 + 0.42 * len(columns), 2.0 + 0.38 * len(rows)))
    ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(columns)), columns, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.set_xlabel("shown label (share of the class's predictions)")
    ax.set_ylabel("true label")
    for (i, j), share in np.ndenumerate(shares):
        if share >= 0.005:
            ax.text(j, i, f"{share:.2f}"[1:] if share < 1 else "1", ha="center", va="center", fontsize=6,
                    color="white" if share > 0.5 else "black")  # fmt: skip
    for i, row in enumerate(rows):  # the diagonal: where each truth's own column is
        if row in columns:
            ax.add_patch(
                plt.Rectangle((columns.index(row) - 0.5, i - 0.5), 1, 1, fill=False, lw=1.2, ec="red")
            )
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def markdown(report: dict) -> str:
    """A short human summary: headline figures, then one line per clip."""
    s = report["summary"]
    lines = [
        f"# Video benchmark: {report['checkpoint']}",
        "",
        f"{s['clips']} clips, {s['classes']} classes, {len(report['labels'])} labels scored; "
        f"settings {json.dumps(report['settings'])}.",
        "",
        "| clip accuracy | class-balanced top-1 | class-balanced top-5 |",
        "|---|---|---|",
        f"| {s['clip_accuracy']:.3f} | {s['class_balanced_top1']:.3f} | {s['class_balanced_top5']:.3f} |",
        "",
        "| clip | truth | most frequent shown (share) | top-1 | top-5 | mean rank | still | absent |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in report["clips"]:
        rank = "-" if c["mean_rank"] is None else f"{c['mean_rank']:.1f}"
        lines.append(
            f"| {c['file']} | {c['truth']} | {c['most_frequent']} ({c['most_frequent_share']:.2f}) | "
            f"{c['top1']:.2f} | {c['top5']:.2f} | {rank} | {c['still']:.2f} | {c['absent']:.2f} |"
        )
    lines += ["", f"Timing: {json.dumps(report['timing'])}", ""]
    return "\n".join(lines)


# -- the command ------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    defaults = LiveConfig()
    p = argparse.ArgumentParser(
        prog="neuron-live evaluate-videos",
        description="Run the app's live path headless on labelled videos and score what it shows.",
    )
    p.add_argument("--videos", type=Path, required=True, help="a folder of videos, or one video file")
    p.add_argument("--truth", type=Path, help="TSV with columns file, label (default: VIDEOS/labels.tsv)")
    p.add_argument("--truth-label", help="the action a single video shows")
    p.add_argument("--labels", type=split_labels, help='labels scored, "a,b,c" (default: every truth label)')
    p.add_argument("--checkpoint", type=Path, help="model file (default: assets/neuron_default.pt)")
    p.add_argument("--device", default=defaults.device, choices=DEVICE_CHOICES)
    p.add_argument("--backend", default=defaults.backend, choices=BACKEND_CHOICES)
    p.add_argument("--rate", type=int, default=defaults.rate, help="predict every N frames")
    p.add_argument("--smoothing", type=float, default=defaults.smoothing)
    p.add_argument("--hysteresis", type=float, default=defaults.hysteresis)
    p.add_argument("--still-threshold", type=float, default=defaults.still_threshold)
    p.add_argument("--max-persons", type=int, default=defaults.max_persons)
    p.add_argument("--search-every", type=float, default=defaults.search_every, help="see neuron-live --help")
    p.add_argument("--out", type=Path, default=Path("runs/video_eval"), help="folder for the reports")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument(
        "--export-skeletons",
        type=Path,
        metavar="DIR",
        help="also write each clip's most prominent person, as the app sees them, as an interchange "
        ".npz labelled with its truth (for training/train.py evaluate --skeletons DIR)",
    )
    p.add_argument(
        "--snapshots",
        type=int,
        default=0,
        metavar="K",
        help="also draw K frames per clip with every detected person (grey) and the tracked ones",
    )
    p.add_argument(
        "--live-reference-out",
        type=Path,
        metavar="FILE.npy",
        help="also write the mean live window (unit embeddings per step: each clip's mean, then their "
        "mean; no labels used), the live path's prior reference (training/train.py export --live-reference)",
    )
    return p


def live_reference(per_clip: Sequence[np.ndarray]) -> np.ndarray:
    """(6, D) mean over clips of each clip's mean unit window embedding (N_i, 6, D): every clip counts
    once, however long. The "prior" calibration subtracts it from live windows (neuron_core.calibration)."""
    from neuron_core.scoring import unit

    means = [unit(e).mean(0) for e in per_clip if len(e)]
    if not means:
        raise VideoEvalError("no windows were scored: no live reference to write")
    return np.mean(means, axis=0).astype(np.float32)


def record_embeddings(recognizer: Any) -> list[np.ndarray]:
    """Make ``recognizer`` keep the (N, 6, D) embeddings of every batch of windows it scores from now
    on, in the returned list (the pipeline's scoring calls its ``embed`` for every window)."""
    embed, kept = recognizer.embed, []

    def recording(windows: np.ndarray) -> np.ndarray:
        out = embed(windows)
        kept.append(np.array(out, np.float32))
        return out

    recognizer.embed = recording
    return kept


def evaluate(args: argparse.Namespace) -> dict:
    """Score every clip and write video_eval.json, video_eval.md and confusion.png under ``--out``."""
    from tqdm import tqdm

    from app.label_store import model_preprocess
    from app.session import checkpoint_path, load_recognizer

    clips = find_clips(args.videos, args.truth, args.truth_label)
    truths = list(dict.fromkeys(c.truth for c in clips))
    labels = args.labels if args.labels is not None else truths
    try:
        config = LiveConfig(
            labels=labels,
            checkpoint=args.checkpoint,
            device=args.device,
            backend=args.backend,
            headless=True,
            fast=True,
            rate=args.rate,
            smoothing=args.smoothing,
            hysteresis=args.hysteresis,
            still_threshold=args.still_threshold,
            max_persons=args.max_persons,
            search_every=args.search_every,
        )
    except ConfigError as exc:
        raise VideoEvalError(str(exc)) from None
    missing = [t for t in truths if t not in labels]
    if missing:
        raise VideoEvalError(f"true label(s) not among --labels: {', '.join(missing)}")
    for folder in (args.out, args.export_skeletons):
        try:
            if folder is not None:
                folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise VideoEvalError(f"{folder}: cannot create the output folder ({exc.strerror})") from None
    recognizer = load_recognizer(config, labels)
    embedded = record_embeddings(recognizer) if args.live_reference_out is not None else []
    per_clip: list[np.ndarray] = []  # each clip's window embeddings (--live-reference-out)
    progress = not args.no_progress
    results, timing = [], {"pose_s": 0.0, "scoring_s": 0.0, "cache_hits": 0, "frames": 0}
    bar = tqdm(clips, desc="videos", disable=not progress)
    for clip in bar:
        bar.set_postfix_str(clip.path.name)
        start = time.perf_counter()
        detections, hit = cached_detections(clip.path, config, progress)
        timing["pose_s"] += time.perf_counter() - start
        timing["cache_hits"] += hit
        timing["frames"] += len(detections.t_media)
        start = time.perf_counter()
        before = len(embedded)
        shown, missed = score_clip(clip, detections, config, recognizer)
        if len(embedded) > before:
            per_clip.append(np.concatenate(embedded[before:]))
        timing["scoring_s"] += time.perf_counter() - start
        if missed:
            raise VideoEvalError(f"{clip.path}: {missed} frames had no cached detections (damaged cache?)")
        results.append(clip_summary(clip, shown))
        if args.export_skeletons is not None:
            skeleton = tracked_skeleton(detections, clip)
            if skeleton.valid.any():
                save_npz(skeleton, args.export_skeletons / f"{clip.path.stem}.npz")
        if args.snapshots > 0:
            person_snapshots(
                clip, detections, config, args.snapshots, args.out / f"persons_{clip.path.stem}.png"
            )
    timing = {k: round(v, 2) if isinstance(v, float) else v for k, v in timing.items()}
    checkpoint = checkpoint_path(config)
    report = {
        "checkpoint": str(checkpoint),
        "checkpoint_sha256": file_digest(checkpoint),
        "labels": labels,
        "settings": {
            "rate": config.rate,
            "smoothing": config.smoothing,
            "hysteresis": config.hysteresis,
            "still_threshold": config.still_threshold,
            "max_persons": config.max_persons,
            "backend": getattr(recognizer, "backend", config.backend),
            "detector": live_detection_settings(config.max_persons, config.search_every_s),
            "preprocess": asdict(model_preprocess(recognizer)),  # the checkpoint's contract
            "prior_reference": getattr(recognizer, "reference_source", None),  # live or training windows
        },
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "timing": timing,
        "summary": summarise(results, labels),
        "clips": results,
    }
    if args.live_reference_out is not None:
        reference = live_reference(per_clip)
        with atomic_path(args.live_reference_out) as tmp, open(tmp, "wb") as fh:
            np.save(fh, reference, allow_pickle=False)
    atomic_write_text(args.out / "video_eval.json", json.dumps(report, indent=1) + "\n")
    atomic_write_text(args.out / "video_eval.md", markdown(report))
    confusion_png(
        report["summary"]["confusion"], args.out / "confusion.png", f"{checkpoint.name}: {args.videos}"
    )
    return report


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    try:
        report = evaluate(args)
    except NeuronLiveError as exc:
        print(f"error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
        return EXIT_USAGE
    s = report["summary"]
    print(
        json.dumps(
            {
                "clip_accuracy": s["clip_accuracy"],
                "class_balanced_top1": s["class_balanced_top1"],
                "class_balanced_top5": s["class_balanced_top5"],
                "out": str(args.out),
                **report["timing"],
            }
        )
    )
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
