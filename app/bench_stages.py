"""The measurements behind ``neuron-bench``: each stage alone, and the app's pipeline on a video.

Every function measures one thing and returns plain numbers, so :mod:`app.bench` only plans, prints
and judges them. Times are wall-clock milliseconds (median, p95, mean, count) and, beside them, the
process CPU time of the same calls (``cpu_median``, ``cpu_p95``): on a CPU that other processes share,
wall time grows with the load while CPU time stays close to what the work itself costs.
"""

from __future__ import annotations

import os
import platform
import re
import resource
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from app.config import LiveConfig
from neuron_base.errors import NeuronLiveError
from neuron_base.paths import shared_data_dir
from neuron_core.errors import NeuronCoreError

SHARED_DATA = shared_data_dir()
RATE = LiveConfig().rate  # the app predicts once every RATE frames per person
BATCH = 8
# "No growth": after warm-up, RSS may wander by allocator noise but must not climb with frames.
MAX_GROWTH_MB = 25.0


# ----- measuring ---------------------------------------------------------------------------------


def summary(ms: Sequence[float], cpu: Sequence[float] | None = None) -> dict[str, float]:
    """Median, 95th percentile, mean and count of wall milliseconds (NaN when empty), with the CPU
    milliseconds' median and p95 where given."""
    nan = float("nan")
    values = np.asarray(ms, np.float64)
    out = {
        "median": float(np.median(values)) if values.size else nan,
        "p95": float(np.percentile(values, 95)) if values.size else nan,
        "mean": float(values.mean()) if values.size else nan,
        "n": int(values.size),
    }
    if cpu is not None:
        cpu_values = np.asarray(cpu, np.float64)
        out["cpu_median"] = float(np.median(cpu_values)) if cpu_values.size else nan
        out["cpu_p95"] = float(np.percentile(cpu_values, 95)) if cpu_values.size else nan
    return out


class Stopwatch:
    """Wall and process-CPU milliseconds of one stretch of code: ``with watch: ...`` then ``watch.last``."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def __enter__(self) -> Stopwatch:
        self._start = (time.perf_counter(), time.process_time())
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall.append((time.perf_counter() - self._start[0]) * 1000.0)
        self.cpu.append((time.process_time() - self._start[1]) * 1000.0)

    def summary(self, skip: int = 0) -> dict[str, float]:
        return summary(self.wall[skip:], self.cpu[skip:])


def timed(
    fn: Callable[[], object], repeats: int, warmup: int = 3, budget_s: float = 20.0
) -> dict[str, float]:
    """Summary of ``repeats`` calls after ``warmup`` (fewer, at least 5, once ``budget_s`` is spent:
    a setting that thrashes on a busy machine must not hold the whole run up)."""
    for _ in range(warmup):
        fn()
    watch = Stopwatch()
    deadline = time.perf_counter() + budget_s
    for i in range(repeats):
        with watch:
            fn()
        if i >= 4 and time.perf_counter() > deadline:
            break
    return watch.summary()


def load_average() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else []


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


# The thread that samples memory and threads' CPU during a pipeline run (left out of the CPU split).
SAMPLER_THREAD = "bench-sampler"


def thread_cpu_s() -> dict[int, tuple[str, float]]:
    """CPU seconds of each thread of this process by thread id, with a name: a Python thread's own
    (the pipeline's stages are named), else the operating system's (MediaPipe's and ONNX Runtime's
    workers), numbers and parenthesised parts dropped so that a pool counts as one."""
    import psutil

    names = {t.native_id: t.name for t in threading.enumerate()}
    out: dict[int, tuple[str, float]] = {}
    for t in psutil.Process().threads():
        name = names.get(t.id) or _os_thread_name(t.id)
        out[t.id] = (re.sub(r"[/_-]?\d+$", "", re.sub(r"\s*\(.*\)$", "", name)), t.user_time + t.system_time)
    return out


def _os_thread_name(tid: int) -> str:
    try:
        return Path(f"/proc/self/task/{tid}/comm").read_text().strip()
    except OSError:  # not Linux, or the thread has ended
        return "other"


def cpu_by_thread(before: dict[int, tuple[str, float]], last: dict[int, tuple[str, float]], frames: int
                  ) -> dict[str, float]:  # fmt: skip
    """Milliseconds of CPU per frame spent by each named group of threads between two sets of samples
    (``last``: each thread's latest sample, so threads that ended during the run still count)."""
    spent: dict[str, float] = {}
    for tid, (name, seconds) in last.items():
        spent[name] = spent.get(name, 0.0) + seconds - before.get(tid, (name, 0.0))[1]
    ms = {name: 1000.0 * v / max(1, frames) for name, v in spent.items() if name != SAMPLER_THREAD}
    return dict(sorted(((k, v) for k, v in ms.items() if v >= 0.05), key=lambda kv: -kv[1]))


def peak_rss_mb() -> float:
    """The process's peak resident set so far (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    import cv2
    import mediapipe
    import onnxruntime
    import psutil
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "cpu": cpu_name(),
        "logical_cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "gpu": gpu,
        "os": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "mediapipe": mediapipe.__version__,
        "opencv": cv2.__version__,
        "numpy": np.__version__,
        "load_average_start": load_average(),
    }


# ----- the pieces ---------------------------------------------------------------------------------


def looped_frames(video: Path, count: int, decode: Stopwatch | None = None) -> Iterator[Any]:
    """``count`` frames of ``video``, replayed as often as needed, with media times that keep rising
    across replays (so trackers and windows see one long recording); ``decode`` times each read."""
    from pose.sources import VideoSource

    decode = decode or Stopwatch()
    offset, produced = 0.0, 0
    while produced < count:
        with VideoSource(video) as source:
            last = 0.0
            while produced < count:
                with decode:
                    frame = source.read()
                if frame is None:
                    break
                last = frame.t_media or 0.0
                frame.t_media = offset + last
                produced += 1
                yield frame
            if produced == 0 or last == 0.0:
                raise NeuronLiveError(f"{video}: no frames could be read")
            offset += last + 1.0 / source.fps


def bench_pose_stages(video: Path, frames: int, window: int) -> tuple[dict[str, Any], list[np.ndarray]]:
    """Decode, pose and window, frame by frame; returns their timings and the live windows made."""
    from pose.camera_motion import BackgroundMotion
    from pose.estimator import PoseEstimator
    from pose.window import SlidingWindow

    decode, pose, push, turn = Stopwatch(), Stopwatch(), Stopwatch(), Stopwatch()
    motion = BackgroundMotion()  # the pose stage's own measurement of the camera's motion, timed alone
    per_window: tuple[list[float], list[float]] = ([], [])
    windows: list[np.ndarray] = []
    persons, warmup = 0, 3  # the first frames pay for MediaPipe's and the decoder's warm-up
    shape = None
    estimator = PoseEstimator(max_persons=2)
    try:
        sliding = SlidingWindow(window=window, stride=RATE)
        for frame in looped_frames(video, frames, decode):
            shape = frame.image.shape
            with pose:
                result = estimator.process(frame)
            with turn:
                motion.shift(frame.image, result.frame_index, [p.image_xy for p in result.persons])
            with push:
                samples = sliding.push(result)
            if samples and len(push.wall) > warmup:
                per_window[0].append(push.wall[-1] / len(samples))
                per_window[1].append(push.cpu[-1] / len(samples))
            persons += len(result.in_view)
            windows.extend(s.data for s in samples)
        backend = estimator.backend_name
    finally:
        estimator.close()
    return {
        "frame_size": f"{shape[1]}x{shape[0]}" if shape else "",
        "pose_backend": backend,
        "persons_per_frame": persons / max(1, frames),
        "decode_ms": decode.summary(skip=warmup),
        "pose_ms": pose.summary(skip=warmup),
        "camera_motion_ms": turn.summary(skip=warmup),
        "window_per_frame_ms": push.summary(skip=warmup),
        "window_per_window_ms": summary(*per_window),
        "windows": len(windows),
    }, windows


def ntu_windows(window: int) -> list[np.ndarray]:
    """Real skeleton windows from the shared NTU samples: used when the video gave too few."""
    from pose.normalize import normalize_window
    from pose.readers.ntu import read_ntu_skeleton

    files = sorted((SHARED_DATA / "ntu_skeletons").glob("*.skeleton"))
    return [normalize_window(read_ntu_skeleton(f), window=window) for f in files]


def make_recognizers(
    model: Any, meta: Any, encoder: Any, device: str, threads: int, labels: Sequence[str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """One recognizer per backend (same model, labels and encoder); the reason where ONNX failed."""
    from neuron_core.recognizer import ZeroShotRecognizer

    recognizers, errors = {}, {}
    for backend in ("torch", "onnx"):
        try:
            rec = ZeroShotRecognizer(model, meta, encoder, device=device, backend=backend, threads=threads)
        except NeuronCoreError as exc:
            errors[backend] = str(exc)
            continue
        rec.set_labels(list(labels))
        recognizers[backend] = rec
    return recognizers, errors


def bench_model(
    recognizers: dict[str, Any], errors: dict[str, str], windows: list[np.ndarray], repeats: int
) -> dict[str, Any]:
    """recognizer.scores (embedding + label scores + softmax: what the app calls) per backend."""
    one = np.stack(windows[:1])
    two = np.stack([windows[i % len(windows)] for i in range(2)])  # two persons' windows, one call
    eight = np.stack([windows[i % len(windows)] for i in range(BATCH)])
    out: dict[str, Any] = {}
    for backend in ("torch", "onnx"):
        if backend not in recognizers:
            out[backend] = {"error": errors.get(backend, "not run")}
            continue
        rec = recognizers[backend]
        out[backend] = {
            "backend_reason": rec.backend_reason,
            "batch1_ms": timed(lambda rec=rec: rec.scores(one), repeats),
            "batch2_ms": timed(lambda rec=rec: rec.scores(two), max(5, repeats // 2)),
            "batch8_ms": timed(lambda rec=rec: rec.scores(eight), max(5, repeats // 4)),
        }
        out[backend]["batch2_per_window_ms"] = {
            key: value / 2 if key != "n" else value for key, value in out[backend]["batch2_ms"].items()
        }
        out[backend]["batch8_per_window_ms"] = {
            key: value / BATCH if key != "n" else value for key, value in out[backend]["batch8_ms"].items()
        }
    return out


# New labels as users type them (none in the training vocabulary): a label's cost grows with its
# tokens, so the timing uses real action names, not made-unique strings (the raw encoder never
# caches, so a name may recur).
NEW_LABELS = (
    "juggle balls", "climb a ladder", "tie shoelaces", "brush hair", "play the guitar",
    "skip with a rope", "do a handstand", "stir a pot", "fold a towel", "water the plants",
)  # fmt: skip


def bench_text(raw_encoder: Any, repeats: int, sweep: bool, k: int) -> dict[str, Any]:
    """Cold cost of a new label: its prompts through the text encoder (never cached: fresh labels),
    ``k`` per granularity as the checkpoint's contract says (what the app encodes)."""
    from neuron_core.prompts import GRANULARITIES, encode_classes
    from neuron_core.scoring import class_prototypes

    start = time.perf_counter()
    raw_encoder.encode(["warm the text encoder up"])
    load_s = time.perf_counter() - start
    counter = iter(range(10**9))

    def new_label(k: int = k, encoder: Any = raw_encoder) -> None:
        label = NEW_LABELS[next(counter) % len(NEW_LABELS)]
        class_prototypes(encode_classes(encoder, [label], k=k))

    out: dict[str, Any] = {
        "encoder": raw_encoder.name,
        "load_s": load_s,
        "prompts": len(GRANULARITIES) * k,
        "new_label_ms": timed(new_label, repeats, warmup=1),
    }
    if sweep:  # other runtimes, thread counts and fewer prompts per granularity
        out["options"] = _text_options(raw_encoder, new_label, repeats)
    return out


def _text_options(raw_encoder: Any, new_label: Callable[..., None], repeats: int) -> list[dict[str, Any]]:
    """New-label cost of MiniLM on ONNX Runtime and on sentence-transformers, 1 and 2 threads,
    10 and 2 prompts per granularity (other encoders: the thread counts of the one given)."""
    import torch

    from neuron_core.prompts import GRANULARITIES
    from neuron_core.text_encoders import MiniLMEncoder
    from neuron_core.text_onnx import OnnxMiniLMEncoder

    runtimes: dict[str, Callable[[int], Any]] = {}
    if isinstance(raw_encoder, OnnxMiniLMEncoder):
        runtimes["onnx"] = lambda n: OnnxMiniLMEncoder(cache_dir=raw_encoder.cache_dir, threads=n)
        runtimes["torch"] = lambda n: MiniLMEncoder()
    else:
        runtimes[type(raw_encoder).__name__] = lambda n: raw_encoder
    options = []
    threads = torch.get_num_threads()
    for runtime, make in runtimes.items():
        for n in sorted({1, 2, os.cpu_count() or 1}):
            torch.set_num_threads(n)
            encoder = make(n)
            encoder.encode(["warm up"])
            for k in (10, 2):
                call = lambda k=k, e=encoder: new_label(k, e)  # noqa: E731
                ms = timed(call, max(5, repeats // 2), warmup=1, budget_s=10.0)
                row = {"runtime": runtime, "threads": n, "k": k, "prompts": len(GRANULARITIES) * k}
                options.append(row | {"ms": ms})
    torch.set_num_threads(threads)
    return options


def bench_onnx_options(model: Any, recognizers: dict[str, Any], window: np.ndarray, repeats: int) -> list:
    """Embedding of one window (no label scoring) under ONNX Runtime and PyTorch settings."""
    import torch

    from neuron_core.onnx_runtime import OnnxEmbedder

    x = window[None]
    rows: list[dict[str, Any]] = []
    if "onnx" in recognizers:
        path = recognizers["onnx"]._onnx.path
        for threads in sorted({1, 2, os.cpu_count() or 1}):
            for level in ("basic", "extended", "all"):
                for spinning in (False, True):
                    emb = OnnxEmbedder(path, threads=threads, optimization=level, spinning=spinning)
                    ms = timed(lambda emb=emb: emb.embed(x), repeats, budget_s=10.0)
                    rows.append(
                        {"runtime": "onnx", "threads": threads, "optimization": level, "spinning": spinning}
                        | {"ms": ms}
                    )
    current = torch.get_num_threads()
    xt = torch.from_numpy(x).to(next(model.parameters()).device)
    for threads in sorted({1, 2, os.cpu_count() or 1}):
        torch.set_num_threads(threads)
        with torch.inference_mode():
            ms = timed(lambda: model(xt), repeats, budget_s=10.0)
        rows.append({"runtime": "torch", "threads": threads, "ms": ms})
    torch.set_num_threads(current)
    return rows


# Half the slim backbone's width: the size issue 12's 3 ms per window would need (the model card has
# what it does to accuracy).
LEAN_CHANNELS = (16, 16, 16, 16, 32, 32, 32, 64, 64, 128)


def bench_config_options(window: np.ndarray, repeats: int, threads: int) -> list:
    """What smaller heads (fewer prototypes), a narrower or the full backbone would cost on ONNX Runtime.

    Randomly initialised (seeded) models of each configuration: speed only, never accuracy.
    """
    import torch

    from neuron_core.config import ModelConfig
    from neuron_core.model import NeuronModel
    from neuron_core.onnx_runtime import OnnxEmbedder

    configs = {
        "slim, 80+80 prototypes (shipped)": ModelConfig.preset("slim"),
        "slim, 40+40 prototypes": ModelConfig.preset("slim", n_spatial=40, n_temporal=40, keep=(30, 20, 10)),
        "slim, 20+20 prototypes": ModelConfig.preset("slim", n_spatial=20, n_temporal=20, keep=(15, 10, 5)),
        "full backbone, 80+80": ModelConfig.preset("full"),
        "half-width backbone, 40+40 prototypes": ModelConfig.preset(
            "slim",
            backbone_channels=LEAN_CHANNELS,
            feat_dim=LEAN_CHANNELS[-1],
            n_spatial=40,
            n_temporal=40,
            keep=(30, 20, 10),
        ),  # fmt: skip
    }
    rows = []
    for name, config in configs.items():
        torch.manual_seed(0)
        model = NeuronModel(config).eval()
        params = sum(p.numel() for p in model.parameters())
        try:
            emb = OnnxEmbedder.for_model(model, threads=threads)
        except NeuronCoreError as exc:
            rows.append({"config": name, "params": params, "error": str(exc)})
            continue
        ms = timed(lambda emb=emb: emb.embed(window[None]), repeats)
        rows.append({"config": name, "params": params, "onnx_ms": ms})
    return rows


class NoModel:
    """A recognizer with no labels: the pipeline then runs everything but the model."""

    @property
    def labels(self) -> list[str]:
        return []

    def set_labels(self, labels: list[str]) -> None:
        pass

    def scores(self, windows: np.ndarray) -> np.ndarray:
        return np.zeros((len(windows), 0), np.float32)


def run_pipeline(
    video: Path,
    recognizer: Any,
    frames: int,
    window: int,
    realtime: bool,
    sample_memory: bool = False,
    source: Callable[[], Any] | None = None,
    during: Callable[[Any, list[Any]], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The app's pipeline over ``frames`` frames of ``video`` (looped): fps, latency, pose and model ms.

    ``realtime`` paces the video at its own rate and lets the pipeline drop what it cannot keep up
    with, as from a camera; otherwise every frame is processed as fast as possible. ``source`` makes
    the frame source instead (e.g. the video as a camera of another rate and size); ``during`` is
    called once, after the first two predictions, with the running pipeline and its predictions,
    and its result is kept.
    """
    from app.pipeline import Pipeline
    from pose.estimator import PoseEstimator
    from pose.normalize import Preprocess
    from pose.sources import VideoSource

    def make_source() -> Any:
        return source() if source is not None else VideoSource(video)

    predictions: list[Any] = []
    estimator = PoseEstimator(max_persons=2)
    pipeline = Pipeline(
        make_source(),
        recognizer,
        estimator,
        reopen=make_source,
        realtime=realtime,
        lossless=not realtime,
        loop=True,
        preprocess=Preprocess(window=window),
        rate=RATE,
        max_frames=frames,
        sinks=[predictions.append],
    )
    memory: list[tuple[int, float]] = []
    threads = thread_cpu_s()  # each thread's latest CPU time (the stages' threads end with the run)
    done = threading.Event()

    def keep(now: dict[int, tuple[str, float]]) -> None:
        # A thread keeps the name it was first seen with: one that is ending has left Python's list
        # of threads and would otherwise be named after the process.
        for tid, (name, seconds) in now.items():
            threads[tid] = (threads[tid][0] if tid in threads else name, seconds)

    def sample() -> None:
        while not done.wait(0.25):
            keep(thread_cpu_s())
            if sample_memory:
                memory.append((pipeline.stats().frames, rss_mb()))

    sampler = threading.Thread(target=sample, name=SAMPLER_THREAD, daemon=True)
    before = dict(threads)
    start, start_cpu = time.perf_counter(), time.process_time()
    pipeline.start()
    sampler.start()
    extra: dict[str, Any] = {}
    try:
        if during is not None:
            while pipeline.running and sum(p.track_id is not None for p in predictions) < 2:
                time.sleep(0.01)
            if pipeline.running:
                extra = during(pipeline, predictions)
        pipeline.wait()
    finally:
        wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
        keep(thread_cpu_s())
        done.set()
        pipeline.stop()
        sampler.join()
    if pipeline.error is not None:
        raise pipeline.error
    stats = pipeline.stats()
    scored = [p for p in predictions if p.track_id is not None]
    out: dict[str, Any] = {
        "frames": stats.frames,
        "seconds": wall,
        "fps": stats.frames / wall if wall > 0 else 0.0,
        "cpu_ms_per_frame": cpu * 1000.0 / max(1, stats.frames),
        "predictions": len(scored),
        "dropped_frames": stats.dropped_frames,
        "latency_ms": summary([p.latency_ms for p in scored]),
        "pose_ms": summary([p.pose_ms for p in scored]),
        "model_ms": summary([p.model_ms for p in scored if p.model_ms > 0]),
        "persons_scored": persons_scored(scored),
        "cpu_by_thread_ms_per_frame": cpu_by_thread(before, threads, stats.frames),
        **extra,
    }
    if sample_memory:
        out["memory_samples"] = memory
    return out


def persons_scored(scored: Sequence[Any], frames: int = 30) -> float:
    """How many people the run scored: distinct track ids among the predictions of each ``frames``
    frames (about a second of a 30 fps camera), averaged over the spans with any. Not per frame: two
    people looked at on alternate frames (pose.follow) are scored on different frames."""
    spans: dict[int, set[int]] = {}
    for p in scored:
        spans.setdefault(p.frame_index // frames, set()).add(p.track_id)
    return sum(map(len, spans.values())) / max(1, len(spans))


def pose_alone(video: Path, frames: int) -> dict[str, Any]:
    """Decode and MediaPipe, one frame after the other: the cost the app cannot avoid."""
    from pose.estimator import PoseEstimator

    with PoseEstimator(max_persons=2) as estimator:
        start, start_cpu = time.perf_counter(), time.process_time()
        count = 0
        for frame in looped_frames(video, frames):
            estimator.process(frame)
            count += 1
        wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    return {"frames": count, "seconds": wall, "fps": count / wall, "cpu_ms_per_frame": cpu * 1000.0 / count}


def soak_report(run: dict[str, Any]) -> dict[str, Any]:
    """Memory over a long run: RSS after warm-up (the first fifth of the frames is left out), growth
    as the mean RSS of the last quarter of the rest minus that of its first quarter (single samples
    swing with the allocator), and the fitted slope in MB per 1000 frames."""
    samples = np.asarray(run.pop("memory_samples") or [(run["frames"], rss_mb())], np.float64)
    warm = samples[samples[:, 0] >= samples[-1, 0] / 5]
    warm = warm if len(warm) >= 4 else samples
    quarter = max(1, len(warm) // 4)
    growth = float(warm[-quarter:, 1].mean() - warm[:quarter, 1].mean())
    slope = float(np.polyfit(warm[:, 0], warm[:, 1], 1)[0] * 1000) if len(np.unique(warm[:, 0])) > 2 else 0.0
    return {
        "frames": run["frames"],
        "seconds": run["seconds"],
        "fps": run["fps"],
        "rss_after_warmup_mb": float(warm[:quarter, 1].mean()),
        "rss_end_mb": float(warm[-quarter:, 1].mean()),
        "rss_max_mb": float(samples[:, 1].max()),
        "growth_mb": growth,
        "slope_mb_per_1000_frames": slope,
        "samples": len(samples),
        "series": [[int(f), round(float(r), 1)] for f, r in samples[:: max(1, len(samples) // 40)]],
        "no_growth": growth < MAX_GROWTH_MB,
    }
