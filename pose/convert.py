"""``neuron-convert``: a video, an image folder or a camera to an interchange skeleton .npz.

The result is what the training readers produce (:class:`pose.skeleton.Skeleton`), so recordings
of your own actions can be replayed, inspected or added to training. Persons are tracked; the two
slots of the file hold the longest tracks that do not overlap in time.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pose.backends import DEFAULT_POSE_BACKEND, backends_help, check_pose_backend
from pose.errors import NeuronLiveError, SkeletonError
from pose.layouts import NUM_JOINTS
from pose.skeleton import MAX_PERSONS, Skeleton, save_npz
from pose.sources import CameraSource, FrameSource, open_source

log = logging.getLogger(__name__)


def assign_slots(frames: Sequence[dict[int, np.ndarray]], slots: int = MAX_PERSONS) -> dict[int, int]:
    """Map track ids to person slots: longest tracks first, each into a slot it does not share in
    time with a track already there, so a person re-found under a new id continues a free slot."""
    lengths: dict[int, int] = {}
    for persons in frames:
        for track_id in persons:
            lengths[track_id] = lengths.get(track_id, 0) + 1
    present = {k: {t for t, persons in enumerate(frames) if k in persons} for k in lengths}
    occupied: list[set[int]] = [set() for _ in range(slots)]
    mapping: dict[int, int] = {}
    for track_id in sorted(lengths, key=lambda k: (-lengths[k], k)):
        for slot, used in enumerate(occupied):
            if not used & present[track_id]:
                used |= present[track_id]
                mapping[track_id] = slot
                break
        else:
            log.info("track %d (%d frames) left out: no free person slot", track_id, lengths[track_id])
    return mapping


def convert(
    source: FrameSource,
    max_persons: int = MAX_PERSONS,
    label: str | None = None,
    max_frames: int | None = None,
    backend: str = "auto",
    progress: bool = True,
    pose_backend: str = DEFAULT_POSE_BACKEND,
) -> Skeleton:
    """Run pose on every frame of ``source`` and return the tracked persons as a Skeleton.

    ``pose_backend`` names the pose backend (see :mod:`pose.backends`), ``backend`` its variant.
    Ctrl+C ends the capture early (the way to stop a camera) and keeps what was captured.
    """
    from pose.estimator import PoseEstimator  # the pose model starts only once the input is known good

    frames: list[dict[int, np.ndarray]] = []
    times: list[float] = []
    total = min(filter(None, (source.frame_count, max_frames)), default=None)
    with (
        # The scene as filmed: two persons keep their placement and headings (the live path turns
        # each person to face the camera; a converted file is data, not a model input).
        PoseEstimator(
            max_persons, backend=backend, face_camera=False, pose_backend=pose_backend
        ) as estimator,
        tqdm(total=total, unit="frame", desc=Path(source.name).name, disable=not progress) as bar,
    ):
        try:
            while max_frames is None or len(frames) < max_frames:
                frame = source.read()
                if frame is None:
                    break
                result = estimator.process(frame)
                frames.append({p.track_id: p.joints for p in result.persons})
                times.append(frame.t_capture)
                bar.update()
        except KeyboardInterrupt:
            log.warning("interrupted: keeping the %d frames captured so far", len(frames))
        backend_name = f"{estimator.pose_backend}-{estimator.backend_name}"
    if not frames:
        raise SkeletonError(f"{source.name}: no frames were read")
    slots = assign_slots(frames)
    if not slots:
        raise SkeletonError(f"{source.name}: no person found in any of its {len(frames)} frames")
    joints = np.zeros((len(frames), MAX_PERSONS, NUM_JOINTS, 3), np.float32)
    valid = np.zeros((len(frames), MAX_PERSONS), bool)
    for t, persons in enumerate(frames):
        for track_id, person_joints in persons.items():
            if track_id in slots:
                joints[t, slots[track_id]] = person_joints
                valid[t, slots[track_id]] = True
    fps = source.fps
    if isinstance(source, CameraSource) and len(times) > 1 and times[-1] > times[0]:
        fps = (len(times) - 1) / (times[-1] - times[0])  # what the camera really delivered
    meta = {"dataset": "neuron-convert", "pose": backend_name}
    return Skeleton(joints, valid, fps, label=label, source=source.name, meta=meta)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neuron-convert",
        description="Convert a video, an image folder or a camera to a skeleton .npz (NTU-25, metres).",
    )
    parser.add_argument("input", help="video file, folder of images, or camera index (e.g. 0)")
    parser.add_argument("-o", "--output", required=True, type=Path, help="the .npz file to write")
    parser.add_argument("--label", help='action name stored in the file, e.g. "wave"')
    parser.add_argument("--max-persons", type=int, default=MAX_PERSONS, help="persons to detect (default 2)")
    parser.add_argument("--fps", type=float, default=30.0, help="frame rate of an image folder (default 30)")
    parser.add_argument("--max-frames", type=int, help="stop after this many frames (or press Ctrl+C)")
    parser.add_argument(
        "--pose-backend",
        default=DEFAULT_POSE_BACKEND,
        metavar="NAME",
        help=f"what finds the persons: {backends_help()} (default: {DEFAULT_POSE_BACKEND})",
    )
    parser.add_argument(
        "--backend",
        default="auto",
        help="the pose backend's variant; MediaPipe: auto, tasks or legacy (default: auto)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point; every expected failure is one ``error:`` line and exit code 2."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    label = " ".join(args.label.split()) if args.label is not None else None
    try:
        if label is not None and not label:
            raise SkeletonError("--label is empty")
        if args.max_persons < 1 or (args.max_frames is not None and args.max_frames < 1):
            raise SkeletonError("--max-persons and --max-frames must be at least 1")
        check_pose_backend(args.pose_backend)
        if not args.output.parent.is_dir():
            raise SkeletonError(f"{args.output}: its folder does not exist")
        with open_source(args.input, fps=args.fps) as source:
            skeleton = convert(
                source,
                args.max_persons,
                label,
                args.max_frames,
                args.backend,
                not args.quiet,
                args.pose_backend,
            )
        try:
            save_npz(skeleton, args.output)
        except OSError as exc:
            raise SkeletonError(f"{args.output}: cannot be written ({exc.strerror or exc})") from None
    except NeuronLiveError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"wrote {args.output}: {skeleton.num_frames} frames, {skeleton.num_persons} person(s), "
        f"{skeleton.fps:.1f} fps"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
