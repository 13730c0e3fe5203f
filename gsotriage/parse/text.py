"""Bytes to text, and text to lines, without ever failing."""

from __future__ import annotations

import codecs
import lzma
from typing import Callable, Iterator, Optional

__all__ = ["decode_bytes", "decoded_chunks", "iter_lines", "text_chunks"]

CHUNK_CHARS = 1 << 20


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


def text_chunks(text: str, size: int = CHUNK_CHARS) -> Iterator[str]:
    """A string in pieces (so one huge line is cut like a streamed one)."""
    for start in range(0, len(text), size):
        yield text[start : start + size]


def decoded_chunks(
    read: Callable[[int], bytes],
    size: int = CHUNK_CHARS,
    on_error: Optional[Callable[[Exception], None]] = None,
) -> Iterator[str]:
    """Read a binary stream in pieces: UTF-8 (bad bytes become U+FFFD), NULs
    dropped, CRLF and lone CR made newlines (also across piece boundaries)."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    held_cr = False
    while True:
        try:
            data = read(size)
        except (EOFError, OSError, ValueError, lzma.LZMAError) as exc:  # a corrupt compressed stream
            if on_error is None:
                raise
            on_error(exc)
            data = b""
        final = not data
        text = decoder.decode(data, final=final)
        if held_cr:
            text = "\r" + text
            held_cr = False
        if text.endswith("\r") and not final:
            text, held_cr = text[:-1], True
        if "\0" in text:
            text = text.replace("\0", "")
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        if text:
            yield text
        if final:
            return
