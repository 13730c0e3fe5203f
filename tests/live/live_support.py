"""Helpers for tests/live: the vmcore factory's cached kernel and the CLI as a user runs it.

Same skip/require rules as tests/vmcore: without the factory's cache these tests skip
("no vmcore fixtures: run fixtures/vmcores/build"), and GSOTRIAGE_REQUIRE_VMCORES=1
turns that skip into a failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "vmcore"))

from manifests import SKIP_REASON, Manifest, discover, require

REPO = Path(__file__).resolve().parents[2]
SERIES = "6.1"
SEED = "seed-udp-tunnel-tcp-null-list-skb"


def missing(reason: str = SKIP_REASON) -> None:
    if require():
        pytest.fail(f"GSOTRIAGE_REQUIRE_VMCORES=1 but {reason}")
    pytest.skip(reason)


@dataclass(frozen=True)
class Kernel:
    """One cached factory kernel: what a guest boots and what drgn needs."""

    release: str
    package_version: Optional[str]
    vmlinuz: Path
    vmlinux: Path
    initrd: Path
    manifests: List[Manifest]


def factory_kernel(series: str = SERIES) -> Kernel:
    """The cached kernel of ``series``: <cache>/_kernels/<rel>/root/boot/vmlinuz-<rel>,
    the -dbg vmlinux, and the newest <cache>/<rel>/_artifacts/<key>/initrd.gz."""
    ms = [m for m in discover() if (m.data.get("kernel") or {}).get("series") == series]
    if not ms:
        missing()
    m = ms[0]
    rel = m.data["kernel"]["release"]
    root = m.path.parents[1]  # <cache>/<rel>
    cache = root.parent
    vmlinuz = cache / "_kernels" / rel / "root" / "boot" / f"vmlinuz-{rel}"
    vmlinux = Path(m.file("vmlinux") or cache / "_kernels" / rel / "root" / "usr/lib/debug/boot" / f"vmlinux-{rel}")
    initrds = sorted((root / "_artifacts").glob("*/initrd.gz"), key=lambda p: p.stat().st_mtime)
    for what, p in (("vmlinuz", vmlinuz), ("vmlinux", vmlinux)):
        if not p.is_file():
            missing(f"factory cache for {rel} has no {what} ({p}): run fixtures/vmcores/build")
    if not initrds:
        missing(f"factory cache for {rel} has no initrd ({root}/_artifacts/*/initrd.gz): run fixtures/vmcores/build")
    return Kernel(rel, m.data["kernel"].get("package_version"), vmlinuz, vmlinux, initrds[-1], ms)


def run_cli(*args: str, env: Optional[dict] = None, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    """``python -m gsotriage ARGS`` as a user runs it (no colour, plain text)."""
    e = {**os.environ, "NO_COLOR": "1", **(env or {})}
    e.pop("FORCE_COLOR", None)
    return subprocess.run(
        [sys.executable, "-m", "gsotriage", *args],
        capture_output=True,
        text=True,
        env=e,
        timeout=timeout,
        cwd=kw.pop("cwd", REPO),
        **kw,
    )
