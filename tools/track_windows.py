"""What the model says about each tracked person of a video, window by window, and how young the
track was: `python tools/track_windows.py VIDEO --labels "a, b" [--search-every S] [--checkpoint F]`.

The video benchmark (`neuron-live evaluate-videos`) reports shares per clip and per track; this
shows where they come from: for every window the app would score (the pose stage, the sliding
window and the checkpoint's contract as in the app, no smoothing and no still rule), its person,
frame, time span (short while the track is younger than the window) and best label, then per track
the labels over short and over full windows and how much its joints jitter.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from app.config import LiveConfig, split_labels
from app.label_store import model_preprocess
from app.session import load_recognizer, pose_estimator
from pose.layouts import J
from pose.sources import VideoSource
from pose.window import WINDOW_SECONDS, SlidingWindow

# --hold: the Kinect axes (x across, y up, z depth) along which the spine base is held.
HOLD_AXES: dict[str, tuple[int, ...]] = {"none": (), "height": (1,), "floor": (0, 2), "all": (0, 1, 2)}


class RootHold:
    """Per track, each frame's joints shifted so that the spine base keeps, along ``axes``, the place
    it had in the track's first frame (what ``--hold`` replays)."""

    def __init__(self, axes: tuple[int, ...]) -> None:
        self.axes = list(axes)
        self._first: dict[int, np.ndarray] = {}

    def __call__(self, track: int, joints: np.ndarray) -> np.ndarray:
        root = joints[J["spine_base"]]
        shift = np.zeros(3, np.float32)
        shift[self.axes] = (root - self._first.setdefault(track, root.copy()))[self.axes]
        return joints - shift


def jitter_mm(joints: list[np.ndarray]) -> dict[str, float]:
    """Median absolute second difference between frames (mm) of the joints relative to the spine
    base, and of the spine base's depth."""
    x = np.stack(joints).astype(np.float64)
    relative = x - x[:, J["spine_base"] : J["spine_base"] + 1]
    second = lambda a: float(np.median(np.abs(np.diff(a, 2, axis=0)))) * 1000.0  # noqa: E731
    return {"relative_joints": round(second(relative), 2), "root_depth": round(second(x[:, 0, 2]), 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", type=Path)
    parser.add_argument("--labels", type=split_labels, required=True)
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--search-every", type=float, default=LiveConfig.search_every)
    parser.add_argument("--max-persons", type=int, default=LiveConfig.max_persons)
    parser.add_argument(
        "--seconds",
        type=float,
        default=WINDOW_SECONDS,
        help=f"a window's time span (the app's: {WINDOW_SECONDS})",
    )
    parser.add_argument(
        "--hold",
        choices=tuple(HOLD_AXES),
        default="none",
        help="hold each person's spine base where it was first seen along these axes (a replay "
        "without the camera-space root's travel: 'height' for a hand-held camera that bobs)",
    )
    parser.add_argument("--json", type=Path, help="also write every window as JSON")
    args = parser.parse_args(argv)
    config = LiveConfig(
        labels=args.labels,
        checkpoint=args.checkpoint,
        search_every=args.search_every,
        max_persons=args.max_persons,
        backend="onnx",
    )
    recognizer = load_recognizer(config, args.labels)
    windows = SlidingWindow.for_contract(model_preprocess(recognizer), config.rate, args.seconds)
    rows, joints = [], defaultdict(list)
    held = RootHold(HOLD_AXES[args.hold])

    with pose_estimator(config) as estimator, VideoSource(args.video) as source:
        for frame in source:
            result = estimator.process(frame)
            for person in result.persons:
                person.joints = held(person.track_id, person.joints)
                joints[person.track_id].append(person.joints)
            for sample in windows.push(result):
                scores = recognizer.scores(sample.data[None])[0]
                label = args.labels[int(np.argmax(scores))]
                row = {"track": sample.track_id, "frame": sample.frame_index, "label": label}
                rows.append(row | {"seconds": round(sample.seconds, 3)})
    for track in sorted({r["track"] for r in rows}):
        mine = [r for r in rows if r["track"] == track]
        short = Counter(r["label"] for r in mine if r["seconds"] < windows.seconds - 1e-3)
        full = Counter(r["label"] for r in mine if r["seconds"] >= windows.seconds - 1e-3)
        print(
            f"track {track}: frames {mine[0]['frame']}-{mine[-1]['frame']}, {len(mine)} windows; "
            f"short windows {dict(short.most_common())}; full windows {dict(full.most_common())}; "
            f"jitter (mm) {jitter_mm(joints[track])}"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
