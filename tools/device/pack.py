"""Pack the training caches and the recorded text vectors small enough to travel (see README.md).

Joints: person 0 only (a cache with a second person is copied whole), millimetres as int16 temporal
deltas within each clip, byte planes, lzma. Text vectors: float16, lzma. Descriptions: tar.xz.
"""

from __future__ import annotations

import json
import lzma
import shutil
import sys
import tarfile
from pathlib import Path

import numpy as np

from neuron_base.paths import shared_data_dir

CACHE = Path("runs/cache")
TEXTS = CACHE / "text" / "minilm-l6-v2"


def pack_cache(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True)
    shutil.copy(src / "index.npz", dst / "index.npz")
    joints = np.load(src / "joints.npy", mmap_mode="r")
    valid = np.load(src / "valid.npy")
    if valid[:, 1].any():
        shutil.copy(src / "joints.npy", dst)
        shutil.copy(src / "valid.npy", dst)
        return
    offsets = np.load(src / "index.npz")["offsets"]
    mm = np.round(np.asarray(joints[:, 0], np.float64) * 1000).astype(np.int64)
    delta = mm.copy()
    for a, b in zip(offsets[:-1], offsets[1:], strict=True):
        delta[a + 1 : b] = mm[a + 1 : b] - mm[a : b - 1]
    if np.abs(delta).max() >= 2**15:
        raise SystemExit(f"{src}: a step of {np.abs(delta).max()} mm does not fit int16")
    planes = delta.astype(np.int16).view(np.uint8).reshape(-1, 2)
    blob = np.concatenate([planes[:, 0], planes[:, 1]]).tobytes()
    (dst / "joints.xz").write_bytes(lzma.compress(blob, preset=9))
    np.save(dst / "valid0.npy", np.packbits(valid[:, 0]))
    (dst / "meta.json").write_text(json.dumps({"frames": int(joints.shape[0])}))


def main(out: Path) -> int:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    for src in sorted(CACHE.glob("*-*")):
        if src.is_dir() and (src / "index.npz").exists():
            pack_cache(src, out / src.name)
    used = json.loads(Path(".devrun/texts.json").read_text())
    vectors = np.stack([np.load(TEXTS / name) for name in used]).astype(np.float16)
    (out / "texts.xz").write_bytes(lzma.compress(vectors.tobytes(), preset=9))
    (out / "texts.json").write_text(json.dumps(used))
    with tarfile.open(out / "descr.tar.xz", "w:xz") as tar:
        tar.add(shared_data_dir() / "text", arcname="text")
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"packed into {out}: {size / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else ".devrun/pack")))
