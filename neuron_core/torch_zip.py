"""Read a ``torch.save`` file of plain data and tensors into numpy arrays, without importing torch.

The live path uses it to start without torch (about 500 MB resident and over a second of import)
when the model's ONNX graph is already cached: the checkpoint's metadata, config and weights are all
it needs from the file. It understands exactly what :func:`neuron_core.checkpoint.save_checkpoint`
writes: torch's zip format, pickle protocol 2, dicts/lists of plain values, ``OrderedDict`` and
contiguous or strided tensors rebuilt by ``torch._utils._rebuild_tensor_v2``. Anything else (another
class, an old non-zip file, big-endian storages) raises :class:`Unreadable`, and the caller loads the
file with torch instead, which gives the project's usual errors. Like ``torch.load(weights_only=True)``
it never runs code named by the file: no class outside that short list is resolved.
"""

from __future__ import annotations

import collections
import os
import pickle
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

# torch storage classes -> numpy dtypes (the ones numpy has)
STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class Unreadable(Exception):
    """Not a file this reader understands (torch.load may still read it)."""


class _Storage:
    def __init__(self, dtype: type) -> None:
        self.dtype = dtype


def _rebuild_tensor(storage: np.ndarray, offset: int, size: tuple, stride: tuple, *_: object) -> np.ndarray:
    """A copy of the (possibly strided) view of ``storage`` that torch's tensor would be."""
    size, stride = tuple(size), tuple(stride)
    needed = offset + sum((s - 1) * st for s, st in zip(size, stride, strict=True)) + 1 if all(size) else 0
    if needed > storage.size:
        raise Unreadable(f"a tensor reaches past its storage ({needed} > {storage.size} elements)")
    item = storage.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=size, strides=[st * item for st in stride], writeable=False
    )
    return np.array(view, copy=True)


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: Any, archive: zipfile.ZipFile, prefix: str) -> None:
        super().__init__(file)
        self._archive, self._prefix = archive, prefix
        self._storages: dict[str, np.ndarray] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in STORAGE_DTYPES:
            return _Storage(STORAGE_DTYPES[name])
        raise Unreadable(f"refers to {module}.{name}")

    def persistent_load(self, pid: Any) -> np.ndarray:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise Unreadable(f"unknown persistent id {pid!r}")
        kind, key = pid[1], str(pid[2])
        if not isinstance(kind, _Storage):
            raise Unreadable("a storage of an unknown type")
        if key not in self._storages:
            try:
                data = self._archive.read(f"{self._prefix}/data/{key}")
            except KeyError:
                raise Unreadable(f"storage {key} is missing") from None
            self._storages[key] = np.frombuffer(data, dtype=kind.dtype)
        return self._storages[key]


def read(path: str | os.PathLike[str]) -> Any:
    """The object ``torch.save`` wrote to ``path``, tensors as numpy arrays (Unreadable otherwise)."""
    try:
        with zipfile.ZipFile(Path(path)) as archive:
            pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
            if len(pickles) != 1:
                raise Unreadable("not torch's zip format")
            prefix = pickles[0].rsplit("/", 1)[0]
            names = set(archive.namelist())
            order = archive.read(f"{prefix}/byteorder") if f"{prefix}/byteorder" in names else b"little"
            if order != b"little" or sys.byteorder != "little":
                raise Unreadable("big-endian storages")
            with archive.open(pickles[0]) as fh:
                return _Unpickler(fh, archive, prefix).load()
    except Unreadable:
        raise
    except Exception as exc:  # a damaged zip or pickle: torch.load will say what is wrong
        raise Unreadable(f"{type(exc).__name__}: {exc}") from exc
