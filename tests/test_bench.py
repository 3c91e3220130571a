"""``neuron-bench --quick`` runs inside the test suite and reports every figure it promises.

No timing is asserted (the machine is shared): only that each figure was measured, is a sane number,
and is printed, with the machine named beside it.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, shared_path

STAT_KEYS = {"median", "p95", "mean", "n"}
CPU_KEYS = {"cpu_median", "cpu_p95"}


def run_bench(*args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ.copy()
    env["HF_HUB_OFFLINE"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "app.bench", *args],
        capture_output=True,
        text=True,
        timeout=400,
        cwd=ROOT,
        env=env,
    )


def measured(stats: dict, cpu: bool = True) -> None:
    """A summary of real measurements: all keys, finite, p95 >= median > 0; with the CPU time beside
    the wall time where the bench promises it."""
    assert set(stats) == STAT_KEYS | (CPU_KEYS if cpu else set()), stats
    assert stats["n"] > 0
    assert math.isfinite(stats["median"]) and math.isfinite(stats["p95"])
    assert stats["p95"] >= stats["median"] > 0
    if cpu:
        assert math.isfinite(stats["cpu_median"]) and stats["cpu_p95"] >= stats["cpu_median"] >= 0


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    video = shared_path("media", "mmaction2_ntu_sample.avi")
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    result = run_bench("--quick", "--quiet", "--video", str(video), "--json", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    return json.loads(out.read_text()), result.stdout


@pytest.mark.slow
def test_quick_bench_names_the_machine(quick_report: tuple[dict, str]) -> None:
    report, text = quick_report
    machine = report["machine"]
    for key in ("cpu", "logical_cores", "torch", "onnxruntime", "mediapipe", "python"):
        assert machine[key], key
    assert "gpu" in machine  # null where there is none
    assert len(machine["load_average_start"]) == 3 and len(machine["load_average_end"]) == 3
    assert machine["load_average_by_phase"]
    assert report["model"]["params"] > 0 and report["model"]["source"]
    assert report["settings"]["quick"] is True
    assert machine["cpu"] in text and "load average" in text and "onnxruntime" in text


@pytest.mark.slow
def test_quick_bench_times_every_stage(quick_report: tuple[dict, str]) -> None:
    report, text = quick_report
    stages = report["stages"]
    for key in ("decode_ms", "pose_ms", "camera_motion_ms", "window_per_frame_ms", "window_per_window_ms"):
        measured(stages[key])
    assert stages["windows"] > 0 and stages["persons_per_frame"] > 0.5  # the sample shows one person
    for backend in ("torch", "onnx"):
        entry = stages["model"][backend]
        assert "error" not in entry, entry
        for key in ("batch1_ms", "batch2_ms", "batch2_per_window_ms", "batch8_ms", "batch8_per_window_ms"):
            measured(entry[key])
    assert stages["model"]["onnx"]["backend_reason"]
    measured(stages["text"]["new_label_ms"])
    from neuron_core.checkpoint import DEFAULT_CHECKPOINT, read_checkpoint_meta
    from neuron_core.prompts import GRANULARITIES

    k = read_checkpoint_meta(DEFAULT_CHECKPOINT).text.prompts_per_granularity  # what the app encodes
    assert stages["text"]["prompts"] == len(GRANULARITIES) * k and stages["text"]["load_s"] > 0
    for line in (
        "frame decode",
        "pose (MediaPipe",
        "window: resample + normalise, per window",
        "window: per frame",
        "model (torch), batch 1",
        "model (torch), batch 8, per window",
        "model (onnx), batch 1",
        "model (onnx), batch 8, per window",
        "model (onnx), batch 2 (two persons), per window",
        "new label, cold",
    ):
        assert line in text, line


@pytest.mark.slow
def test_quick_bench_runs_the_pipeline_end_to_end(quick_report: tuple[dict, str]) -> None:
    report, text = quick_report
    e2e = report["end_to_end"]
    assert e2e["backend"] == "onnx"
    for key in ("pose_alone", "pipeline_without_model", "pipeline"):
        assert e2e[key]["fps"] > 0 and e2e[key]["frames"] > 0 and e2e[key]["cpu_ms_per_frame"] > 0
    assert e2e["pipeline"]["predictions"] > 0
    for key in ("fps_ratio", "fps_ratio_vs_pose_alone", "cpu_ratio"):
        assert 0.1 < e2e[key] < 10, key
    paced = e2e["realtime"]
    assert paced["predictions"] > 0
    measured(paced["latency_ms"], cpu=False)
    measured(paced["pose_ms"], cpu=False)
    assert "capture -> prediction latency" in text and "with / without the model" in text
    # A label added while the video plays is scored, and predictions were timed meanwhile.
    assert "label_scored_ms" in paced, {k: v for k, v in paced.items() if not isinstance(v, dict)}
    assert paced["label_scored_ms"] > 0 and paced["max_prediction_gap_ms"] >= 0
    assert "new label while playing: scored" in text
    for key, what in (
        ("realtime_solo", "one person ("),
        ("realtime_pair", "two people ("),
        ("realtime_hug", "two people hugging ("),
        ("realtime_crowd", "several people ("),
    ):
        run = e2e[key]
        assert run["frames"] > 0 and run["fps"] > 0 and what in text, key
    assert e2e["realtime_pair"]["persons_scored"] > 1.5  # both people are scored
    split = e2e["realtime_pair"]["cpu_by_thread_ms_per_frame"]  # where each frame's CPU went
    assert {"neuron-pose", "neuron-recognize", "neuron-capture"} <= set(split), split
    assert "CPU per frame by thread (ms): " in text


@pytest.mark.slow
def test_quick_bench_reports_memory_and_targets(quick_report: tuple[dict, str]) -> None:
    report, text = quick_report
    memory = report["memory"]
    assert memory["peak_rss_mb"] > 100
    soak = memory["soak"]
    assert soak["frames"] >= report["settings"]["plan"]["soak_frames"] and soak["samples"] > 1
    for key in ("rss_after_warmup_mb", "rss_end_mb", "growth_mb", "slope_mb_per_1000_frames"):
        assert math.isfinite(soak[key]), key
    assert set(report["targets"]) == {
        "model_share_of_pose",
        "onnx_window_ms",
        "new_label_ms",
        "new_label_scored_ms",
        "fps_one_person",
        "fps_two_people",
        "fps_crowd",
        "first_prediction_s",
        "app_rss_mb",
        "memory_growth_mb",
    }
    for name, target in report["targets"].items():
        assert set(target) == {"value", "target", "better", "met"} and isinstance(target["met"], bool)
        assert f"  {name} " in text
    assert "peak RSS" in text and "soak of" in text and "targets (GPU: none lent" in text
    started = [run for run in report["start"] if "error" not in run]
    for run in started:  # which heavy packages the live path imported (a lean start imports no torch)
        assert isinstance(run["imported"], list)
    if started:
        assert "heavy packages it imported" in text


@pytest.mark.slow
def test_quick_bench_reports_the_speed_options(quick_report: tuple[dict, str]) -> None:
    report, text = quick_report
    rows = {row["variant"]: row for row in report["quantized"]}
    assert set(rows) == {"float", "int8 dynamic", "int8 static (calibrated)"}
    assert rows["float"]["top1_agreement"] == 1.0 and rows["float"]["embedding_cosine_min"] > 0.9999
    for row in rows.values():
        if "error" not in row:
            measured(row["ms"])
            assert 0 <= row["top1_agreement"] <= 1 and row["windows"] > 0
    sides = {(row["video"], row["side"]) for row in report["downscale"]}
    assert ("mmaction2_ntu_sample.avi", None) in sides and ("mmaction2_ntu_sample.avi", 640) in sides
    full = next(r for r in report["downscale"] if r["side"] is None)
    assert full["landmark_px"]["median"] == 0.0  # full resolution against itself
    measured(full["pose_ms"])
    warm = report["start"][-1]
    assert "error" not in warm, warm
    assert warm["code"] == 0 and warm["peak_rss_mb"] > 100 and isinstance(warm["torch"], bool)
    prompts = report["prompt_counts"]
    assert sorted(row["k"] for row in prompts) == [2, 5, 10]
    assert all(0 <= row["top1"] <= 1 and row["clips"] > 0 for row in prompts)
    profile = report["graph_profile"]
    assert profile["nodes"] > 0 and profile["kernel_us_per_window"] > 0
    assert 0 < sum(share for _, share in profile["op_shares"]) <= 1.0 + 1e-9
    asked = {row["asked_for"] for row in report["candidates"]}
    assert 1 in asked and len(asked) == 2
    for row in report["candidates"]:
        measured(row["pose_ms"])
    imports = {row["module"]: row for row in report["imports"]}
    assert {"torch", "mediapipe", "onnxruntime"} <= set(imports)
    assert all(row["seconds"] > 0 and row["rss_mb"] > 0 for row in imports.values()), imports
    for line in (
        "int8 static (calibrated)",
        "prompts per granularity vs zero-shot top-1",
        "inside ONNX Runtime, one window",
        "MediaPipe on shrunk frames",
        "MediaPipe asked for 1 person",
        "imports, each in a fresh process",
        "start (fresh neuron-live",
    ):
        assert line in text, line


def test_missing_video_is_one_line_error(tmp_path: Path) -> None:
    result = run_bench("--quick", "--quiet", "--video", str(tmp_path / "absent.avi"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: ") and "absent.avi" in result.stderr
    assert "Traceback" not in result.stderr


def test_cpu_by_thread_adds_each_group_of_threads_per_frame() -> None:
    from app.bench_stages import SAMPLER_THREAD, cpu_by_thread

    before = {1: ("neuron-pose", 1.0), 2: ("mediapipe", 0.5)}
    last = {1: ("neuron-pose", 2.0), 2: ("mediapipe", 1.5), 3: ("mediapipe", 3.0), 4: (SAMPLER_THREAD, 9.0)}
    # A thread born during the run (3) counts from zero; the sampler is left out; heaviest first.
    assert cpu_by_thread(before, last, frames=100) == {"mediapipe": 40.0, "neuron-pose": 10.0}
