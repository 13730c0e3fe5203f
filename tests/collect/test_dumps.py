"""Collector behaviour on the factory's real dumps: bad copies, wrong vmlinux, crash directories."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from gsotriage.analysis import read_report
from gsotriage.errors import InputError

pytestmark = pytest.mark.vmcore


def test_truncated_kdump(seed_manifest: Any, tmp_path: Path) -> None:
    src = seed_manifest.file("kdump_makedumpfile")
    bad = tmp_path / "vmcore"
    with open(src, "rb") as f:
        bad.write_bytes(f.read(3_000_000))
    with pytest.raises(InputError, match=r"unreadable|cannot open"):
        read_report(str(bad), vmlinux=seed_manifest.file("vmlinux"))


def test_truncated_elf(seed_manifest: Any, tmp_path: Path) -> None:
    src = seed_manifest.file("elf")
    if not src:
        pytest.skip("no ELF dump kept for this scenario")
    bad = tmp_path / "vmcore.elf"
    with open(src, "rb") as f:
        bad.write_bytes(f.read(20_000_000))
    with pytest.raises(InputError, match="truncated"):
        read_report(str(bad), vmlinux=seed_manifest.file("vmlinux"))


def test_wrong_vmlinux(seed_manifest: Any) -> None:
    other = seed_manifest.file("module_ko") or seed_manifest.file("console")
    with pytest.raises(InputError, match="does not match the dump"):
        read_report(seed_manifest.file("kdump_makedumpfile"), vmlinux=other)


def test_vmlinux_found_in_debuginfo_dir(seed_manifest: Any, tmp_path: Path) -> None:
    d = tmp_path / "dbg"
    d.mkdir()
    os.symlink(seed_manifest.file("vmlinux"), d / "vmlinux-whatever")
    report = read_report(seed_manifest.file("kdump_makedumpfile"), debuginfo=[str(d)])
    assert not report.source.degraded and report.frames


@pytest.mark.parametrize("layout", ["rhel", "debian"])
def test_crash_dir(seed_manifest: Any, tmp_path: Path, layout: str) -> None:
    d = tmp_path / "127.0.0.1-2026-11-26-01:55:10"
    d.mkdir()
    dump, dmesg = ("vmcore", "vmcore-dmesg.txt") if layout == "rhel" else ("dump.202611260155", "dmesg.202611260155")
    # A hard link (or a copy), not a symlink: files symlinked out of a crash directory are not followed.
    _link_or_copy(seed_manifest.file("kdump_makedumpfile"), d / dump)
    shutil.copy(seed_manifest.file("console"), d / dmesg)
    report = read_report(str(d), vmlinux=seed_manifest.file("vmlinux"))
    assert report.source.kind == "vmcore" and report.skbs
    assert any(n.startswith("cross-check:") and "agrees" in n for n in report.notes)


def test_crash_dir_broken_dump_falls_back_to_dmesg(seed_manifest: Any, tmp_path: Path) -> None:
    d = tmp_path / "crash"
    d.mkdir()
    with open(seed_manifest.file("kdump_makedumpfile"), "rb") as f:
        (d / "vmcore").write_bytes(f.read(3_000_000))
    shutil.copy(seed_manifest.file("console"), d / "vmcore-dmesg.txt")
    report = read_report(str(d), vmlinux=seed_manifest.file("vmlinux"))
    assert report.source.degraded
    assert "could not be analysed" in report.notes[0]
    assert report.panic.function == seed_manifest.expect.get("exception_function")


def _link_or_copy(src: Any, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy(src, dst)


def test_a_system_call_stack_ends_at_its_user_mode_registers() -> None:
    """sysrq-trigger's crash runs in write(2): the dump's stack ends with the user-mode pc the
    system call saved (context ``user``), nothing unwound past it, and it is read from the dump
    (not the kernel log: a 0 return address past it once made the unwind fail)."""
    from manifests import discover

    dumps = [m for m in discover() if m.name.endswith("/neg-sysrq-crash") and m.file("kdump_makedumpfile")]
    if not dumps:
        pytest.skip("no neg-sysrq-crash dump")
    for m in dumps:
        report = read_report(m.file("kdump_makedumpfile"), vmlinux=m.file("vmlinux"))
        assert not any("frames taken from the kernel log" in n for n in report.notes), report.notes
        last = report.frames[-1]
        assert last.context.value == "user" and last.address is not None and not last.address >> 63, last
        assert [f.context.value for f in report.frames].count("user") == 1
        assert report.frames[-2].function.startswith("entry_SYSCALL_64"), report.frames[-2]
        assert report.frames_complete


def test_the_vmcoreinfo_log_reader_gives_drgns_get_dmesg_text_byte_for_byte() -> None:
    """The collector reads the log with VMCOREINFO's printk offsets, typed or not (drgn's
    get_dmesg() builds the printk types first: ~50 ms with BTF types). Same records, same
    text: one stamp per record, a multi-line record's further lines (skb_dump's) without."""
    import drgn
    from drgn.helpers.linux.printk import get_dmesg
    from manifests import discover

    from gsotriage.collect.dmesg import dmesg_from_vmcoreinfo
    from gsotriage.collect.program import read_vmcoreinfo

    dumps = [
        m for m in discover() if m.name.endswith("/warn-bad-offload-panic-on-warn") and m.file("kdump_makedumpfile")
    ]
    if not dumps:
        pytest.skip("no warn-bad-offload-panic-on-warn dump")
    for m in dumps:
        prog = drgn.Program()
        prog.set_core_dump(m.file("kdump_makedumpfile"))
        prog.load_debug_info([m.file("vmlinux")])
        ours = dmesg_from_vmcoreinfo(prog, read_vmcoreinfo(prog))
        assert ours == get_dmesg(prog).decode("utf-8", "replace"), m.name
        assert "\nmac=(" in ours, "the skb_dump record's further lines, unstamped"
