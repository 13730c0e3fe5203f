"""Fault injection for the batch tests, kept out of the shipped package.

``python -m tests.batch.faults ARGS...`` runs the gsotriage CLI with the batch
workers' analysis function replaced by :func:`analyze`, which misbehaves on
inputs whose file name asks for it: ``__sleep__`` hangs, ``__alloc__``
allocates until the memory guard fires, ``__segv__`` dies of SIGSEGV,
``__raise__`` is a bug, ``__flatsleep__`` reassembles a flattened dump and hangs holding the
copy. Everything else is analysed normally.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Any


def _misbehave(path: str) -> None:
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
    if "__flatsleep__" in name:
        from gsotriage.collect.flattened import reassemble

        held = reassemble(path)
        time.sleep(3600)
        held.close()
    if "__raise__" in name:
        raise RuntimeError("test hook: simulated bug")


def analyze(path: str, library: Any, **kwargs: Any) -> Any:
    from gsotriage.analysis import analyze_path

    _misbehave(path)
    return analyze_path(path, library, **kwargs)


if __name__ == "__main__":
    from gsotriage.batch import worker
    from gsotriage.cli import run

    worker.ANALYZER = "tests.batch.faults:analyze"
    sys.exit(run(sys.argv[1:]))
