"""CPU cost of the model presets: parameters and milliseconds per window (median of repeats).

``python -m neuron_core.benchmark [--threads 2] [--repeats 30]``: batch 1, one person present (the second
slot empty, as from a webcam), window of the config's length. Prints, never asserts.

Wall time suffers when other processes share the cores; the process CPU time beside it does not (with
one thread it is the pure compute cost), so both are printed, with the load average.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import torch

from neuron_core.config import ModelConfig
from neuron_core.model import NeuronModel

PARTS = ("backbone", "head", "model")


def median_ms(fn: Callable[[], object], repeats: int, warmup: int = 5) -> tuple[float, float]:
    """Median wall and process-CPU milliseconds of one call."""
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - start) * 1000.0)
        cpu.append((time.process_time() - start_cpu) * 1000.0)
    return statistics.median(wall), statistics.median(cpu)


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def benchmark(config: ModelConfig, repeats: int) -> dict[str, object]:
    """Parameters and median ms for backbone, head and the whole model on one one-person window."""
    model = NeuronModel(config).eval()
    x = torch.zeros(1, config.in_channels, config.window, config.num_joints, config.persons)
    x[..., 0] = torch.randn(1, config.in_channels, config.window, config.num_joints)
    with torch.inference_mode():
        feat = model.backbone.features(x)
        return {
            "backbone_params": count(model.backbone),
            "head_params": count(model.head),
            "backbone_ms": median_ms(lambda: model.backbone.features(x), repeats),
            "head_ms": median_ms(lambda: model.head(feat), repeats),
            "model_ms": median_ms(lambda: model(x), repeats),
        }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--presets", nargs="+", default=["full", "slim"])
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"{platform.machine()}, {os.cpu_count()} cores, load {load:.1f}, torch {torch.__version__}, "
        f"{args.threads} threads; median ms per window as wall / process CPU"
    )
    for name in args.presets:
        r = benchmark(ModelConfig.preset(name), args.repeats)
        times = " ".join(f"{part} {r[part + '_ms'][0]:.2f}/{r[part + '_ms'][1]:.2f}" for part in PARTS)
        print(f"{name:5s} params backbone {r['backbone_params']:,} head {r['head_params']:,} | {times}")


if __name__ == "__main__":
    main()
