"""Text parsers: console/kernel logs, kdump dmesg files and crash(8) transcripts
into a :class:`~gsotriage.model.CrashReport`.

Nothing here raises on bad input: a text without a crash gives a report whose
``panic.kind`` is None and whose notes say so. Logs are processed line by line
with bounded state, so hundreds of megabytes are fine.
"""

from __future__ import annotations

import bz2
import dataclasses
import gzip
import lzma
from typing import BinaryIO, Iterable, Iterator, List, Optional

from gsotriage.model import CrashReport, Source

from .assemble import NO_CRASH_NOTE, assemble
from .scanner import scan_lines
from .text import decode_bytes, iter_file_lines, iter_lines

__all__ = ["NO_CRASH_NOTE", "decode_bytes", "detect_format", "parse_file", "parse_lines", "parse_text"]


def parse_lines(lines: Iterable[str], *, path: Optional[str] = None) -> CrashReport:
    """Parse an iterable of lines (e.g. an open file) into one report."""
    try:
        return assemble(scan_lines(line.rstrip("\r\n") for line in lines), path)
    except Exception as exc:  # never raise on input; a parser bug becomes a note
        return CrashReport(
            source=Source("console", path, "unknown"),
            notes=(NO_CRASH_NOTE, f"parser error: {type(exc).__name__}: {exc}"),
        )


def parse_text(text: str, *, path: Optional[str] = None) -> CrashReport:
    """Auto-detect the format of ``text`` and parse it."""
    text = text.replace("\0", "").replace("\r\n", "\n").replace("\r", "\n")
    return parse_lines(iter_lines(text), path=path)


def parse_file(path: str) -> CrashReport:
    """Parse a log file (plain, gzip, xz or bzip2) streamed line by line: bounded
    memory for huge logs."""
    broken: List[str] = []
    with _open_log(path) as f:
        report = parse_lines(_until_unreadable(iter_file_lines(f), broken), path=path)
    if broken:
        report = dataclasses.replace(report, notes=(*report.notes, *broken))
    return report


def _until_unreadable(lines: Iterator[str], broken: List[str]) -> Iterator[str]:
    """Stop at a corrupt or truncated compressed stream, keeping what was read."""
    count = 0
    try:
        for line in lines:
            count += 1
            yield line
    except (EOFError, OSError, lzma.LZMAError, ValueError) as exc:
        broken.append(f"log unreadable after line {count} ({exc}): analysed what came before")


def _open_log(path: str) -> BinaryIO:
    with open(path, "rb") as probe:
        head = probe.read(6)
    if head.startswith(b"\x1f\x8b"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    if head.startswith(b"\xfd7zXZ\x00"):
        return lzma.open(path, "rb")  # type: ignore[return-value]
    if head.startswith(b"BZh"):
        return bz2.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def detect_format(text: str) -> str:
    """The shape of a text, as :attr:`Source.format` names it
    (``console+timestamps``, ``crash-session``, ``mixed``, ``vmcore-dmesg``...)."""
    fmt = parse_text(text).source.format
    return fmt or "unknown"
