"""Record the text-cache files (one per text) that the benchmark folds and shared-all read.

Runs every fold and shared-all for one epoch on a couple of clips, with the cache lookups logged, and
writes their names to ``.devrun/texts.json`` for ``pack.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

HOLDOUTS = ("h36m", "nw_ucla", "utkinect", "cmu8")
TINY = (
    "--device cpu --num_threads 2 --data.max_train_per_class 2 --pretrain.epochs 1 --pretrain.milestones 1 "
    "--neuron.epochs 1 --neuron.milestones 1"
).split()
LOGGER = """
import atexit, json, runpy, sys
from pathlib import Path
from neuron_core import text_encoders as te
out = Path(sys.argv[1]); used = set(json.loads(out.read_text())) if out.exists() else set()
orig = te.CachedTextEncoder._path
def _path(self, text):
    path = orig(self, text); used.add(path.name); return path
te.CachedTextEncoder._path = _path
atexit.register(lambda: out.write_text(json.dumps(sorted(used))))
sys.argv = sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def main() -> int:
    out = Path(".devrun/texts.json").resolve()
    out.parent.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        runs = [
            ["benchmark", "--config", "bench", "--holdout", h, "--seeds", "0", "--output_dir", f"{tmp}/b"]
            for h in HOLDOUTS
        ]
        runs.append(["train", "--config", "shared-all", "--output_dir", f"{tmp}/all"])
        for args in runs:
            cmd = [sys.executable, "-c", LOGGER, str(out), "training/train.py", *args, *TINY]
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print(f"{len(json.loads(out.read_text()))} texts in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
