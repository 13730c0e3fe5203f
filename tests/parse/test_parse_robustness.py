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
