"""``neuron-live``: the command line. Parses flags into a LiveConfig, opens the source, loads the model,
then runs the Qt window or, with ``--headless``, prints one JSON line per prediction.

Every problem a user can cause ends here as ``error: <one line>`` on stderr and exit code 2, never a
traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from app.config import ConfigError, LiveConfig, split_labels
from neuron_base.devices import BACKEND_CHOICES, DEVICE_CHOICES
from pose.errors import NeuronLiveError
from pose.follow import SEARCH_EVERY_S

if TYPE_CHECKING:  # the heavy modules load only once the command line is known to be good
    from app.pipeline import Recognizer
    from app.records import JsonLinesSink
    from app.session import Input

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

NO_DISPLAY = (
    "no display found: use --headless (JSON lines on stdout), or set QT_QPA_PLATFORM=offscreen, "
    "or run under xvfb-run"
)

EXAMPLES = """\
examples:
  neuron-live                                   camera 0 (the built-in demo if no camera opens)
  neuron-live --demo --labels "wave,clap hands,jump,squat"
  neuron-live --video clip.mp4 --labels-file my_actions.txt
  neuron-live --headless --video clip.mp4 --fast --record out.jsonl
  neuron-live --headless --skeleton-file S001C001P001R001A023.npz --top-k 3
  neuron-live evaluate-videos --videos DIR [--truth labels.tsv]   score the live path on labelled videos
  neuron-live --video clip.mp4 --output annotated.mp4             the video with skeletons and labels drawn
  neuron-live --examples my_examples/                             labels taught by example clips (.npz)
  neuron-live timeline out.jsonl -o scores.png                    a --record file's scores over time

In the window: type an action name and press Enter to score it; select one and press Delete to drop
it; Space pauses. Select one and press "Record example" to teach it by showing it (a countdown, then
3 s). The list and the examples are saved in the config folder ($NEURON_LIVE_CONFIG_DIR overrides it).
"""


def build_parser() -> argparse.ArgumentParser:
    from pose.backends import backends_help
    from pose.readers.registry import suffixes_help

    parser = argparse.ArgumentParser(
        prog="neuron-live",
        description="Real-time open-vocabulary action recognition from the skeleton of a person on camera:\n"
        "type any action name and see it scored live.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=argparse.SUPPRESS,
    )
    src = parser.add_argument_group("source (choose one; default: camera 0, else the built-in demo)")
    src.add_argument("--camera", type=int, metavar="N", help="camera index (an error if it does not open)")
    src.add_argument("--video", type=Path, metavar="FILE", help="a video file, played at its own rate")
    src.add_argument(
        "--skeleton-file",
        type=Path,
        metavar="FILE",
        help=f"replay a skeleton file ({suffixes_help()}: see pose/readers/registry.py) through the "
        "same window and model, no pose stage",
    )
    src.add_argument(
        "--demo",
        action="store_true",
        help="scripted motions: wave, clap, squat, jump, walk ... (loops in the window; plays once "
        "with --headless unless --loop)",
    )
    src.add_argument("--fast", action="store_true", help="recordings as fast as possible, every frame scored")
    src.add_argument("--loop", action="store_true", help="replay a recording when it ends")
    src.add_argument("--max-frames", type=int, metavar="N", help="stop after N frames")

    act = parser.add_argument_group("actions to recognise")
    act.add_argument(
        "--labels",
        type=split_labels,
        metavar='"A,B,..."',
        help='comma-separated action names, e.g. "wave,jump up" '
        "(default: the list saved by the window, else 10 everyday actions)",
    )
    act.add_argument("--labels-file", type=Path, metavar="FILE", help="one action name per line (# comments)")
    act.add_argument(
        "--examples",
        type=Path,
        metavar="DIR",
        help="labelled interchange .npz clips (searched recursively) that teach their labels by example; "
        "their labels are added to the list",
    )

    model = parser.add_argument_group("model")
    model.add_argument(
        "--checkpoint", type=Path, metavar="FILE", help="model file (default: assets/neuron_default.pt)"
    )
    model.add_argument("--device", choices=DEVICE_CHOICES, help="where the model runs (default: auto)")
    model.add_argument(
        "--backend",
        choices=BACKEND_CHOICES,
        help="model runtime: ONNX Runtime (exported once, cached) or PyTorch; auto tries ONNX Runtime "
        "first (default: auto)",
    )

    pose = parser.add_argument_group("pose")
    pose.add_argument(
        "--pose-backend",
        metavar="NAME",
        help=f"what finds the persons in camera and video frames: {backends_help()} (default: mediapipe)",
    )

    out = parser.add_argument_group("output")
    out.add_argument(
        "--headless", action="store_true", help="no window: one JSON line per prediction on stdout"
    )
    out.add_argument("--record", type=Path, metavar="FILE.jsonl", help="also append the JSON lines to a file")
    out.add_argument(
        "--output",
        type=Path,
        metavar="OUT.mp4",
        help="write the camera or --video frames with skeletons, track ids and ranked labels drawn "
        "(.mp4 or .avi; a video is then processed frame by frame, as with --fast)",
    )
    out.add_argument("--top-k", type=int, metavar="K", help="labels per JSON line (default: 5)")
    out.add_argument("--rate", type=int, metavar="N", help="predict every N frames (default: 4)")

    tune = parser.add_argument_group("tuning")
    tune.add_argument(
        "--smoothing", type=float, metavar="A", help="weight of the newest scores, 0-1 (default: 0.4)"
    )
    tune.add_argument(
        "--hysteresis",
        type=float,
        metavar="M",
        help="lead a new top label needs to take over (default: 0.05)",
    )
    tune.add_argument(
        "--still-threshold",
        type=float,
        metavar="V",
        help='mean joint speed in m/s below which a person counts as still, "no action" (default: 0.08)',
    )
    tune.add_argument("--max-persons", type=int, metavar="N", help="persons tracked, 1 or 2 (default: 2)")
    tune.add_argument(
        "--search-every",
        type=float,
        metavar="S",
        help="seconds between searches of the whole frame for people, who are followed on crops in "
        f"between; 0: search every frame, slower (default: {SEARCH_EVERY_S})",
    )

    misc = parser.add_argument_group("other")
    misc.add_argument("--config", type=Path, metavar="FILE.yaml", help="settings file; flags override it")
    misc.add_argument("-v", "--verbose", action="store_true", help="log what happens on stderr")
    return parser


def parse_config(argv: Sequence[str] | None = None) -> LiveConfig:
    """Flags (over an optional YAML file) to a validated LiveConfig."""
    args = vars(build_parser().parse_args(argv))
    base: dict = {}
    settings = args.pop("config", None)
    if settings is not None:
        base = {k: getattr(LiveConfig.from_yaml(settings), k) for k in LiveConfig.field_names()}
    return LiveConfig.from_mapping({**base, **args}, origin="command line")


def display_problem() -> str | None:
    """Why Qt cannot open a window here, or None. Only Linux runs without any display."""
    if not sys.platform.startswith("linux"):
        return None
    if os.environ.get("QT_QPA_PLATFORM") or os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    return NO_DISPLAY


def _fail(message: str, code: int = EXIT_USAGE) -> int:
    print(f"error: {message}", file=sys.stderr, flush=True)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["evaluate-videos"]:  # the app's live path scored on labelled videos
        from app.video_eval import main as evaluate_videos

        return evaluate_videos(argv[1:])
    if argv[:1] == ["timeline"]:  # a --record file's scores over time, as a PNG
        from app.timeline import main as timeline

        return timeline(argv[1:])
    try:
        config = parse_config(argv)
    except ConfigError as exc:
        return _fail(str(exc))
    logging.basicConfig(
        level=logging.INFO if config.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not config.headless and (problem := display_problem()):
        return _fail(problem)
    try:
        return _run(config)
    except NeuronLiveError as exc:
        return _fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _run(config: LiveConfig) -> int:
    from app.label_store import apply_examples
    from app.records import JsonLinesSink
    from app.session import initial_labels, load_recognizer, open_input
    from app.video_writer import prepare

    labels = initial_labels(config)
    prepare(config)
    inp = open_input(config)
    try:
        if inp.banner:
            print(inp.banner, file=sys.stderr, flush=True)
        recognizer = load_recognizer(config, labels, from_pose=inp.needs_pose)
        examples = apply_examples(recognizer, config.examples)
        record = JsonLinesSink.append_to(config.record, config.top_k) if config.record else None
    except BaseException:
        inp.source.close()
        raise
    try:
        if config.headless:
            return _run_headless(config, inp, recognizer, record)
        from app.gui import run_gui

        return run_gui(config, inp, recognizer, record, examples)
    finally:
        if record is not None:
            record.close()


def _run_headless(
    config: LiveConfig, inp: Input, recognizer: Recognizer, record: JsonLinesSink | None
) -> int:
    from app.records import JsonLinesSink
    from app.session import build_pipeline
    from app.video_writer import attach

    stdout = JsonLinesSink(sys.stdout, config.top_k)
    sinks = [stdout] + ([record] if record is not None else [])
    pipeline = build_pipeline(config, inp, recognizer, sinks)
    video = attach(config, inp, pipeline)
    stop = threading.Event()
    # Ctrl-C and kill end the run cleanly: every prediction made is written before exit.
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    pipeline.start()
    try:
        while pipeline.running and not stop.is_set() and not stdout.broken:
            pipeline.wait(0.2)
    finally:
        pipeline.stop()
        if video is not None:
            video.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if pipeline.error is not None:
        if isinstance(pipeline.error, NeuronLiveError):
            return _fail(str(pipeline.error))
        return _fail(f"{type(pipeline.error).__name__}: {pipeline.error}", EXIT_FAILED)
    stats = pipeline.stats()
    if stats.predictions == 0 and inp.kind != "camera" and not stop.is_set() and not stdout.broken:
        return _fail(nothing_scored(inp.source, stats.frames))
    return EXIT_OK


def nothing_scored(source: object, frames: int) -> str:
    """Why a recording that ended gave no prediction at all, in one line."""
    from pose.window import MIN_SECONDS

    name = getattr(source, "name", "the recording")
    if frames == 0:
        return f"nothing was scored: {name} gave no frames"
    fps = float(getattr(source, "fps", 0.0) or 0.0)
    length = f"{frames} frame{'s' if frames != 1 else ''}" + (f", {frames / fps:.2f} s" if fps > 0 else "")
    return (
        f"nothing was scored: {name} is too short ({length}); a person must be seen for "
        f"{MIN_SECONDS:g} s before the first window"
    )


if __name__ == "__main__":
    sys.exit(main())
