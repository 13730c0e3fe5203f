"""Bytes to text, and text to lines, without ever failing."""

from __future__ import annotations

from typing import Callable, Iterator, Optional

from gsotriage.files import STREAM_ERRORS

__all__ = ["byte_chunks", "decode_bytes", "iter_lines", "text_chunks"]

CHUNK_BYTES = 1 << 20


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


def text_chunks(text: str, size: int = CHUNK_BYTES) -> Iterator[bytes]:
    """A string as newline-normalised UTF-8 pieces (so one huge line is cut like a streamed one)."""
    if "\0" in text:
        text = text.replace("\0", "")
    if "\r" in text:
        text = normalise_newlines(text)
    data = text.encode("utf-8", "replace")
    for start in range(0, len(data), size):
        yield data[start : start + size]


def byte_chunks(
    read: Callable[[int], bytes],
    size: int = CHUNK_BYTES,
    on_error: Optional[Callable[[Exception], None]] = None,
) -> Iterator[bytes]:
    """Read a binary stream in pieces: NULs dropped, CRLF and lone CR made
    newlines (also across piece boundaries). Bytes are decoded later, line by line."""
    held_cr = False
    while True:
        try:
            data = read(size)
        except STREAM_ERRORS as exc:  # a corrupt compressed stream (zlib.error is no OSError)
            if on_error is None:
                raise
            on_error(exc)
            data = b""
        final = not data
        if held_cr:
            data = b"\r" + data
            held_cr = False
        if data.endswith(b"\r") and not final:
            data, held_cr = data[:-1], True
        if b"\0" in data:
            data = data.replace(b"\0", b"")
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if data:
            yield data
        if final:
            return
