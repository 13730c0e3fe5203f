"""Collector pieces that need no dump: flattened reassembly, ELF build-id, taint, input errors, stack cuts."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from gsotriage.analysis import read_report
from gsotriage.collect import stack
from gsotriage.collect.elfinfo import elf_build_id
from gsotriage.collect.flattened import FlattenedError, reassemble
from gsotriage.collect.kernel import taint_string
from gsotriage.collect.program import debuginfo_packages, parse_vmcoreinfo
from gsotriage.errors import InputError


def _flattened(records: list, end: bool = True) -> bytes:
    head = b"makedumpfile".ljust(16, b"\0") + struct.pack(">qq", 1, 1)
    out = head.ljust(4096, b"\0")
    for offset, data in records:
        out += struct.pack(">qq", offset, len(data)) + data
    if end:
        out += struct.pack(">qq", -1, -1)
    return out


def _kdump_header(release: bytes = b"") -> bytes:
    uts = [b"", b"", release, b"", b"x86_64", b""]
    return b"KDUMP   " + struct.pack("<i", 6) + b"".join(u.ljust(65, b"\0") for u in uts)


def test_reassemble_places_records_and_repairs_utsname(tmp_path: Path) -> None:
    vmcoreinfo = b"OSRELEASE=6.1.0-56-cloud-amd64\nPAGESIZE=4096\n"
    src = tmp_path / "flat"
    src.write_bytes(_flattened([(0, _kdump_header()), (8192, vmcoreinfo), (20000, b"tail")]))
    out = reassemble(str(src), str(tmp_path))
    try:
        data = Path(out.path).read_bytes()
        assert data[8192 : 8192 + len(vmcoreinfo)] == vmcoreinfo
        assert data[20000:20004] == b"tail"
        assert data[12 : 12 + 5] == b"Linux"
        assert data[12 + 2 * 65 :].startswith(b"6.1.0-56-cloud-amd64\0")
        assert "release" in out.note
    finally:
        out.close()
    assert src.read_bytes().startswith(b"makedumpfile")  # the user's file is untouched


def test_reassemble_truncated(tmp_path: Path) -> None:
    src = tmp_path / "flat"
    src.write_bytes(_flattened([(0, _kdump_header(b"6.1.0"))], end=False))
    with pytest.raises(FlattenedError, match="no end marker"):
        reassemble(str(src), str(tmp_path))
    src.write_bytes(_flattened([(0, _kdump_header(b"6.1.0"))])[:-40])
    with pytest.raises(FlattenedError, match="truncated"):
        reassemble(str(src), str(tmp_path))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("gsotriage-")]


def test_elf_build_id(tmp_path: Path) -> None:
    note = struct.pack("<III", 4, 4, 3) + b"GNU\0" + bytes.fromhex("deadbeef")
    shoff = 64 + len(note)
    eh = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\0" * 8
    eh += struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0, 0, shoff, 0, 64, 56, 0, 64, 2, 0)
    null = b"\0" * 64
    sh = struct.pack("<IIQQQQIIQQ", 0, 7, 2, 0, 64, len(note), 0, 0, 4, 0)
    f = tmp_path / "vmlinux"
    f.write_bytes(eh + note + null + sh)
    assert elf_build_id(str(f)) == "deadbeef"
    (tmp_path / "text").write_text("not elf")
    assert elf_build_id(str(tmp_path / "text")) is None


def test_taint_string() -> None:
    raw, letters = taint_string((1 << 12) | (1 << 13))
    assert raw == "G           OE" and letters == ("O", "E")
    assert taint_string(0) == ("Not tainted", ())
    assert taint_string(1)[0] == "P"


def test_vmcoreinfo_and_packages() -> None:
    info = parse_vmcoreinfo("OSRELEASE=6.1.0-56-cloud-amd64\nBUILD-ID=ab\nSYMBOL(prb)=ffffffff81000000\n")
    assert info["OSRELEASE"] == "6.1.0-56-cloud-amd64" and info["SYMBOL(prb)"] == "ffffffff81000000"
    pkgs = debuginfo_packages("6.1.0-56-cloud-amd64")
    assert "linux-image-6.1.0-56-cloud-amd64-dbg" in pkgs and "kernel-debuginfo-6.1.0-56-cloud-amd64" in pkgs


def _user_core(path: Path) -> None:
    eh = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\0" * 8
    eh += struct.pack("<HHIQQQIHHHHHH", 4, 62, 1, 0, 64, 0, 0, 64, 56, 1, 64, 0, 0)
    ph = struct.pack("<IIQQQQQQ", 1, 6, 0x1000, 0x400000, 0, 0x1000, 0x1000, 0x1000)
    path.write_bytes((eh + ph).ljust(0x1000, b"\0") + b"\xaa" * 0x1000)


def test_bad_inputs(tmp_path: Path) -> None:
    empty = tmp_path / "vmcore.empty"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty file"):
        read_report(str(empty))
    rnd = tmp_path / "vmcore"
    rnd.write_bytes(bytes(range(256)) * 64)
    with pytest.raises(InputError, match="not a crash dump"):
        read_report(str(rnd))
    core = tmp_path / "core"
    _user_core(core)
    pytest.importorskip("drgn")
    with pytest.raises(InputError, match="userspace core dump"):
        read_report(str(core))
    flat = tmp_path / "vmcore.flat"
    flat.write_bytes(_flattened([(0, _kdump_header(b"6.1.0"))], end=False))
    with pytest.raises(InputError, match="flattened kdump: truncated"):
        read_report(str(flat))


def _helper_modules_after(code: str) -> list:
    import json
    import subprocess

    code = "PREFIX = 'drgn.helpers.linux.'\n" + code
    import sys

    out = subprocess.run(
        [
            sys.executable,
            "-c",
            code + "\nimport json, sys\nprint(json.dumps(sorted(m for m in sys.modules if m.startswith(PREFIX))))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)


def test_the_drgn_helpers_package_is_entered_without_importing_every_helper():
    lean = _helper_modules_after(
        "from gsotriage.collect.program import lean_drgn_helpers\nlean_drgn_helpers()\n"
        "from drgn.helpers.linux.printk import get_dmesg\nassert callable(get_dmesg)"
    )
    full = _helper_modules_after("import drgn.helpers.linux")
    assert "drgn.helpers.linux.printk" in lean and len(lean) < len(full)
    assert "drgn.helpers.linux.cgroup" in full and "drgn.helpers.linux.cgroup" not in lean
    # A package someone imported before is left as it is.
    before = _helper_modules_after(
        "import drgn.helpers.linux\nfrom gsotriage.collect.program import lean_drgn_helpers\nlean_drgn_helpers()\n"
        "import drgn.helpers.linux as p\nassert hasattr(p, 'get_dmesg')"
    )
    assert before == full


# ------------------------------------------------------------------ the frames the unwind vouches for


class _Arch:
    name = "X86_64"


class _Platform:
    arch = _Arch()


class _Prog:
    platform = _Platform()

    def symbol(self, address: int) -> None:
        assert address > 0, "looked up a symbol below address 1"
        raise LookupError(address)


class _Frame:
    def __init__(self, pc: int, interrupted: bool = False) -> None:
        self.pc, self.interrupted = pc, interrupted


_K = 0xFFFFFFFF81000000


def test_frames_past_a_system_calls_user_mode_registers_are_dropped() -> None:
    """drgn goes on unwinding user memory with kernel tables (0x0, 0x31: seen on a sysrq dump)."""
    frames = [_Frame(_K + 1), _Frame(_K + 2), _Frame(0x47B7A0, interrupted=True), _Frame(0), _Frame(0x31)]
    notes: list = []
    assert stack._vouched(_Prog(), frames, notes) == frames[:3]
    assert notes == []


def test_a_zero_return_address_ends_the_frames_with_a_note() -> None:
    """A stack page the dump lacks reads as zeros: pc 0 in the middle of the kernel stack."""
    frames = [_Frame(_K + 1), _Frame(_K + 2), _Frame(0), _Frame(_K + 3)]
    notes: list = []
    assert stack._vouched(_Prog(), frames, notes) == frames[:2]
    assert len(notes) == 1 and "frame #2" in notes[0] and "0x0" in notes[0]
    # Its return-address lookup (pc - 1 = -1) is no symbol, not an OverflowError.
    assert stack._symbol(_Prog(), 0, False) is None
