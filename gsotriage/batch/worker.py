"""The worker process: loads the signature library once, then analyses one input per request.

It runs under the ``spawn`` start method, so it shares no state with the parent; the parent may
SIGKILL it at any moment (timeout, memory guard), so it holds nothing that needs cleaning up.
Protocol on the pipe: the worker sends ``("ready", pid)``; the parent sends ``(index, path,
vmlinux)`` or ``None`` (quit); the worker answers ``(index, status, document, error, seconds)``.

The analysis function is named by a ``"module:function"`` string (default
:data:`ANALYZER`), resolved in the worker: the fault-injection tests hand in their own.
"""

from __future__ import annotations

import importlib
import os
import signal
import time
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

__all__ = ["ANALYZER", "worker_main"]

# Called as fn(path, library, vmlinux=..., debuginfo=[...]) -> gsotriage.analysis.Analysis.
ANALYZER = "gsotriage.analysis:analyze_path"

Result = Tuple[int, str, Optional[Dict[str, Any]], Optional[str], float]


def _resolve(spec: str) -> Callable[..., Any]:
    module, _, name = spec.partition(":")
    fn: Callable[..., Any] = getattr(importlib.import_module(module), name)
    return fn


def _where(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    return f"{Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else "?"


def worker_main(conn: Connection, sig_paths: Sequence[str], debuginfo: Sequence[str], analyzer: str = ANALYZER) -> None:
    # Ctrl-C goes to the whole process group; the parent decides, the workers just die with it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from gsotriage.errors import InputError
    from gsotriage.match.loader import load_library

    analyze = _resolve(analyzer)
    lib = load_library([Path(p) for p in sig_paths] if sig_paths else None)
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
            doc = analyze(path, lib, vmlinux=vmlinux, debuginfo=list(debuginfo)).document
        except InputError as exc:
            status, error = "input-error", str(exc)
        except MemoryError:
            status, error = "oom", "out of memory (MemoryError) while analysing"
        except Exception as exc:  # one bad input never takes the batch down
            status, error = "internal-error", f"{type(exc).__name__}: {exc} (at {_where(exc)})"
        conn.send((index, status, doc, error, time.monotonic() - t0))
