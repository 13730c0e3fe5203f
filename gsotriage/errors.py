"""Errors that cross layers, and the exit codes of every command: one home each.

The command line prints these tables in ``--help`` (:func:`exit_help`) and the
README's table is checked against them by a test, so a code is defined here and
nowhere else.
"""

from __future__ import annotations

import enum
from typing import Any, Mapping

__all__ = [
    "BATCH_EXITS",
    "EXITS",
    "FLEET_EXITS",
    "REGRESS_EXITS",
    "BatchExit",
    "Exit",
    "FleetExit",
    "InputError",
    "RegressExit",
    "exit_help",
]


class InputError(Exception):
    """Unreadable or unsupported input (exit code 3). The message is one clear sentence."""


class Exit(enum.IntEnum):
    """``analyze`` and ``signatures``."""

    ROOT_CAUSE = 0
    NO_SPECIFIC_CAUSE = 1
    USAGE = 2
    BAD_INPUT = 3
    BAD_SIGNATURES = 4
    SELFTEST_FAILED = 5
    AMBIGUOUS = 7
    INTERNAL = 70
    OUTPUT = 74


EXITS: Mapping[Exit, str] = {
    Exit.ROOT_CAUSE: "a specific (non-generic) root cause was named (match or partial)",
    Exit.NO_SPECIFIC_CAUSE: "analysed, nothing specific named (only a generic class, or nothing)",
    Exit.USAGE: "usage error",
    Exit.BAD_INPUT: "unreadable or unsupported input (empty, garbage, truncated dump, wrong vmlinux, ...)",
    Exit.BAD_SIGNATURES: "invalid signature library (errors are printed as file:line)",
    Exit.SELFTEST_FAILED: "signatures test: a signature's own test case failed",
    Exit.AMBIGUOUS: "ambiguous: several specific root causes fit; summary.deciders says what would decide",
    Exit.INTERNAL: "internal error (a bug: the one-line message says where; GSOTRIAGE_DEBUG=1 prints the traceback)",
    Exit.OUTPUT: "the output could not be written (standard output closed or full, a reader that stopped reading)",
}


class BatchExit(enum.IntEnum):
    ALL_ANALYSED = 0
    SOME_FAILED = 1
    USAGE = 2
    BAD_SIGNATURES = 4
    INTERNAL = 70
    OUTPUT = 74
    INTERRUPTED = 130


BATCH_EXITS: Mapping[BatchExit, str] = {
    BatchExit.ALL_ANALYSED: "every input was analysed (whatever root cause it got)",
    BatchExit.SOME_FAILED: "some inputs failed (input error, timeout, oom, crashed, internal error)",
    BatchExit.USAGE: "usage error (including: no inputs found)",
    BatchExit.BAD_SIGNATURES: "invalid signature library",
    BatchExit.INTERNAL: "internal error",
    BatchExit.OUTPUT: "the results or the summary could not be written (disk or standard output full or closed)",
    BatchExit.INTERRUPTED: "interrupted (finished results are kept; rerun with --resume)",
}


class RegressExit(enum.IntEnum):
    NO_REGRESSION = 0
    USAGE = 2
    ANALYSIS_ERRORS = 3
    BAD_SIGNATURES = 4
    REGRESSIONS = 6
    INTERNAL = 70
    OUTPUT = 74


REGRESS_EXITS: Mapping[RegressExit, str] = {
    RegressExit.NO_REGRESSION: "no regressions (improvements do not fail)",
    RegressExit.USAGE: "usage error (missing or malformed expectations file)",
    RegressExit.ANALYSIS_ERRORS: "some entries could not be analysed, and no regression",
    RegressExit.BAD_SIGNATURES: "invalid signature library",
    RegressExit.REGRESSIONS: "regressions found",
    RegressExit.INTERNAL: "internal error",
    RegressExit.OUTPUT: "the output could not be written (standard output closed or full)",
}


class FleetExit(enum.IntEnum):
    """``worker`` and ``submit``."""

    OK = 0
    SOME_FAILED = 1
    USAGE = 2
    UNAVAILABLE = 3
    BAD_SIGNATURES = 4
    INTERNAL = 70
    INTERRUPTED = 130


FLEET_EXITS: Mapping[FleetExit, str] = {
    FleetExit.OK: "worker: stopped (SIGTERM/SIGINT); submit: every input queued (with --wait: analysed and recorded)",
    FleetExit.SOME_FAILED: "submit --wait: some inputs failed (input error, timeout, ...) or were not recorded",
    FleetExit.USAGE: "usage error (including: no inputs found, an unknown queue)",
    FleetExit.UNAVAILABLE: "the broker or the history database cannot be reached (one line names it and the failure)",
    FleetExit.BAD_SIGNATURES: "invalid signature library",
    FleetExit.INTERNAL: "internal error",
    FleetExit.INTERRUPTED: "interrupted (queued inputs stay queued; a worker finishes its running tasks)",
}


def exit_help(table: Mapping[Any, str]) -> str:
    """The ``Exit codes:`` block of a command's --help (click keeps ``\\b`` blocks as written)."""
    width = max(len(str(int(code))) for code in table)
    lines = ["\b", "Exit codes:"]
    lines += [f"  {int(code):<{width}} {meaning}" for code, meaning in table.items()]
    return "\n".join(lines) + "\n"
