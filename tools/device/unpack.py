"""Device side: rebuild runs/cache (source caches and text vectors) and the descriptions from a pack."""

from __future__ import annotations

import json
import lzma
import os
import shutil
import sys
import tarfile
from pathlib import Path

import numpy as np

CACHE = Path("runs/cache")


def unpack_cache(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    shutil.copy(src / "index.npz", dst / "index.npz")
    if (src / "joints.npy").exists():
        shutil.copy(src / "joints.npy", dst)
        shutil.copy(src / "valid.npy", dst)
        return
    frames = json.loads((src / "meta.json").read_text())["frames"]
    raw = np.frombuffer(lzma.decompress((src / "joints.xz").read_bytes()), np.uint8)
    planes = np.stack([raw[: raw.size // 2], raw[raw.size // 2 :]], axis=1)
    delta = planes.reshape(-1).view(np.int16).astype(np.int64).reshape(frames, 25, 3)
    offsets = np.load(src / "index.npz")["offsets"]
    mm = np.empty_like(delta)
    for a, b in zip(offsets[:-1], offsets[1:], strict=True):
        mm[a:b] = np.cumsum(delta[a:b], axis=0)
    joints = np.zeros((frames, 2, 25, 3), np.float32)
    joints[:, 0] = mm / 1000.0
    valid = np.zeros((frames, 2), bool)
    valid[:, 0] = np.unpackbits(np.load(src / "valid0.npy"))[:frames].astype(bool)
    np.save(dst / "joints.npy", joints)
    np.save(dst / "valid.npy", valid)


def main(pack: Path) -> int:
    for src in sorted(p for p in pack.iterdir() if p.is_dir()):
        unpack_cache(src, CACHE / src.name)
    used = json.loads((pack / "texts.json").read_text())
    vectors = np.frombuffer(lzma.decompress((pack / "texts.xz").read_bytes()), np.float16)
    texts = CACHE / "text" / "minilm-l6-v2"
    texts.mkdir(parents=True, exist_ok=True)
    for name, vec in zip(used, vectors.reshape(len(used), -1), strict=True):
        np.save(texts / name, vec.astype(np.float32))
    root = Path(os.environ["NEURON_SHARED_DATA"])
    if not (root / "text").exists():
        root.mkdir(parents=True, exist_ok=True)
        with tarfile.open(pack / "descr.tar.xz") as tar:
            tar.extractall(root, filter="data")
    print(f"unpacked {pack}: caches in {CACHE}, {len(used)} text vectors, descriptions in {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else ".devrun/pack")))
