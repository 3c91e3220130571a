"""Predictions as JSON lines: one object per line, on stdout (``--headless``) or appended to a file
(``--record``). Each line is flushed as it is written, so a reader following the file (or a crash)
never sees half a record and never misses one that was made."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import TextIO

from app.pipeline import Prediction
from neuron_base.errors import NeuronLiveError


class RecordError(NeuronLiveError):
    """The record file cannot be opened or written."""


class JsonLinesSink:
    """A pipeline sink writing ``Prediction.to_json`` lines; thread-safe, flushed line by line.

    ``broken`` turns true when the reader went away (a closed pipe, ``| head``): the caller then
    stops the pipeline instead of failing on every further line.
    """

    def __init__(self, stream: TextIO, top_k: int, owned: bool = False, name: str = "<stdout>") -> None:
        self.stream = stream
        self.top_k = top_k
        self.name = name
        self.broken = False
        self._owned = owned
        self._lock = threading.Lock()

    @classmethod
    def append_to(cls, path: Path, top_k: int) -> JsonLinesSink:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            stream = open(path, "a", encoding="utf-8")
        except OSError as exc:
            raise RecordError(f"{path}: cannot open the record file ({exc.strerror or exc})") from None
        return cls(stream, top_k, owned=True, name=str(path))

    def __call__(self, prediction: Prediction) -> None:
        line = json.dumps(prediction.to_json(self.top_k), ensure_ascii=False)
        with self._lock:
            if self.broken:
                return
            try:
                self.stream.write(line + "\n")
                self.stream.flush()
            except BrokenPipeError:
                self.broken = True
            except OSError as exc:
                self.broken = True
                raise RecordError(f"{self.name}: cannot write ({exc.strerror or exc})") from None

    def close(self) -> None:
        """Flush to the disk and close a file this sink opened (stdout stays open)."""
        with self._lock:
            if not self._owned or self.stream.closed:
                return
            try:
                self.stream.flush()
                os.fsync(self.stream.fileno())
            except OSError:
                pass
            finally:
                self.stream.close()
