"""The examples of issue 11, on their real texts (sources in tests/data/text/SOURCES.md
and signatures/cases/SOURCES.md): each once gave "no oops found" or no function."""

from __future__ import annotations

from pathlib import Path

from gsotriage.model import PanicKind
from gsotriage.parse import parse_file

ROOT = Path(__file__).resolve().parent.parent.parent
TEXT = ROOT / "tests" / "data" / "text"
CASES = ROOT / "signatures" / "cases"


def test_fix_commit_trace_with_mediatek_prefixes() -> None:
    for path in (
        CASES / "commit-3382a1ed7f77-skb_segment-bug-mtk.txt",
        TEXT / "mtk-6.6-patch-posting-kernel-bug-skb_segment-name-tags-caller-comm.txt",
    ):
        p = parse_file(str(path)).panic
        assert (p.kind, p.function, p.bug_file, p.bug_line) == (PanicKind.BUG, "skb_segment", "net/core/skbuff.c", 4278)


def test_quoted_android_backtrace_names_the_trapping_function() -> None:
    r = parse_file(str(TEXT / "android-6.6-mail-quoted-full-backtrace-udp_gso_segment-wrapped-cpu-line.txt"))
    assert r.panic.kind is PanicKind.PAGING_FAULT  # do_page_fault above el1h_64_sync
    assert r.panic.function == "__udp_gso_segment" and r.panic.guilty == "__udp_gso_segment"
    assert r.kernel.release == "6.6.17-android15-0-g380371ea9bf1"  # from the mailer-wrapped CPU line


def test_quoted_android_excerpt_is_a_crash_with_frames() -> None:
    r = parse_file(str(TEXT / "android-6.6-mail-quoted-excerpt-wrapped-cpu-line-and-frames-udp_gso_segment.txt"))
    assert r.panic.kind is PanicKind.OTHER and r.panic.guilty == "__udp_gso_segment"
    assert [f.function for f in r.frames][:2] == ["__udp_gso_segment", "__skb_gso_segment"]
    assert not r.frames_complete


def test_old_x86_null_deref_at_null_wording() -> None:
    for name, function in (
        ("rhel7-3.10-syslog-mail-quoted-null-deref-at-null-aer_inject.txt", "aer_inj_read_config"),
        (
            "rhel7-3.10-commit-message-null-deref-at-null-ip-and-rip-lines-qla2xxx.txt",
            "qla_nvme_unregister_remote_port",
        ),
    ):
        p = parse_file(str(TEXT / name)).panic
        assert (p.kind, p.function, p.fault_address) == (PanicKind.NULL_DEREF, function, 0), name
    sysrq = parse_file(str(TEXT / "ubuntu-3.0-serverguide-sysrq-crash-null-deref-at-null.txt")).panic
    assert (sysrq.kind, sysrq.function) == (PanicKind.SYSRQ, "sysrq_handle_crash")
