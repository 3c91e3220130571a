"""Device side: run training jobs in parallel (one CPU thread each, all on the GPU) until a deadline,
then pack what finished into $OUT. Usage: ``drive.py DEADLINE_S PARALLEL``; ``ONLY=prefix,...``
runs only the jobs whose names start so (and resumes the full trainings: a second call on a machine
still warm finishes what the first left, from the per-epoch states).

Recipes (overrides of ``--config bench``): ``gpu-bench`` as is (6 + 3 epochs, at most 20 clips per
class and epoch); ``gpu-r1`` 60 clips per class and epoch, 30 + 10 epochs; ``gpu-r2`` that with the
facing normalisation. ``all-r1-sN``/``all-r2-sN``: ``--config shared-all`` with those overrides.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

R1 = (
    "--data.max_train_per_class 60 --pretrain.epochs 30 --pretrain.milestones 20,26 "
    "--neuron.epochs 10 --neuron.milestones 6,9"
)
R2 = R1 + " --augment.normalisation spine-mid-first-frame-facing"
RECIPES = {"gpu-bench": "", "gpu-r1": R1, "gpu-r2": R2}
HOLDOUTS = ("h36m", "nw_ucla", "utkinect", "cmu8")
SEEDS = (0, 1, 2)


def jobs() -> list[tuple[str, str]]:
    """(name, train.py arguments), the longest first."""
    out = [
        (f"all-r1-s{s}", f"train --config shared-all --seed {s} --output_dir runs/all-r1-s{s} {R1}")
        for s in SEEDS
    ]
    for name in ("gpu-r1", "gpu-r2"):
        out += [
            (
                f"{name}-{h}-s{s}",
                f"benchmark --config bench --holdout {h} --seeds {s} "
                f"--output_dir runs/benchmark/{name} {RECIPES[name]}",
            )
            for s in SEEDS
            for h in HOLDOUTS
        ]
    out += [
        (f"all-r2-s{s}", f"train --config shared-all --seed {s} --output_dir runs/all-r2-s{s} {R2}")
        for s in SEEDS
    ]
    out += [
        (
            f"gpu-bench-{h}-s{s}",
            f"benchmark --config bench --holdout {h} --seeds {s} --output_dir runs/benchmark/gpu-bench",
        )
        for s in SEEDS
        for h in HOLDOUTS
    ]
    if only := os.environ.get("ONLY"):
        out = [
            (n, a + (" --resume" if a.startswith("train") else ""))
            for n, a in out
            if n.startswith(tuple(only.split(",")))
        ]
    return out


def run(deadline: float, parallel: int) -> None:
    t0 = time.time()
    queue, running, done = jobs(), {}, {}
    Path("runs/logs").mkdir(parents=True, exist_ok=True)
    device = os.environ.get("DEV", "cuda")
    last = 0.0
    while (queue or running) and time.time() - t0 < deadline:
        while queue and len(running) < parallel:
            name, args = queue.pop(0)
            with open(f"runs/logs/{name}.log", "w") as log:
                cmd = [
                    sys.executable,
                    "training/train.py",
                    *args.split(),
                    "--device",
                    device,
                    "--num_threads",
                    "1",
                ]
                running[name] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        for name, proc in list(running.items()):
            if proc.poll() is not None:
                done[name] = proc.returncode
                del running[name]
                print(f"[{time.time() - t0:5.0f}s] {name} rc {proc.returncode}", flush=True)
                if proc.returncode:
                    print(Path(f"runs/logs/{name}.log").read_text()[-1500:], flush=True)
        if time.time() - last > 30:
            print(
                f"[{time.time() - t0:5.0f}s] running {len(running)} done {len(done)} queued {len(queue)}",
                flush=True,
            )
            last = time.time()
        time.sleep(1)
    for name, proc in running.items():
        proc.kill()
        print("stopped at the deadline:", name, flush=True)
    print("not started:", [n for n, _ in queue], flush=True)


def pack(out: Path) -> None:
    for folder in sorted(glob.glob("runs/all-*")):
        if Path(folder, "neuron.pt").exists():
            export = f"runs/export/{Path(folder).name}.pt"
            subprocess.run(
                [
                    sys.executable,
                    "training/train.py",
                    "export",
                    "--checkpoint",
                    f"{folder}/neuron.pt",
                    "--output",
                    export,
                    "--half",
                ],
                check=False,
            )
    patterns = (
        "runs/benchmark/*/seed*/*/result.json",
        "runs/logs/*.log",
        "runs/all-*/*.json",
        "runs/all-*/train.log",
        "runs/all-*/config.yaml",
        "runs/benchmark/*/recipe.yaml",
    )
    with tarfile.open(out / "results.tar.xz", "w:xz") as tar:
        for pattern in patterns:
            for f in glob.glob(pattern):
                tar.add(f)
    exports = sorted(glob.glob("runs/export/*.pt"))
    for i in range(0, len(exports), 3):  # at most 16 MiB per file comes back
        with tarfile.open(out / f"ckpt{i // 3}.tar", "w") as tar:
            for f in exports[i : i + 3]:
                tar.add(f)
    print("packed", sorted(os.listdir(out)), flush=True)


if __name__ == "__main__":
    run(float(sys.argv[1]), int(sys.argv[2]))
    pack(Path(os.environ["OUT"]))
