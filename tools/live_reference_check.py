"""Is a live reference worth it? Leave one clip out: each labelled clip is scored with the "prior"
calibration's reference taken from the *other* clips' live windows (app.video_eval.live_reference),
against the checkpoint's own reference, on the cached detections of the video benchmark.

    python tools/live_reference_check.py CHECKPOINT [--videos ../shared/data/videos]

With --by-source, every clip from the held-out clip's source repository is left out too. Prints the
class-balanced top-1 / top-5 and clip accuracy both ways, as JSON with --json FILE.
A checkpoint that already carries a live reference is checked with its training reference instead.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import video_eval as V  # noqa: E402
from app.config import LiveConfig  # noqa: E402
from app.session import load_recognizer  # noqa: E402
from neuron_base.atomic import atomic_write_text  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--videos", type=Path, default=Path("../shared/data/videos"))
    p.add_argument("--json", type=Path, help="also write the figures here")
    p.add_argument(
        "--by-source",
        action="store_true",
        help="leave out every clip of the held-out clip's source repository (labels.tsv's source column), "
        "not just the clip: no recording setup shared with the scored clip",
    )
    args = p.parse_args(argv)
    clips = V.find_clips(args.videos, None, None)
    group = {c.path.name: c.path.name for c in clips}
    if args.by_source:
        with open(args.videos / "labels.tsv", encoding="utf-8", newline="") as fh:
            group |= {row["file"]: row["source"].split("@")[0] for row in csv.DictReader(fh, delimiter="\t")}
    labels = list(dict.fromkeys(c.truth for c in clips))
    config = LiveConfig(labels=labels, checkpoint=args.checkpoint, headless=True, fast=True)
    recognizer = load_recognizer(config, labels)
    training = recognizer.meta.reference_array()
    seen = V.record_embeddings(recognizer)

    def score(clip: V.Clip, reference: np.ndarray) -> tuple[dict, np.ndarray]:
        recognizer._reference = reference
        seen.clear()
        detections, _ = V.cached_detections(clip.path, config, False)
        shown, _ = V.score_clip(clip, detections, config, recognizer)
        return V.clip_summary(clip, shown), (np.concatenate(seen) if seen else np.zeros((0,)))

    base = [score(clip, training) for clip in clips]
    figures = {"training reference": V.summarise([c for c, _ in base], labels)}
    out = []
    for clip in clips:
        others = [e for other, (_, e) in zip(clips, base, strict=True)
                  if group[other.path.name] != group[clip.path.name] and len(e)]  # fmt: skip
        out.append(score(clip, V.live_reference(others))[0])
    name = "live reference, other sources" if args.by_source else "live reference, other clips"
    figures[name] = V.summarise(out, labels)
    rows = {
        name: {k: s[k] for k in ("class_balanced_top1", "class_balanced_top5", "clip_accuracy")}
        for name, s in figures.items()
    }
    print(json.dumps({"checkpoint": str(args.checkpoint), **rows}))
    if args.json:
        atomic_write_text(args.json, json.dumps({"checkpoint": str(args.checkpoint), **figures}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
