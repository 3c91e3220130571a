"""Atomic file writes: every file the project writes goes through here.

A writer writes to a temporary file beside the target (same folder, so the rename stays within one
file system; the name carries the process and thread id, so concurrent writers never share one), the
data is flushed to disk with ``fsync``, and ``os.replace`` puts it in place. A crash or a kill at any
moment leaves either the old file or the new one, never half of one; a failed write removes its
temporary file and leaves the target untouched.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def temp_path(path: str | os.PathLike[str]) -> Path:
    """The temporary name a write to ``path`` uses: hidden, in the same folder, unique per thread."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | os.PathLike[str], *, mkdir: bool = True) -> Iterator[Path]:
    """Yield a temporary path to write ``path``'s new content to (for writers that take a file name,
    e.g. ``torch.save`` or an exporter); on leaving, fsync it and move it into place.

    On an exception the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    if mkdir:
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, mkdir: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    path = Path(path)
    with atomic_path(path, mkdir=mkdir) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str, *, mkdir: bool = True) -> Path:
    """Write ``text`` as UTF-8 to ``path`` atomically and return the path."""
    return atomic_write_bytes(path, text.encode("utf-8"), mkdir=mkdir)
