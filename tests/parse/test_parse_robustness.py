"""Bad input never raises; streaming keeps bounded state; bytes are decoded safely."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from gsotriage.model import PanicKind, report_from_dict, report_to_dict
from gsotriage.parse import NO_CRASH_NOTE, decode_bytes, detect_format, parse_lines, parse_text
from tests.conftest import CONSOLE_61, SEED

DATA = Path(__file__).resolve().parent.parent / "data" / "text"


def test_empty_text_is_not_a_crash() -> None:
    report = parse_text("")
    assert report.panic.kind is None
    assert report.frames == ()
    assert report.notes[0] == NO_CRASH_NOTE


def test_log_without_oops() -> None:
    text = "\n".join(f"[  {i}.000000] usb 1-1: new high-speed USB device number {i}" for i in range(200))
    report = parse_text(text)
    assert report.panic.kind is None
    assert report.panic.function is None
    assert NO_CRASH_NOTE in report.notes


@pytest.mark.parametrize("seed", range(25))
def test_random_bytes_never_raise(seed: int) -> None:
    rng = random.Random(seed)
    data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 20000)))
    report = parse_text(decode_bytes(data))
    assert report.source.kind in ("console", "crash", "dmesg")
    report_from_dict(report_to_dict(report))  # and it round-trips


@pytest.mark.parametrize("seed", range(25))
def test_shuffled_real_lines_never_raise(seed: int) -> None:
    lines = (DATA / "crash-8-session-sys-bt-struct-sk_buff-shinfo-log.txt").read_text().splitlines()
    lines += CONSOLE_61.read_text().splitlines()
    rng = random.Random(seed)
    rng.shuffle(lines)
    cut = [line[: rng.randrange(len(line) + 1)] for line in lines]
    parse_text("\n".join(cut))


def test_non_utf8_bytes_and_nuls() -> None:
    raw = CONSOLE_61.read_bytes().replace(b"kworker/0:0", b"kw\xff\xfeker\x00")
    text = decode_bytes(raw)
    assert "\0" not in text
    report = parse_text(text)
    assert report.panic.kind is PanicKind.NULL_DEREF
    assert report.panic.comm == "kw\ufffd\ufffdker"


def test_decode_bytes_normalises_newlines() -> None:
    assert decode_bytes(b"a\r\nb\rc\n\x00d") == "a\nb\nc\nd"


def test_crlf_console() -> None:
    report = parse_text(CONSOLE_61.read_text().replace("\n", "\r\n"))
    assert report.panic.function == "skb_segment"
    assert report.frames_complete


def test_oops_in_the_middle_of_2mb_noise() -> None:
    noise = [f"[{i / 1000:12.6f}] eth0: link is up, 10000 Mbps, full duplex, flow control rx/tx" for i in range(28000)]
    oops = CONSOLE_61.read_text().splitlines()
    lines = noise[:14000] + oops + noise[14000:]
    text = "\n".join(lines)
    assert len(text) > 2_000_000
    report = parse_lines(iter(text.splitlines(keepends=True)))
    assert report.panic.kind is PanicKind.NULL_DEREF
    assert report.panic.fault_address == 0x70
    assert report.panic.offset == 0x24C
    assert [f.function for f in report.frames if not f.questionable][:3] == [
        "tcp_gso_segment",
        "inet_gso_segment",
        "skb_mac_gso_segment",
    ]


def test_many_warns_keep_bounded_summaries() -> None:
    warn = (
        "WARNING: CPU: 0 PID: 1 at net/core/dev.c:3215 skb_warn_bad_offload+0x8d/0x100\n"
        "Call Trace:\n <TASK>\n __skb_gso_segment+0x12f/0x170\n </TASK>\n---[ end trace 0 ]---\n"
    )
    report = parse_text(warn * 500)
    assert report.panic.message is not None and report.panic.message.startswith("WARNING:")
    assert len(report.other_events) == 64
    assert any("further events not listed" in limit for limit in report.limits)


def test_detect_format() -> None:
    assert detect_format(CONSOLE_61.read_text()) == "console+timestamps"
    assert detect_format(SEED.read_text()) == "mixed"
    assert detect_format((DATA / "crash-8-session-sys-bt-struct-sk_buff-shinfo-log.txt").read_text()) == "crash-session"
    assert detect_format("  #1 [ffff] foo at ffffffff81000000\n  #2 [ffff] bar at ffffffff81000010\n") == "crash-bt"


def test_dmesg_kind_from_file_name() -> None:
    text = CONSOLE_61.read_text()
    assert parse_text(text, path="/var/crash/127.0.0.1-2025/vmcore-dmesg.txt").source.kind == "dmesg"
    assert parse_text(text, path="/var/crash/202611260101/dmesg.202611260101").source.format == "kdump-tools-dmesg"
    assert parse_text(text, path="/tmp/console.log").source.kind == "console"


# ---------------------------------------------------------------- bounds (issue 11)


def _with_markers(count: int) -> str:
    lines = CONSOLE_61.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if "Call Trace:" in line) + 1
    return "\n".join(lines[:at] + [" <IRQ>"] * count + lines[at:]) + "\n"


def test_a_thousand_irq_markers_neither_recurse_nor_lose_the_crash() -> None:
    report = parse_text(_with_markers(1000))
    assert report.panic.kind is PanicKind.NULL_DEREF and report.panic.function == "skb_segment"
    assert [f.function for f in report.frames if not f.questionable][:1] == ["tcp_gso_segment"]
    assert any("nested stack-context markers" in limit for limit in report.limits)


def test_a_thousand_markers_on_one_line() -> None:
    lines = CONSOLE_61.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if "Call Trace:" in line) + 1
    report = parse_text("\n".join([*lines[:at], " <IRQ>" * 1000, *lines[at:]]) + "\n")
    assert report.panic.kind is PanicKind.NULL_DEREF and report.panic.function == "skb_segment"
    assert any("nested stack-context markers" in limit for limit in report.limits)
    assert any("bytes long: only its first" in limit for limit in report.limits)


def test_markers_on_one_line_with_a_frame() -> None:
    text = _with_markers(0).replace("Call Trace:", "Call Trace:\n <IRQ> <NMI> </NMI> tcp_gso_segment+0x1/0x10", 1)
    report = parse_text(text)
    assert report.frames[0].function == "tcp_gso_segment" and report.frames[0].context.value == "irq"


def test_megabytes_of_newlines_then_a_crash() -> None:
    text = "\n" * 5_000_000 + CONSOLE_61.read_text()
    report = parse_text(text)
    assert report.panic.kind is PanicKind.NULL_DEREF
    assert report.panic.function == "skb_segment"


def test_newlines_inside_an_open_trace_end_it() -> None:
    lines = CONSOLE_61.read_text().split("\n")
    at = next(i for i, line in enumerate(lines) if "Call Trace:" in line) + 3
    report = parse_text("\n".join(lines[:at]) + "\n" * 2_000_000)
    assert report.panic.function == "skb_segment" and report.frames
    assert not report.frames_complete


def test_an_overlong_line_is_cut_and_the_crash_after_it_is_found() -> None:
    text = "x" * 3_000_000 + "\n" + CONSOLE_61.read_text()
    report = parse_text(text)
    assert report.panic.function == "skb_segment"
    assert report.limits == ("line 1 is 3000000 bytes long: only its first 4096 were read",)


def test_nul_bytes_anywhere_and_a_leading_nul() -> None:
    raw = b"\x00\x00" + CONSOLE_61.read_bytes().replace(b"Call Trace:", b"Call\x00 Trace:")
    report = parse_text(decode_bytes(raw))
    assert report.panic.kind is PanicKind.NULL_DEREF and report.frames


def test_a_parser_failure_keeps_what_was_read(monkeypatch: pytest.MonkeyPatch) -> None:
    from gsotriage.parse import console

    original = console.ConsoleScanner.feed
    text = CONSOLE_61.read_text() + "".join(f"noise {i}\n" for i in range(300)) + "Kernel panic - not syncing: boom\n"

    def failing(self: console.ConsoleScanner, n: int, line: str, *args: object) -> None:
        if line.startswith("Kernel panic - not syncing: boom"):
            raise RuntimeError("synthetic parser bug")
        original(self, n, line, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(console.ConsoleScanner, "feed", failing)
    report = parse_text(text)
    assert report.panic.kind is PanicKind.NULL_DEREF and report.panic.function == "skb_segment"
    assert NO_CRASH_NOTE not in report.notes
    assert any(
        limit.startswith("the parser failed at line") and "synthetic parser bug" in limit for limit in report.limits
    )


def test_foreign_lines_inside_a_trace_do_not_end_it() -> None:
    # Synthetic: netfilter LOG lines printed by another CPU between two frames (no caller ids).
    lines = CONSOLE_61.read_text().split("\n")
    at = next(i for i, line in enumerate(lines) if "tcp_gso_segment" in line) + 1
    nf = "[  100.000000] reject wan forward: IN=pppoe-wan OUT=br-lan MAC= SRC=10.0.0.1 DST=10.0.0.2 PROTO=UDP"
    report = parse_text("\n".join([*lines[:at], nf, nf, *lines[at:]]))
    base = parse_text(CONSOLE_61.read_text())
    assert [f.function for f in report.frames] == [f.function for f in base.frames]
    assert report.frames_complete == base.frames_complete


def test_an_elision_makes_the_trace_incomplete() -> None:
    lines = CONSOLE_61.read_text().split("\n")
    at = next(i for i, line in enumerate(lines) if "tcp_gso_segment" in line) + 1
    report = parse_text("\n".join([*lines[:at], "...", *lines[at:]]))
    assert not report.frames_complete
