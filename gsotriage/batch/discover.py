"""Turn the PATH arguments of ``gsotriage batch`` into a list of inputs.

Files are taken as given (a bad one becomes an ``input-error`` result, not a crash); globs are
expanded here too, for quoted globs; a kdump crash directory is one input; any other directory is
walked, keeping the files that :func:`gsotriage.analysis.detect.detect` accepts (it reads 8 KB, never a
whole dump) and skipping the rest silently. A directory that cannot be listed (permissions) is not
skipped silently: it becomes an input of its own, whose line says why it could not be read.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Set, Tuple

from gsotriage.analysis.detect import detect
from gsotriage.errors import InputError
from gsotriage.kernel.kdump import is_crash_dir

__all__ = ["Discovery", "discover"]

_GLOB_CHARS = set("*?[")
# Never inputs; saves a read. Results files are skipped too so `batch .` does not eat its own output.
# Compressed files are not skipped: rotated logs arrive as .gz/.xz/.bz2 (detect() reads inside them).
_SKIP_SUFFIXES = (".jsonl", ".json", ".yaml", ".yml", ".sqlite3", ".py", ".pyc", ".xml", ".md", ".ko")
_SKIP_DIRS = {".git", "__pycache__", ".hg", ".svn", "node_modules"}


@dataclass(frozen=True)
class Discovery:
    inputs: Tuple[str, ...]
    missing: Tuple[str, ...]  # arguments that matched nothing
    skipped: int  # files seen in walked directories that are not inputs


def _dir_files(path: str) -> Optional[List[str]]:
    """The regular files of a directory; None when it cannot be listed."""
    try:
        return [e.name for e in os.scandir(path) if e.is_file()]
    except OSError:
        return None


def _walk(root: str, exclude: Set[str]) -> Tuple[List[str], int]:
    found: List[str] = []
    skipped = 0

    def unreadable(exc: OSError) -> None:
        # Analysing it gives the reason on its result line (input-error), instead of silence.
        if exc.filename is not None:
            found.append(os.fsdecode(exc.filename))

    for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("."))
        if is_crash_dir(filenames):
            found.append(dirpath)
            dirnames[:] = []
            continue
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            if name.startswith(".") or name.endswith(_SKIP_SUFFIXES) or os.path.realpath(full) in exclude:
                skipped += 1
                continue
            try:
                detect(full)
            except InputError:
                skipped += 1
                continue
            found.append(full)
    return found, skipped


def discover(args: Sequence[str], *, exclude: Optional[Sequence[str]] = None) -> Discovery:
    """Expand PATH arguments; ``exclude`` (e.g. the results file) is never taken from a walked directory."""
    excl = {os.path.realpath(p) for p in exclude or ()}
    inputs: List[str] = []
    missing: List[str] = []
    skipped = 0
    for arg in args:
        if os.path.lexists(arg):
            matches = [arg]
        elif _GLOB_CHARS & set(arg):
            matches = sorted(glob.glob(arg, recursive=True))
        else:
            matches = []
        if not matches:
            missing.append(arg)
            continue
        for m in matches:
            listed = _dir_files(m) if os.path.isdir(m) else []
            if listed is not None and os.path.isdir(m) and not is_crash_dir(listed):
                found, n = _walk(m, excl)
                inputs += found
                skipped += n
            else:
                inputs.append(m)
    # One input once, even when two arguments reach it (a glob and its directory, a symlink).
    seen: Set[str] = set()
    unique: List[str] = []
    for p in inputs:
        real = os.path.realpath(p)
        if real not in seen:
            seen.add(real)
            unique.append(str(Path(p)))
    return Discovery(tuple(unique), tuple(missing), skipped)
