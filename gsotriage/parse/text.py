"""Bytes to text, and text to lines, without ever failing."""

from __future__ import annotations

from typing import BinaryIO, Iterator

__all__ = ["decode_bytes", "iter_lines"]


def decode_bytes(data: bytes) -> str:
    """Decode a log as UTF-8 (bad bytes become U+FFFD), drop NULs, normalise CRLF/CR to LF."""
    text = data.decode("utf-8", errors="replace")
    return normalise_newlines(text.replace("\0", ""))


def normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def iter_lines(text: str) -> Iterator[str]:
    """Yield lines lazily (no list of a 500 MB log's lines is ever built)."""
    start = 0
    length = len(text)
    while start < length:
        end = text.find("\n", start)
        if end < 0:
            yield text[start:]
            return
        yield text[start:end]
        start = end + 1


def iter_file_lines(f: BinaryIO) -> Iterator[str]:
    """Decode a binary stream line by line with bounded memory: UTF-8 with
    replacement, NULs dropped, CRLF and lone CR treated as line ends."""
    for raw in f:
        text = raw.decode("utf-8", errors="replace").replace("\0", "")
        text = text.rstrip("\n").rstrip("\r")
        if "\r" in text:
            yield from text.split("\r")
        else:
            yield text
