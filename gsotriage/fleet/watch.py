"""``gsotriage submit --watch DIR``: submit each new crash in a directory that collects them.

A crash directory is submitted once it is complete: no file still named ``*-incomplete*``
(kdump-tools writes ``dump-incomplete`` and RHEL kdump ``vmcore-incomplete``, both renamed
when the dump is saved) and nothing in it changed for ``settle`` seconds; a directory holding
the marker our kdump hooks write (:data:`READY_MARKER`) is complete at once, and one they
already submitted from the kdump kernel (:data:`SUBMITTED_MARKER`) is skipped. What was
submitted is remembered in a state file (one input key per line: path, sizes and mtimes), so
a restarted watcher does not submit it again, while a file that changes is submitted anew.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Set

from gsotriage import __version__
from gsotriage.batch.discover import discover
from gsotriage.batch.keys import input_key

__all__ = ["READY_MARKER", "SUBMITTED_MARKER", "Watcher", "default_state_path", "is_complete"]

READY_MARKER = ".gsotriage-ready"
SUBMITTED_MARKER = ".gsotriage-submitted"
_INCOMPLETE = "incomplete"


def default_state_path(dirs: Sequence[str]) -> Path:
    """``$XDG_STATE_HOME/gsotriage/watch-<hash of the directories>.state``."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    tag = hashlib.sha256("\0".join(sorted(os.path.realpath(d) for d in dirs)).encode()).hexdigest()[:12]
    return Path(base) / "gsotriage" / f"watch-{tag}.state"


def _newest_change(path: str) -> float:
    if not os.path.isdir(path):
        return os.stat(path).st_mtime
    stamps = [os.stat(path).st_mtime]
    stamps += [e.stat().st_mtime for e in os.scandir(path) if e.is_file()]
    return max(stamps)


def is_complete(path: str, settle: float, now: Optional[float] = None) -> bool:
    """A file or crash directory that nothing is writing any more."""
    try:
        if os.path.isdir(path):
            names = os.listdir(path)
            if READY_MARKER in names:
                return True
            if any(_INCOMPLETE in n for n in names):
                return False
        return (now if now is not None else time.time()) - _newest_change(path) >= settle
    except OSError:
        return False


class Watcher:
    """Polls directories; ``submit(paths)`` is called with the inputs that became complete."""

    def __init__(
        self,
        dirs: Sequence[str],
        submit: Callable[[List[str]], None],
        *,
        settle: float = 10.0,
        state: Optional[Path] = None,
        note: Callable[[str], None] = lambda msg: None,
    ) -> None:
        self.dirs = list(dirs)
        self.submit = submit
        self.settle = settle
        self.state = state or default_state_path(dirs)
        self.note = note
        self.done: Set[str] = set()
        if self.state.exists():
            self.done = {line.strip() for line in self.state.read_text(encoding="utf-8").splitlines() if line.strip()}

    @staticmethod
    def key(path: str) -> str:
        return input_key(path, tool_version=__version__, library_digest="watch")

    def scan(self) -> List[str]:
        """One pass: submit what is new and complete; returns it."""
        found = discover(self.dirs)
        ready: List[str] = []
        keys: List[str] = []
        for path in found.inputs:
            if os.path.exists(os.path.join(path, SUBMITTED_MARKER)) or not is_complete(path, self.settle):
                continue
            key = self.key(path)
            if key in self.done:
                continue
            ready.append(os.path.abspath(path))
            keys.append(key)
        if ready:
            self.submit(ready)
            self.state.parent.mkdir(parents=True, exist_ok=True)
            with open(self.state, "a", encoding="utf-8") as f:
                f.writelines(k + "\n" for k in keys)
            self.done.update(keys)
            self.note(f"watch: submitted {len(ready)} new input(s)")
        return ready

    def run(self, interval: float, *, stop: Callable[[], bool] = lambda: False) -> None:
        """Scan every ``interval`` seconds until ``stop()``; a failed pass (the broker is down) is
        reported and tried again, its inputs not marked submitted."""
        while not stop():
            try:
                self.scan()
            except Exception as exc:  # kombu/redis errors: keep watching
                self.note(f"watch: submitting failed ({' '.join(str(exc).split())}); trying again")
            time.sleep(interval)
