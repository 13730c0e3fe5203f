"""The worker process: loads the signature library once, then analyses one input per request.

It runs under the ``spawn`` start method, so it shares no state with the parent; the parent may
SIGKILL it at any moment (timeout, memory guard), so it holds nothing that needs cleaning up.
Protocol on the pipe: the worker sends ``("ready", pid)``; the parent sends ``(index, path,
vmlinux)`` or ``None`` (quit); the worker answers ``(index, status, document, error, seconds)``.
"""

from __future__ import annotations

import os
import signal
import time
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple

__all__ = ["TEST_HOOKS_ENV", "worker_main"]

# Hidden test hook: with GSOTRIAGE_TEST_HOOKS=1 an input whose file name contains __sleep__ hangs,
# __alloc__ allocates until the memory guard fires, __segv__ dies of SIGSEGV, __raise__ is a bug.
TEST_HOOKS_ENV = "GSOTRIAGE_TEST_HOOKS"

Result = Tuple[int, str, Optional[Dict[str, Any]], Optional[str], float]


def _test_hook(path: str) -> None:
    name = os.path.basename(path)
    if "__sleep__" in name:
        time.sleep(3600)
    if "__alloc__" in name:
        hog = []
        for _ in range(400):  # at most ~4 GB, 10 MB a step, slow enough for a watchdog to see
            hog.append(bytearray(10 << 20))
            time.sleep(0.01)
        time.sleep(3600)
    if "__segv__" in name:
        os.kill(os.getpid(), signal.SIGSEGV)
    if "__raise__" in name:
        raise RuntimeError("test hook: simulated bug")


def _where(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    return f"{Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else "?"


def worker_main(conn: Connection, sig_paths: Sequence[str], debuginfo: Sequence[str]) -> None:
    # Ctrl-C goes to the whole process group; the parent decides, the workers just die with it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from gsotriage.analysis import analyze_path
    from gsotriage.inputs import InputError
    from gsotriage.match.loader import load_library

    lib = load_library([Path(p) for p in sig_paths] if sig_paths else None)
    hooks = os.environ.get(TEST_HOOKS_ENV) == "1"
    conn.send(("ready", os.getpid()))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        index, path, vmlinux = msg
        t0 = time.monotonic()
        status, doc, error = "ok", None, None
        try:
            if hooks:
                _test_hook(path)
            result = analyze_path(path, lib, vmlinux=vmlinux, debuginfo=list(debuginfo))
            doc = result.document(lib)
        except InputError as exc:
            status, error = "input-error", str(exc)
        except MemoryError:
            status, error = "oom", "out of memory (MemoryError) while analysing"
        except Exception as exc:  # one bad input never takes the batch down
            status, error = "internal-error", f"{type(exc).__name__}: {exc} (at {_where(exc)})"
        conn.send((index, status, doc, error, time.monotonic() - t0))
