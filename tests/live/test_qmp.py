"""A running QEMU guest over QMP: an exposure report, never a claimed panic.

Boots the factory's cached Debian 6.1 cloud kernel with its initramfs, but with
``rdinit=/bin/sh`` instead of the factory's /init (which runs a scenario and powers
off): the shell reads the serial console, the test types the setup (mount /proc,
load qemu_fw_cfg so drgn finds VMCOREINFO, run the no-crash probe scenario so an
out-of-tree module is loaded) and the guest then idles at the prompt while
``gsotriage analyze qmp:SOCKET`` reads its memory. TCG by default (KVM answered
here but its guests print nothing, see fixtures/vmcores/factory/vm.py);
GSOTRIAGE_VMCORE_ACCEL=kvm forces KVM.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest
from live_support import Kernel, missing, run_cli

pytestmark = pytest.mark.vmcore

BOOT_TIMEOUT = 120.0
READY = "GSOTRIAGE-LIVE-READY-42"
PROBE = "fraglist-udp-partial-pull-probe"
# Typed at the guest's shell; $((6*7)) keeps the echoed command line from matching READY.
SETUP = (
    "/bin/busybox --install -s /bin; mount -t proc proc /proc; mount -t sysfs sysfs /sys; "
    "insmod /lib/qemu_fw_cfg.ko; insmod /lib/gsocrash.ko scenario=" + PROBE + "; "
    "echo GSOTRIAGE-LIVE-READY-$((6*7))\n"
)


class Guest:
    def __init__(self, kernel: Kernel, workdir: Path) -> None:
        self.kernel = kernel
        self.qmp = workdir / "qmp.sock"
        self.console = workdir / "console.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.boot_seconds = 0.0

    def text(self) -> str:
        try:
            return self.console.read_bytes().decode("utf-8", "replace")
        except OSError:
            return ""

    def start(self) -> None:
        accel = os.environ.get("GSOTRIAGE_VMCORE_ACCEL") or "tcg"
        cmd = [
            "qemu-system-x86_64",
            "-M", "q35", "-m", "256M", "-smp", "1",
            "-accel", accel, "-cpu", "host" if accel == "kvm" else "max",
            "-nographic", "-monitor", "none",
            "-chardev", "stdio,id=s0,signal=off", "-serial", "chardev:s0",
            "-no-reboot", "-nic", "none", "-device", "vmcoreinfo",
            "-qmp", f"unix:{self.qmp},server=on,wait=off",
            "-kernel", str(self.kernel.vmlinuz), "-initrd", str(self.kernel.initrd),
            "-append", "console=ttyS0 panic=0 loglevel=4 mitigations=off rdinit=/bin/sh",
        ]  # fmt: skip
        t0 = time.monotonic()
        log = self.console.open("wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        assert self.proc.stdin is not None
        sent = 0.0
        while READY not in self.text():
            if self.proc.poll() is not None:
                raise AssertionError(f"QEMU exited ({self.proc.returncode}):\n{self.text()[-3000:]}")
            if time.monotonic() - t0 > BOOT_TIMEOUT:
                raise AssertionError(f"guest not ready after {BOOT_TIMEOUT}s:\n{self.text()[-3000:]}")
            # Until the shell answers, re-type the setup (bytes sent before the UART is up are lost).
            if "/ # " in self.text() and time.monotonic() - sent > 5:
                self.proc.stdin.write(SETUP.encode())
                self.proc.stdin.flush()
                sent = time.monotonic()
            time.sleep(0.2)
        self.boot_seconds = time.monotonic() - t0

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.kill()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def guest(kernel61: Kernel, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Guest]:
    if shutil.which("qemu-system-x86_64") is None:
        missing("qemu-system-x86_64 is not installed (apt install qemu-system-x86)")
    import drgn

    if not hasattr(drgn.Program, "set_qemu_qmp"):
        missing(f"drgn {drgn.__version__} has no Program.set_qemu_qmp (drgn >= 0.3)")
    g = Guest(kernel61, tmp_path_factory.mktemp("qmp"))
    try:
        g.start()
        yield g
    finally:
        g.stop()


@pytest.fixture(scope="module")
def live_json(guest: Guest) -> dict:
    t0 = time.monotonic()
    p = run_cli("analyze", f"qmp:{guest.qmp}", "--vmlinux", str(guest.kernel.vmlinux), "--format", "json")
    took = time.monotonic() - t0
    assert p.returncode == 1, p.stderr
    assert p.stderr.strip() == "" or "Traceback" not in p.stderr, p.stderr
    doc = json.loads(p.stdout)
    doc["_seconds"] = {"boot": round(guest.boot_seconds, 1), "analyze": round(took, 1)}
    print("timings", doc["_seconds"])
    return doc


def test_live_report_claims_no_panic(live_json: dict, kernel61: Kernel) -> None:
    r = live_json["report"]
    assert r["live"] is True
    assert live_json["input"]["kind"] == "qmp" and live_json["input"]["degraded"] is False
    assert r["panic"]["kind"] is None and r["panic"]["function"] is None
    assert r["frames"] == [] and r["skbs"] == []
    assert r["kernel"]["release"] == kernel61.release
    if kernel61.package_version:
        assert kernel61.package_version.split("-")[0] in (r["kernel"]["distro_version"] or "")
    # Exit 1: nothing specific; no root cause is named for a kernel that has not crashed.
    s = live_json["summary"]
    assert s == {"root_cause": None, "status": None, "specific": False, "tie": False, "score": None, "exit_code": 1}
    assert any("no crash is claimed" in n for n in r["notes"])


def test_live_report_reads_the_guest(live_json: dict) -> None:
    net = live_json["report"]["net"]
    devs = {d["name"]: d for d in net["devices"]}
    assert "lo" in devs, devs.keys()
    assert "loopback" in devs["lo"]["features"] and "rx-gro-list" in devs["lo"]["hw_features"]
    mods = live_json["report"]["modules"]
    assert "qemu_fw_cfg" in mods and "gsocrash" in mods, mods
    assert "gsocrash" in net["out_of_tree_modules"]
    assert "O" in live_json["report"]["kernel"]["taint_flags"]
    assert net["bpf_programs"] == []


def test_exposure_per_signature(live_json: dict) -> None:
    exp = live_json["exposure"]
    assert exp["claims_panic"] is False
    assert exp["bpf_programs"] == []
    assert isinstance(exp["kernel_log_events"], list)
    sigs = {s["signature"]: s for s in exp["signatures"]}
    # Debian 6.1.192 carries 3382a1ed7f77 (6.1.142): the probe the guest just ran survived.
    fraglist = sigs["udp-fraglist-partial-pull-skb-segment"]
    assert fraglist["fix"] == "fixed"
    assert [(f["commit"][:12], f["this_kernel"]) for f in fraglist["fixed_by"]] == [("3382a1ed7f77", "fixed")]
    # Reachability is what the guest has: lo's active features, no BPF.
    uso = sigs["udp-uso-ipv6-exthdr-no-csum-offload-bad-offload-warn"]
    assert {"clause": "net device on=['tx-udp-segmentation'], off=['tx-checksum-ipv6']", "observed": "lo"} in uso[
        "reachable_by"
    ]
    assert not any(s["signature"].startswith("generic-") for s in exp["signatures"])
    for s in exp["signatures"]:
        assert s["fix"] in ("fixed", "not-fixed", "unknown", "no-fix-known")


def test_text_says_exposure(guest: Guest) -> None:
    p = run_cli("analyze", f"qmp:{guest.qmp}", "--vmlinux", str(guest.kernel.vmlinux))
    assert p.returncode == 1, p.stderr
    out = p.stdout
    assert "live kernel (no panic: exposure report)" in out
    assert "Exposure of this running kernel (no crash is claimed, no root cause named)" in out
    row = next(ln for ln in out.splitlines() if ln.startswith("udp-fraglist-partial-pull-skb-segment "))
    assert "fixed (3382a1ed7f77" in row, row
    assert "MATCH" not in out and "PARTIAL" not in out and "Differential" not in out


def test_qmp_without_debuginfo_names_the_package(guest: Guest, kernel61: Kernel) -> None:
    p = run_cli("analyze", f"qmp:{guest.qmp}", env={"GSOTRIAGE_NO_STANDARD_DEBUGINFO": "1"})
    assert p.returncode == 3, (p.returncode, p.stdout, p.stderr)
    assert "Traceback" not in p.stderr
    assert f"linux-image-{kernel61.release}-dbg" in p.stderr and "--vmlinux" in p.stderr


def test_qmp_wrong_vmlinux_is_refused(guest: Guest, tmp_path: Path) -> None:
    bogus = tmp_path / "vmlinux"
    bogus.write_bytes(b"not an elf")
    p = run_cli("analyze", f"qmp:{guest.qmp}", "--vmlinux", str(bogus))
    assert p.returncode == 3 and "Traceback" not in p.stderr, p.stderr
    assert "does not match" in p.stderr
