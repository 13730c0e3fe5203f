"""The line feeders: every line once with its number, cut when overlong, and
skipped cheaply while the scanner is idle."""

from __future__ import annotations

import io
from typing import List, Tuple

from gsotriage.parse.lines import MAX_LINE, feed_chunks, feed_lines
from gsotriage.parse.text import byte_chunks, text_chunks


class Sink:
    def __init__(self, idle: bool = False) -> None:
        self._idle = idle
        self.lines: List[Tuple[int, str]] = []
        self.limits: List[str] = []

    @property
    def idle(self) -> bool:
        return self._idle

    def feed(self, n: int, line: str) -> None:
        self.lines.append((n, line))

    def limit(self, sentence: str) -> None:
        self.limits.append(sentence)


TEXT = "first\nBUG: second\n\nthird line é\nCall Trace:\nlast without newline"


def _pieces(data: bytes, size: int) -> List[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def test_every_line_once_whatever_the_chunk_boundaries() -> None:
    want = list(enumerate(TEXT.split("\n"), 1))
    data = TEXT.encode()
    for size in range(1, len(data) + 1):
        sink = Sink()
        assert feed_chunks(_pieces(data, size), sink) == len(want)
        assert sink.lines == want, size


def test_idle_sink_sees_only_keyword_lines_with_their_numbers() -> None:
    sink = Sink(idle=True)
    assert feed_chunks(text_chunks(TEXT), sink) == 6
    assert sink.lines == [(2, "BUG: second"), (5, "Call Trace:")]


def test_overlong_line_is_cut_and_reported() -> None:
    long = "x" * (10 * MAX_LINE)
    data = f"a\n{long}\nBUG: after\n".encode()
    sink = Sink()
    feed_chunks(_pieces(data, 1000), sink)
    assert sink.lines[1] == (2, "x" * MAX_LINE)
    assert sink.lines[2] == (3, "BUG: after")
    assert sink.limits == [f"line 2 is {10 * MAX_LINE} bytes long: only its first {MAX_LINE} were read"]


def test_overlong_last_line_without_newline() -> None:
    sink = Sink()
    feed_chunks(_pieces(b"y" * (MAX_LINE + 5), 7), sink)
    assert sink.lines == [(1, "y" * MAX_LINE)] and len(sink.limits) == 1


def test_feed_lines_cuts_and_filters_too() -> None:
    sink = Sink(idle=True)
    assert feed_lines(["noise\n", "RIP: 0010:f+0x1/0x2\r\n", "z" * (MAX_LINE + 1)], sink) == 3
    assert sink.lines == [(2, "RIP: 0010:f+0x1/0x2")]
    assert sink.limits and "line 3" in sink.limits[0]


def test_byte_chunks_drop_nuls_and_normalise_cr_across_pieces() -> None:
    raw = b"\x00a\r\nb\rc\r" + b"\nd\x00e"
    for size in range(1, len(raw) + 1):
        stream = io.BytesIO(raw)
        joined = b"".join(byte_chunks(stream.read, size))
        assert joined == b"a\nb\nc\nde", size


def test_byte_chunks_report_a_broken_stream() -> None:
    calls = iter([b"BUG: x\n", OSError("corrupt")])
    seen: List[Exception] = []

    def read(_size: int) -> bytes:
        item = next(calls)
        if isinstance(item, Exception):
            raise item
        return item

    assert b"".join(byte_chunks(read, 4, on_error=seen.append)) == b"BUG: x\n"
    assert len(seen) == 1
