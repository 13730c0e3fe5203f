"""File formats recognised by their first bytes: kernel dumps, compressed logs, text.

One table of magic numbers for input detection, batch discovery and the log
reader, so that "what is a gzip file" is answered in one place.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
from typing import BinaryIO, Callable, Optional, Tuple, cast

__all__ = [
    "COMPRESSIONS",
    "ELF_MAGIC",
    "ET_CORE",
    "FLAT_MAGIC",
    "KDUMP_MAGIC",
    "STREAM_ERRORS",
    "compression_of",
    "looks_like_text",
    "open_maybe_compressed",
]

ELF_MAGIC = b"\x7fELF"
ET_CORE = 4  # e_type of a core file (an ELF vmcore)
KDUMP_MAGIC = b"KDUMP   "  # diskdump/kdump-compressed header signature
FLAT_MAGIC = b"makedumpfile"  # makedumpfile -F flattened stream

Opener = Callable[[str], BinaryIO]

# (name, magic, opener). Rotated and exported logs often arrive compressed; the
# stdlib decompresses them as a stream.
COMPRESSIONS: Tuple[Tuple[str, bytes, Opener], ...] = (
    ("gzip", b"\x1f\x8b", lambda p: cast(BinaryIO, gzip.open(p, "rb"))),
    ("xz", b"\xfd7zXZ\x00", lambda p: cast(BinaryIO, lzma.open(p, "rb"))),
    ("bzip2", b"BZh", lambda p: cast(BinaryIO, bz2.open(p, "rb"))),
)

# What a corrupt or truncated compressed stream raises while being read.
STREAM_ERRORS = (EOFError, OSError, lzma.LZMAError, ValueError)


def compression_of(head: bytes) -> Optional[Tuple[str, Opener]]:
    """(name, opener) when ``head`` starts with a compression magic."""
    for name, magic, opener in COMPRESSIONS:
        if head.startswith(magic):
            return name, opener
    return None


def open_maybe_compressed(path: str) -> BinaryIO:
    """Open ``path`` for binary reading, decompressing gzip/xz/bzip2 as a stream."""
    with open(path, "rb") as probe:
        head = probe.read(8)
    found = compression_of(head)
    return found[1](path) if found else open(path, "rb")


def looks_like_text(head: bytes) -> bool:
    """A kernel log, perhaps with NUL padding (a console captured across a reset,
    a log file preallocated with zeros) or a few binary bytes: mostly printable.

    NULs are ignored rather than taken as proof of binary data: the kernel dump
    formats are recognised by their magic before this is asked.
    """
    body = head.replace(b"\0", b"")
    if not body:
        return not head  # an empty file is text; all NULs is not a log
    printable = sum(1 for b in body if b in (9, 10, 13) or 32 <= b < 127 or b >= 0x80)
    return printable / len(body) > 0.95
