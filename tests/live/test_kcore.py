"""``gsotriage analyze /proc/kcore``: the running kernel, exposure only.

On the host the outcome depends on the machine, and each outcome must be precise:
no /proc/kcore, not root, no debug info (names the package), or a live report.
"""

from __future__ import annotations

import json
import os
import platform

import pytest
from live_support import run_cli


def test_host_kcore_is_precise_never_a_traceback() -> None:
    p = run_cli("analyze", "/proc/kcore", "--format", "json", env={"GSOTRIAGE_NO_STANDARD_DEBUGINFO": "1"})
    assert "Traceback" not in p.stderr
    rel = platform.release()
    if not os.path.exists("/proc/kcore"):
        assert p.returncode == 3
        assert "/proc/kcore: this kernel has no /proc/kcore" in p.stderr
    elif os.geteuid() != 0:
        assert p.returncode == 3
        assert "/proc/kcore: reading the live kernel needs root" in p.stderr
    elif p.returncode == 3:
        # No debug info for the host kernel: say what to install.
        assert f"linux-image-{rel}-dbg" in p.stderr and "--vmlinux" in p.stderr, p.stderr
    else:
        doc = json.loads(p.stdout)
        assert p.returncode == 1 and doc["report"]["live"] is True
        assert doc["summary"]["root_cause"] is None and doc["report"]["panic"]["kind"] is None


def test_kcore_with_a_wrong_vmlinux_is_refused(tmp_path) -> None:
    if not os.path.exists("/proc/kcore") or os.geteuid() != 0:
        pytest.skip("needs root and /proc/kcore on the host")
    bogus = tmp_path / "vmlinux"
    bogus.write_bytes(b"not an elf")
    p = run_cli("analyze", "/proc/kcore", "--vmlinux", str(bogus))
    assert p.returncode == 3 and "Traceback" not in p.stderr
    assert "does not match" in p.stderr


def test_in_guest_kcore_over_virtiofs() -> None:
    # The issue asks for a guest that runs gsotriage against its own /proc/kcore with the
    # host root shared read-only over virtiofs (the cloud kernel has no 9p). Not done:
    pytest.skip(
        "in-guest /proc/kcore not exercised: the factory cache unpacks only vmlinuz and the -dbg vmlinux, "
        "but a virtiofs root needs fuse.ko + virtiofs.ko from linux-image-<rel>-cloud-amd64 in the guest's "
        "initramfs (the factory's initramfs carries only busybox, qemu_fw_cfg.ko and gsocrash.ko), plus "
        "virtiofsd on the host and a shared memory backend (-object memory-backend-memfd,share=on); "
        "the same collector code (_load/_report in gsotriage/collect/live.py) is exercised over QMP in test_qmp.py"
    )
