"""The speed options ``neuron-bench`` weighs, each measured against what it might cost.

- MediaPipe on shrunk frames: milliseconds per frame, and how far the landmarks move from those
  found at full resolution, on real video.
- The model's graph quantised to int8 (dynamic, or static calibrated on real windows): CPU time per
  window, and agreement with the float graph's embeddings and rankings.
- Starting the app: time to the first prediction and resident memory, in a fresh process.
- A new label while the video plays: how soon it is scored, and whether predictions paused.

Each returns plain numbers for :mod:`app.bench` to print and judge.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from app.bench_stages import Stopwatch, looped_frames, summary, timed
from neuron_base.paths import REPO_ROOT as ROOT
from pose.sources import Frame, FrameSource

# Landmarks compared: those the full-resolution run sees with at least this visibility.
VISIBLE = 0.5


def _match(reference: list[np.ndarray], other: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Pairs of (reference, other) landmark arrays (33, 4), nearest mean positions first, each array
    in at most one pair (a person one run missed stays unpaired)."""
    centre = [p[:, :2].mean(0) for p in other]
    ranked = sorted(
        (float(np.linalg.norm(ref[:, :2].mean(0) - c)), i, j)
        for i, ref in enumerate(reference)
        for j, c in enumerate(centre)
    )
    pairs: dict[int, int] = {}
    for _, i, j in ranked:
        if i not in pairs and j not in pairs.values():
            pairs[i] = j
    return [(reference[i], other[j]) for i, j in sorted(pairs.items())]


def _detections(video: Path, frames: int, side: int | None) -> tuple[list[list[np.ndarray]], Stopwatch, str]:
    """Image landmarks (33, 4) per person per frame from MediaPipe on frames shrunk to ``side``."""
    from pose.estimator import PoseEstimator

    watch = Stopwatch()
    found: list[list[np.ndarray]] = []
    size = ""
    with PoseEstimator(max_persons=2, detect_max_side=side) as estimator:
        for frame in looped_frames(video, frames):
            size = f"{frame.image.shape[1]}x{frame.image.shape[0]}"
            with watch:
                raw = estimator.detect(frame)
            found.append([img for _, img in raw])
    return found, watch, size


def bench_downscale(videos: Sequence[Path], sides: Sequence[int | None], frames: int) -> list[dict[str, Any]]:
    """Per video and frame size: MediaPipe's milliseconds per frame, persons found, and the distance
    of each visible landmark from where full resolution put it, in pixels of the original frame
    (median and p95) and in percent of the person's height in the image."""
    rows = []
    for video in videos:
        full, full_watch, size = _detections(video, frames, None)
        width, height = (int(v) for v in size.split("x"))
        scale = np.array([width, height], np.float32)
        for side in sides:
            found, watch = (full, full_watch) if side is None else _detections(video, frames, side)[:2]
            px: list[float] = []
            rel: list[float] = []
            for ref_persons, persons in zip(full, found, strict=True):
                for ref, other in _match(ref_persons, persons):
                    seen = ref[:, 3] >= VISIBLE
                    if not seen.any():
                        continue
                    dist = np.linalg.norm((ref[seen, :2] - other[seen, :2]) * scale, axis=1)
                    tall = float(np.ptp(ref[seen, 1]) * height) or 1.0
                    px.extend(dist.tolist())
                    rel.extend((100.0 * dist / tall).tolist())
            rows.append(
                {
                    "video": video.name,
                    "frame_size": size,
                    "side": side,
                    "pose_ms": watch.summary(skip=3),
                    "persons_per_frame": sum(len(p) for p in found) / max(1, len(found)),
                    "persons_per_frame_full": sum(len(p) for p in full) / max(1, len(full)),
                    "landmark_px": summary(px),
                    "landmark_pct_height": summary(rel),
                }
            )
    return rows


def bench_quantized(
    graph: Path,
    windows: list[np.ndarray],
    labels: np.ndarray,
    scale: float,
    repeats: int,
    steps: Sequence[int] = (2, 5),
) -> list[dict]:
    """The float graph against int8 versions of it: dynamic (weights only) and static QDQ with
    activation ranges calibrated on ``windows`` (real ones). CPU milliseconds per window (one
    thread, batch 1), the cosine of each step embedding to the float one, and, with ``labels``
    (C, 6, D) unit class prototypes, the model's logit ``scale`` and the ``steps`` its fusion rule
    sums, how often the fused top-1 label agrees and the largest change of a softmax score."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantiser warns once per tensor through the root logger
    try:
        with tempfile.TemporaryDirectory(prefix="neuron-quant-") as tmp:
            variants = _quantized_graphs(graph, Path(tmp), windows)
            return [
                _compare(name, path, windows, labels, scale, steps, repeats)
                for name, path in variants.items()
            ]
    finally:
        root.setLevel(level)


def _quantized_graphs(graph: Path, tmp: Path, windows: list[np.ndarray]) -> dict[str, Path | str]:
    """The float graph and its int8 versions in ``tmp``, or why one could not be made."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    from neuron_core.onnx_runtime import pack_present

    class Windows(CalibrationDataReader):
        def __init__(self) -> None:
            self._items = iter(windows)

        def get_next(self) -> dict[str, np.ndarray] | None:
            window = next(self._items, None)
            return None if window is None else {"windows": pack_present(window[None])}

    model = onnx.load(str(graph))
    del model.graph.value_info[:]  # the exporter's recorded shapes confuse the quantiser's inference
    plain = tmp / "float.onnx"
    onnx.save(model, str(plain))
    variants: dict[str, Path | str] = {"float": plain}
    try:
        quantize_dynamic(plain, tmp / "dynamic.onnx", weight_type=QuantType.QInt8, per_channel=True)
        variants["int8 dynamic"] = tmp / "dynamic.onnx"
    except Exception as exc:  # the quantiser raises many types; report, do not stop the bench
        variants["int8 dynamic"] = f"{type(exc).__name__}: {exc}"
    try:
        quantize_static(
            plain,
            tmp / "static.onnx",
            Windows(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
        variants["int8 static (calibrated)"] = tmp / "static.onnx"
    except Exception as exc:
        variants["int8 static (calibrated)"] = f"{type(exc).__name__}: {exc}"
    return variants


def _compare(
    name: str,
    path: Path | str,
    windows: list[np.ndarray],
    labels: np.ndarray,
    scale: float,
    steps: Sequence[int],
    repeats: int,
) -> dict[str, Any]:
    """One row of :func:`bench_quantized`: ``path`` against the float graph beside it."""
    from neuron_core.onnx_runtime import OnnxEmbedder

    if isinstance(path, str):
        return {"variant": name, "error": path}
    batch = np.stack(windows)
    reference = OnnxEmbedder(path.parent / "float.onnx", threads=1).embed(batch)
    embedder = OnnxEmbedder(path, threads=1)
    emb = embedder.embed(batch)
    norms = np.linalg.norm(emb, axis=-1) * np.linalg.norm(reference, axis=-1)
    cosine = (emb * reference).sum(-1) / np.maximum(norms, 1e-12)
    scores = _fused_softmax(emb, labels, scale, steps)
    ref_scores = _fused_softmax(reference, labels, scale, steps)
    return {
        "variant": name,
        "ms": timed(lambda: embedder.embed(windows[0][None]), repeats),
        "embedding_cosine_min": float(cosine.min()),
        "top1_agreement": float((scores.argmax(1) == ref_scores.argmax(1)).mean()),
        "max_score_change": float(np.abs(scores - ref_scores).max()),
        "windows": len(windows),
    }


def _fused_softmax(
    emb: np.ndarray, protos: np.ndarray, scale: float, steps: Sequence[int] = (2, 5)
) -> np.ndarray:
    """Softmax over labels of the scaled cosines summed over ``steps`` (the model's fusion rule:
    ``neuron_core.model.fusion_steps``; the two fine steps by default)."""
    unit = emb / np.maximum(np.linalg.norm(emb, axis=-1, keepdims=True), 1e-12)
    logits = scale * np.einsum("nsd,csd->nsc", unit, protos)
    fused = logits[:, list(steps)].sum(axis=1)
    fused -= fused.max(axis=1, keepdims=True)
    return np.exp(fused) / np.exp(fused).sum(axis=1, keepdims=True)


# Packages worth knowing whether the live path imported (each costs tens to hundreds of MB).
HEAVY_MODULES = (
    "torch",
    "sentence_transformers",
    "transformers",
    "open_clip",
    "torchvision",
    "scipy",
    "matplotlib",
    "tokenizers",
    "onnxruntime",
    "mediapipe",
    "cv2",
)


def bench_start(argv: Sequence[str], timeout_s: float = 120.0) -> dict[str, Any]:
    """``neuron-live --headless`` in a fresh process: seconds from launch to its first prediction
    line, the modules it imported, and its resident memory then and at the end (peak).

    Run twice by the caller: the first run may fill caches (graph export, embeddings)."""
    code = (
        "import json, sys, time, psutil\n"
        "def peak():  # VmHWM starts afresh at exec; ru_maxrss would include the parent's peak\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith('VmHWM:'):\n"
        "            return int(line.split()[1]) / 1024\n"
        "    return psutil.Process().memory_info().rss / 2**20\n"
        "from app.cli import main\n"
        "start = float(sys.argv[1])\n"
        "real = sys.stdout\n"
        "class Watch:\n"
        "    first = None\n"
        "    def write(self, text):\n"
        "        if Watch.first is None and text.strip().startswith('{'):\n"
        "            Watch.first = time.time() - start\n"
        "            Watch.rss = psutil.Process().memory_info().rss / 2**20\n"
        "        return len(text)\n"
        "    def flush(self): pass\n"
        "sys.stdout = Watch()\n"
        "code = main(sys.argv[2:])\n"
        "sys.stdout = real\n"
        "mods = sys.modules\n"
        f"heavy = [m for m in {list(HEAVY_MODULES)!r} if m in mods]\n"
        "print(json.dumps({'code': code, 'first_s': Watch.first,\n"
        "    'rss_first_mb': getattr(Watch, 'rss', None),\n"
        "    'peak_rss_mb': peak(),\n"
        "    'torch': 'torch' in mods, 'sentence_transformers': 'sentence_transformers' in mods,\n"
        "    'transformers': 'transformers' in mods, 'imported': heavy}))\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", code, repr(time.time()), *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=timeout_s,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        return {"error": (result.stderr.strip().splitlines() or ["no output"])[-1]}
    return json.loads(lines[-1])


class CameraLike(FrameSource):
    """Videos replayed as a camera of a given rate and frame size would deliver them: frame ``i`` is
    due at ``i / fps``. One video is resized to ``size`` (width, height), so a 720p street scene at
    50 fps stands in for a 1080p camera at 30 fps with several people in view; several are each
    fitted to the frame's height and set side by side, one per equal column (two people apart from
    two one-person clips). Like a camera it never ends: a clip that ends starts again, the clock
    going on (a source that ended and was reopened would pause the stream for the reopening, a
    quarter of a second each time, and count it against the frame rate)."""

    def __init__(self, videos: Path | Sequence[Path], fps: float, size: tuple[int, int]) -> None:
        super().__init__()
        from pose.sources import VideoSource

        paths = [videos] if isinstance(videos, Path) else list(videos)
        self._videos: list[VideoSource] = []
        try:
            for path in paths:
                self._videos.append(VideoSource(path))
        except BaseException:
            self.close()
            raise
        self.fps, self.size = fps, size
        self.name = f"{' beside '.join(p.name for p in paths)} as {size[0]}x{size[1]} at {fps:g} fps"
        self._index = 0

    def read(self) -> Frame | None:
        images = []
        for video in self._videos:
            frame = video.read()
            if frame is None and self._index and video.rewind():
                frame = video.read()
            if frame is None:
                return None
            images.append(frame.image)
        index, self._index = self._index, self._index + 1
        return Frame(self._compose(images), index, time.monotonic(), index / self.fps)

    def _compose(self, images: list[np.ndarray]) -> np.ndarray:
        import cv2

        width, height = self.size
        if len(images) == 1:
            image = images[0]
            if (image.shape[1], image.shape[0]) == self.size:
                return image
            return cv2.resize(image, self.size, interpolation=cv2.INTER_LINEAR)
        canvas = np.zeros((height, width, 3), np.uint8)
        column = width // len(images)
        for k, image in enumerate(images):
            scale = min(height / image.shape[0], column / image.shape[1])
            w, h = max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))
            x0, y0 = k * column + (column - w) // 2, (height - h) // 2
            canvas[y0 : y0 + h, x0 : x0 + w] = cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)
        return canvas

    def close(self) -> None:
        for video in self._videos:
            video.close()
        super().close()


def label_latency(pipeline: Any, predictions: list[Any], label: str, timeout_s: float = 10.0) -> dict:
    """Ask a running (paced) pipeline to add ``label`` (never encoded before) and measure, from that
    moment: how long until a prediction scores it, and the longest wait between two predictions
    meanwhile (a pipeline that paused for the encoding shows it there)."""
    start = time.monotonic()
    seen = len(predictions)
    pipeline.set_labels([*pipeline.labels, label])
    stamps = [start]
    while time.monotonic() - start < timeout_s and pipeline.running:
        fresh = predictions[seen:]
        seen += len(fresh)
        now = time.monotonic()
        stamps.extend(now for _ in fresh)
        if any(label in dict(p.scores) for p in fresh):
            return {
                "label_scored_ms": (now - start) * 1000.0,
                "max_prediction_gap_ms": float(np.diff(stamps).max() * 1000.0) if len(stamps) > 1 else 0.0,
                "predictions_meanwhile": len(stamps) - 2,
            }
        time.sleep(0.002)
    return {"error": f"the label was not scored within {time.monotonic() - start:.1f} s (stream ended?)"}


IMPORT_COST_MODULES = ("torch", "mediapipe", "matplotlib.pyplot", "onnxruntime", "cv2", "tokenizers")


def import_costs(modules: Sequence[str] = IMPORT_COST_MODULES) -> list:
    """Seconds and resident MB that importing each module adds to a fresh Python (what a lean start
    must avoid or pay), each in its own process."""
    code = (
        "import json, sys, time\n"
        "def rss():\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith('VmRSS:'):\n"
        "            return int(line.split()[1]) / 1024\n"
        "    return float('nan')\n"
        "before, start = rss(), time.perf_counter()\n"
        "__import__(sys.argv[1])\n"
        "print(json.dumps({'seconds': time.perf_counter() - start, 'rss_mb': rss() - before}))\n"
    )
    rows = []
    for module in modules:
        result = subprocess.run(
            [sys.executable, "-c", code, module], capture_output=True, text=True, cwd=ROOT, timeout=120
        )
        lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
        row = json.loads(lines[-1]) if result.returncode == 0 and lines else {"error": result.stderr[-200:]}
        rows.append({"module": module, **row})
    return rows


def bench_candidates(video: Path, frames: int) -> list[dict[str, Any]]:
    """MediaPipe's cost per frame when asked for one person against the app's setting (two tracked,
    more candidates searched): it runs its person detector on every frame while it tracks fewer
    persons than it was asked for."""
    from pose.estimator import PoseEstimator

    rows = []
    for max_persons, candidates in ((1, 1), (2, None)):
        watch, found = Stopwatch(), 0
        with PoseEstimator(max_persons=max_persons, candidates=candidates) as estimator:
            for frame in looped_frames(video, frames):
                with watch:
                    found += len(estimator.detect(frame))
            asked = estimator.candidates
        rows.append(
            {
                "video": video.name,
                "asked_for": asked,
                "pose_ms": watch.summary(skip=3),
                "persons_per_frame": found / max(1, frames),
            }
        )
    return rows


def graph_profile(path: Path, window: np.ndarray, runs: int) -> dict[str, Any]:
    """Where one window's time goes inside ONNX Runtime (1 thread, level "all"): nodes after its
    optimisation, and each operator type's share of the kernel time over ``runs`` calls."""
    import onnx
    import onnxruntime as ort

    from neuron_core.onnx_runtime import pack_present, session_options

    with tempfile.TemporaryDirectory(prefix="neuron-profile-") as tmp:
        options = session_options(1, "all")
        options.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / "profile")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        x = pack_present(window[None])
        for _ in range(runs):
            session.run(None, {"windows": x})
        events = json.loads(Path(session.end_profiling()).read_text())
        nodes = len(onnx.load(options.optimized_model_filepath).graph.node)
    # The first call allocates and warms caches: its events are left out.
    calls = sorted(e["ts"] + e["dur"] for e in events if e.get("name") == "model_run")
    warm_from = calls[0] if len(calls) > 1 else 0
    by_op: dict[str, float] = {}
    for event in events:
        if event.get("ts", 0) < warm_from:
            continue
        if event.get("cat") == "Node" and event.get("name", "").endswith("_kernel_time"):
            op = event.get("args", {}).get("op_name", "?")
            by_op[op] = by_op.get(op, 0.0) + float(event.get("dur", 0))
    total = sum(by_op.values()) or 1.0
    shares = sorted(((op, t / total) for op, t in by_op.items()), key=lambda item: -item[1])
    measured = max(1, len(calls) - 1) if len(calls) > 1 else runs
    return {"nodes": nodes, "kernel_us_per_window": total / measured, "op_shares": shares[:8]}


def bench_prompt_counts(
    model: Any, meta: Any, encoder: Any, folders: Sequence[Path], ks: Sequence[int], limit: int
) -> list[dict[str, Any]]:
    """Zero-shot top-1 with ``k`` prompts per granularity (6 k per label): what cutting the cold
    cost of a new label would cost in accuracy. Per folder of labelled interchange clips (at most
    ``limit``, evenly spread over the sorted files), scored against the folder's own label names
    by the app's recogniser (ONNX Runtime), each clip as one window (the whole clip resized to the
    model's window by ``normalize_window``, as evaluation does)."""
    from neuron_core.labels import label_key
    from neuron_core.recognizer import ZeroShotRecognizer
    from pose.normalize import normalize_window
    from pose.skeleton import load_npz

    rows = []
    for folder in folders:
        files = sorted(folder.glob("*.npz"))
        files = files[:: max(1, len(files) // limit)][:limit]
        clips = [load_npz(path) for path in files]
        clips = [clip for clip in clips if clip.label]
        if not clips:
            continue
        labels = sorted({clip.label for clip in clips})
        windows = np.stack([normalize_window(clip, window=meta.preprocess.window) for clip in clips])
        truth = np.array([labels.index(clip.label) for clip in clips])
        for k in ks:
            recognizer = ZeroShotRecognizer(model, meta, encoder, k=k, backend="onnx", threads=1)
            recognizer.set_labels(labels)
            index = {label_key(label): i for i, label in enumerate(labels)}
            order = [index[label_key(label)] for label in recognizer.labels]  # the recogniser's order
            scores = recognizer.scores(windows)[:, np.argsort(order)]
            rows.append(
                {
                    "folder": folder.name,
                    "k": k,
                    "prompts_per_label": 6 * k,
                    "clips": len(clips),
                    "labels": len(labels),
                    "top1": float((scores.argmax(1) == truth).mean()),
                }
            )
    return rows
