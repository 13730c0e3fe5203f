"""Text parsers: console/kernel logs, kdump dmesg files and crash(8) transcripts
into a :class:`~gsotriage.model.CrashReport`.

Nothing here raises on bad input: a text without a crash gives a report whose
``panic.kind`` is None and whose notes say so. Logs are read in linear time
with bounded memory (see ``lines.py``): overlong lines are cut, and while no
report is being read only lines with a keyword are looked at. A bound that
was hit is listed in ``CrashReport.limits``. A parser bug is not "no crash
found" either: the report holds what was read before it, and its limits say
where the parser stopped.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Iterable, List, Optional

from gsotriage.files import open_log
from gsotriage.model import CrashReport

from .assemble import NO_CRASH_NOTE, assemble
from .lines import feed_chunks, feed_lines
from .scanner import Dispatcher
from .text import byte_chunks, decode_bytes, text_chunks

__all__ = ["NO_CRASH_NOTE", "decode_bytes", "detect_format", "parse_file", "parse_lines", "parse_text"]


def _run(feed: Callable[[Dispatcher], object], path: Optional[str]) -> CrashReport:
    dispatcher = Dispatcher()
    failure = None
    try:
        feed(dispatcher)
    except Exception as exc:  # a parser bug: report what was read, and where it stopped
        where = f"line {dispatcher.scan.lines} ({type(exc).__name__}: {exc})"
        failure = f"the parser failed at {where}: what follows was not read"
    report = assemble(dispatcher.finish(), path)
    if failure is not None:
        report = dataclasses.replace(report, limits=(*report.limits, failure))
    return report


def parse_lines(lines: Iterable[str], *, path: Optional[str] = None) -> CrashReport:
    """Parse an iterable of lines (e.g. an open text file) into one report."""
    return _run(lambda d: feed_lines(lines, d), path)


def parse_text(text: str, *, path: Optional[str] = None) -> CrashReport:
    """Auto-detect the format of ``text`` and parse it."""
    return _run(lambda d: feed_chunks(text_chunks(text), d), path)


def parse_file(path: str) -> CrashReport:
    """Parse a log file (plain, gzip, xz or bzip2) streamed in pieces: bounded
    memory for huge logs and huge lines."""
    broken: List[str] = []
    errors: List[Exception] = []
    counted: List[int] = []

    def feed(d: Dispatcher) -> None:
        counted.append(feed_chunks(byte_chunks(f.read, on_error=errors.append), d))

    # open_log: decompression within a budget (a bomb is cut, and the cut is a limit), NULs dropped.
    with open_log(path) as f:
        report = _run(feed, path)
        limits = f.limits
    if errors:
        exc = errors[0]
        broken.append(f"log unreadable after line {counted[0] if counted else 0} ({exc}): analysed what came before")
        report = dataclasses.replace(report, notes=(*report.notes, *broken))
    if limits:
        report = dataclasses.replace(report, limits=(*report.limits, *limits))
    return report


def detect_format(text: str) -> str:
    """The shape of a text, as :attr:`Source.format` names it
    (``console+timestamps``, ``crash-session``, ``mixed``, ``vmcore-dmesg``...)."""
    fmt = parse_text(text).source.format
    return fmt or "unknown"
