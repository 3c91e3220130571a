"""Small helpers every reader shares: reading a text file with one-line errors, quoting file content,
walking a folder of files."""

from __future__ import annotations

import logging
import lzma
import os
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from pose.errors import SkeletonError

if TYPE_CHECKING:
    from pose.skeleton import Skeleton

log = logging.getLogger(__name__)

# What reading a damaged zip member can raise, beyond a bad header: a broken deflate or LZMA stream,
# a compression method zipfile does not know, a CRC mismatch, a stream that ends early.
ARCHIVE_ERRORS = (OSError, EOFError, zipfile.BadZipFile, zlib.error, lzma.LZMAError, NotImplementedError)


def read_text(path: str | os.PathLike) -> str:
    """The whole file as text; a missing, empty, unreadable or binary file raises SkeletonError."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SkeletonError(f"{path}: file not found") from None
    except OSError as exc:
        raise SkeletonError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    return decode_text(raw, str(path))


def decode_text(raw: bytes, source: str) -> str:
    """Bytes to text, refusing empty and binary content with a message naming ``source``."""
    if not raw.strip():
        raise SkeletonError(f"{source}: the file is empty")
    if b"\x00" in raw[:4096]:
        raise SkeletonError(f"{source}: a binary file, not a text skeleton file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SkeletonError(f"{source}: not a text file (undecodable byte at offset {exc.start})") from None


def quote(text: str, limit: int = 60) -> str:
    """File content quoted in a message, cut short so that the message stays one readable line."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def iter_files(
    root: str | os.PathLike, suffixes: tuple[str, ...], read: Callable[[Path], Skeleton]
) -> Iterator[Skeleton]:
    """Every file with one of ``suffixes`` under ``root`` (or ``root`` itself when it is a file), in
    name order per suffix, read with ``read``; a broken file is skipped with a warning, not fatal:
    real data sets hold a few."""
    root = Path(root)
    files = [f for suffix in suffixes for f in sorted(root.rglob(f"*{suffix}"))] if root.is_dir() else [root]
    for path in files:
        try:
            yield read(path)
        except SkeletonError as exc:
            log.warning("skipping %s", exc)
