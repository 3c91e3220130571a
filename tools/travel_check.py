"""Does a model read an action from the limbs or from the travel? `python tools/travel_check.py
--checkpoint F --match walk --truth walking --labels "walking, sitting down, ..."`.

Every clip of the named sets whose label contains ``--match`` is cut into live-length windows (2.2 s,
half overlapping), and each window is scored twice against ``--labels``: as recorded, and on the spot
(`training.augment.on_the_spot`: the spine base held where it was in the first frame, the limbs
moving about it). Live, travel is what the pose stage knows least: the camera-space root comes from
the body's size in pixels, and a camera that pans with a walker (the street video) shows none. A
model that only knows walking from travel says "walking" as recorded and something else on the spot.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from app.config import LiveConfig, split_labels
from app.label_store import model_preprocess
from app.session import load_recognizer
from neuron_base.atomic import atomic_write_text
from pose.normalize import contract_window
from pose.skeleton import Skeleton
from pose.window import WINDOW_SECONDS
from training.augment import on_the_spot
from training.config import shared_source
from training.data import iter_source

STREET_LABELS = "walking, sitting down, jumping up, waving a hand, drinking water, kicking something"


def windows(skeleton: Skeleton, seconds: float) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(joints, valid) of every window of ``seconds``, half overlapping, as the live path cuts them."""
    n = max(int(round(seconds * skeleton.fps)), 2)
    for start in range(0, max(len(skeleton.joints) - n, 0) + 1, max(n // 2, 1)):
        yield skeleton.joints[start : start + n], skeleton.valid[start : start + n]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, help="default: the shipped model")
    parser.add_argument("--sets", default="utkinect,nw_ucla,h36m,cmu8", help="named shared sets")
    parser.add_argument("--match", default="walk", help="clips whose label contains this")
    parser.add_argument("--truth", default="walking", help="the label among --labels that is right")
    parser.add_argument("--labels", type=split_labels, default=split_labels(STREET_LABELS))
    parser.add_argument("--seconds", type=float, default=WINDOW_SECONDS)
    parser.add_argument("--json", type=Path, help="also write the table as JSON")
    args = parser.parse_args(argv)
    if args.truth not in args.labels:
        parser.error(f"--truth {args.truth!r} is not one of --labels")
    config = LiveConfig(labels=args.labels, checkpoint=args.checkpoint, backend="onnx")
    recognizer = load_recognizer(config, args.labels)
    preprocess = model_preprocess(recognizer)
    rows = []
    print("| set | windows | right, as recorded | right, on the spot | on the spot, most given |")
    print("|---|---|---|---|---|")
    for name in [s.strip() for s in args.sets.split(",") if s.strip()]:
        counts = {"as recorded": Counter(), "on the spot": Counter()}
        for skeleton in iter_source(shared_source(name)):
            if args.match.casefold() not in (skeleton.label or "").casefold():
                continue
            for joints, valid in windows(skeleton, args.seconds):
                x = contract_window((joints, valid), preprocess)
                for key, window in (("as recorded", x), ("on the spot", on_the_spot(x))):
                    scores = recognizer.scores(window[None])[0]
                    counts[key][args.labels[int(np.argmax(scores))]] += 1
        n = sum(counts["as recorded"].values())
        if n == 0:
            print(f"| {name} | 0 | - | - | no clip labelled *{args.match}* |")
            continue
        row = {
            "set": name,
            "windows": n,
            "right_as_recorded": counts["as recorded"][args.truth] / n,
            "right_on_the_spot": counts["on the spot"][args.truth] / n,
            "on_the_spot": dict(counts["on the spot"].most_common()),
        }
        rows.append(row)
        top = ", ".join(f"{k} {v}" for k, v in counts["on the spot"].most_common(3))
        print(f"| {name} | {n} | {row['right_as_recorded']:.2f} | {row['right_on_the_spot']:.2f} | {top} |")
    if args.json:
        atomic_write_text(args.json, json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
