"""Command line: the top of the house. The core (analysis, match, render, batch,
history) knows nothing of click; each command group is one module here:
``analyze``, ``signatures``, ``batch`` (batch, regress), ``history``, ``fleet``
(worker, submit); ``common``
holds the options and helpers they share. Exit codes: gsotriage.errors.
"""

from __future__ import annotations

import os
import sys
from typing import List, Optional

import click

from gsotriage import __version__

from .analyze import analyze
from .batch import batch, regress
from .common import ClosedStdout, is_output_error, output_failed
from .fleet import submit, worker
from .history import history
from .signatures import signatures

__all__ = ["entry", "main", "run"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="gsotriage")
def main() -> None:
    """Name the root cause of a kernel crash in the GSO/GRO sk_buff paths.

    \b
    Examples:
      gsotriage analyze /var/crash/202611260301/           # kdump crash directory
      gsotriage analyze vmcore --vmlinux vmlinux-6.1.0-56-cloud-amd64
      gsotriage analyze console.log --format json -o verdict.json
      journalctl -k -b -1 | gsotriage analyze -
      gsotriage signatures show gso-tunnel-tcp-metadata-geometry-mismatch
    """


for _command in (analyze, signatures, batch, regress, history, worker, submit):
    main.add_command(_command)


def run(argv: Optional[List[str]] = None) -> int:
    """Run the CLI in-process and return the exit code (tests use this)."""
    if sys.stdout is None:  # started with file descriptor 1 closed (>&-)
        sys.stdout = ClosedStdout()  # type: ignore[assignment]
    try:
        main.main(args=argv, prog_name="gsotriage", standalone_mode=True)
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    except OSError as exc:  # click's own output (--help, --version, usage) to a closed or full stdout
        if not is_output_error(exc):
            raise
        output_failed(exc)
    return 0


def entry() -> None:
    """The console script. After ``analyze`` it leaves with os._exit: tearing down
    a loaded drgn Program (hundreds of MB of indexed debug info) takes longer than
    an SRE should wait, and nothing is left to clean up (output flushed, the
    signature thread done, no child processes)."""
    argv = sys.argv[1:]
    code = run(argv)
    if argv[:1] == ["analyze"]:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, AttributeError):
                pass
        os._exit(code)
    sys.exit(code)
