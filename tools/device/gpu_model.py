"""The shipped model per window on a device (torch; ONNX Runtime where it has that device's provider).

The timed call is the app's: ``ZeroShotRecognizer.scores`` (embedding, label scores, softmax),
timed by ``neuron-bench``'s own ``timed`` after 10 warm-up calls, on synthetic windows (the cost does
not depend on the values) and six label vectors from a stand-in encoder (the timing does not depend
on the text either). Usage: ``gpu_model.py OUT.json DEVICE``.
"""

from __future__ import annotations

import json
import platform
import sys
from collections.abc import Sequence

import numpy as np
import torch

from app.bench_stages import timed
from neuron_core.checkpoint import load_checkpoint
from neuron_core.recognizer import ZeroShotRecognizer

# 10 warm-up calls, then every call counted (no time budget: the GPU is not shared).
EVERY_CALL = {"warmup": 10, "budget_s": float("inf")}
LABELS = ["walking", "sitting down", "jumping up", "waving a hand", "drinking water", "kicking something"]


class StandInEncoder:
    """Random unit vectors under the checkpoint's encoder name (MiniLM's weights may be absent there)."""

    dim = 384

    def __init__(self, name: str) -> None:
        self.name = name

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        v = np.random.default_rng(len(texts)).standard_normal((len(texts), self.dim)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def main(out: str, device: str) -> int:
    model, meta = load_checkpoint("assets/neuron_default.pt")
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    result: dict[str, object] = {"gpu": gpu, "torch": torch.__version__, "python": platform.python_version()}
    try:
        import onnxruntime as ort

        result["onnxruntime"], result["ort_providers"] = ort.__version__, ort.get_available_providers()
    except ImportError as exc:
        result["onnxruntime"] = repr(exc)
    rng = np.random.default_rng(0)
    windows = (rng.standard_normal((8, 3, meta.preprocess.window, 25, 2)) * 0.3).astype(np.float32)
    for backend in ("torch", "onnx"):
        try:
            rec = ZeroShotRecognizer(
                model, meta, StandInEncoder(meta.text_encoder), device=device, backend=backend, threads=1
            )
            rec.set_labels(LABELS)
            result[backend] = {
                "reason": rec.backend_reason,
                "batch1": timed(lambda rec=rec: rec.scores(windows[:1]), 200, **EVERY_CALL),
                "batch2": timed(lambda rec=rec: rec.scores(windows[:2]), 200, **EVERY_CALL),
                "batch8": timed(lambda rec=rec: rec.scores(windows), 100, **EVERY_CALL),
            }
        except Exception as exc:  # a backend that cannot run there is reported, not fatal
            result[backend] = {"error": repr(exc)[:300]}
    print(json.dumps(result, indent=1))
    with open(out, "w") as fh:
        json.dump(result, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
