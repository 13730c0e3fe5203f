"""Resume keys: the same input analysed by the same tool and signature library gets the same key.

By default a key is (realpath, size, mtime_ns) of the input (of every file in a crash directory);
with ``content_hash`` the sha256 of the content replaces path and stat, so a moved or copied file
keeps its key. The tool version and the signature-library digest are always part of it: a new
library re-analyses everything.
"""

from __future__ import annotations

import hashlib
import os
from typing import List, Optional, Tuple

from gsotriage import __version__

__all__ = ["input_key", "record_key"]

_CHUNK = 1 << 20


def _files(path: str) -> List[str]:
    if os.path.isdir(path):
        try:
            return sorted(e.path for e in os.scandir(path) if e.is_file())
        except OSError:
            return []  # unreadable: keyed by its path alone; its analysis says why
    return [path]


def _stat_part(path: str) -> Tuple[str, ...]:
    parts: List[str] = [os.path.realpath(path)]
    for f in _files(path):
        try:
            st = os.stat(f)
            parts.append(f"{os.path.basename(f)}:{st.st_size}:{st.st_mtime_ns}")
        except OSError as exc:
            parts.append(f"{os.path.basename(f)}:error:{exc.errno}")
    return tuple(parts)


def _content_part(path: str) -> Tuple[str, ...]:
    parts: List[str] = []
    for f in _files(path):
        h = hashlib.sha256()
        try:
            with open(f, "rb") as fh:
                while chunk := fh.read(_CHUNK):
                    h.update(chunk)
            parts.append(f"{os.path.basename(f) if f != path else ''}:{h.hexdigest()}")
        except OSError as exc:
            parts.append(f"{os.path.realpath(f)}:error:{exc.errno}")
    return tuple(parts)


def input_key(path: str, *, tool_version: str, library_digest: str, content_hash: bool = False) -> str:
    parts = _content_part(path) if content_hash else _stat_part(path)
    h = hashlib.sha256("\0".join((*parts, tool_version, library_digest)).encode("utf-8", "surrogateescape"))
    return ("sha256:" if content_hash else "stat:") + h.hexdigest()[:32]


def record_key(path: str, *, library_digest: str, content_hash: bool = False) -> Optional[str]:
    """The history key of one input of ``analyze --record``: the key ``batch`` gives the same
    file (so both record one row), or None for standard input and live kernels, which the
    history keys by their report instead."""
    if path == "-" or path.startswith(("qmp:", "/proc/")) or not os.path.exists(path):
        return None
    return input_key(path, tool_version=__version__, library_digest=library_digest, content_hash=content_hash)
