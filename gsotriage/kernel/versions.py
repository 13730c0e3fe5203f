"""Kernel versions: which upstream/stable base a distro kernel is built from, and
whether a fix is in it.

"Fixed" is only ever said with a basis: the upstream release or stable release
that carries the fix (from the signature's verified ``fixed_by`` data) and the
kernel's own stated base version. Backporting vendors (RHEL and its rebuilds,
Ubuntu, SUSE) stay "unknown": their version numbers say nothing about which
upstream fixes they carry.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Tuple

from gsotriage.model import Kernel

__all__ = ["FixStatus", "UpstreamBase", "fix_status", "parse_version", "upstream_base"]

Version = Tuple[int, ...]

_VERSION_RE = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?")


@functools.lru_cache(maxsize=4096)
def parse_version(text: Optional[str]) -> Optional[Version]:
    if not text:
        return None
    m = _VERSION_RE.match(text.strip())
    if not m:
        return None
    return (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))


def _fmt(v: Version) -> str:
    return ".".join(str(x) for x in v)


@dataclass(frozen=True)
class UpstreamBase:
    version: Optional[Version]
    vendor: str  # debian | ubuntu | rhel | fedora | suse | upstream | unknown
    basis: str
    assumed: bool = False


_DEBIAN_PKG = re.compile(r"Debian (\d+\.\d+\.\d+)(?:-\S+)?")
_DEBIAN_REL = re.compile(r"^(\d+\.\d+\.\d+)\+deb\d+")


_LAST_BASE: List[Any] = [None, None]  # (kernel, its base): every fix of every signature asks for the same kernel


def upstream_base(kernel: Kernel) -> UpstreamBase:
    if _LAST_BASE[0] is kernel:
        return _LAST_BASE[1]  # type: ignore[no-any-return]
    base = _upstream_base(kernel)
    _LAST_BASE[:] = [kernel, base]
    return base


def _upstream_base(kernel: Kernel) -> UpstreamBase:
    rel = kernel.release or ""
    ver = " ".join(x for x in (kernel.version, kernel.distro_version) if x)
    m = _DEBIAN_PKG.search(ver)
    if m:
        return UpstreamBase(
            parse_version(m.group(1)),
            "debian",
            f"Debian package version {m.group(0)} is built on upstream {m.group(1)}",
        )
    m = _DEBIAN_REL.match(rel)
    if m:
        return UpstreamBase(
            parse_version(m.group(1)), "debian", f"Debian release {rel} is built on upstream {m.group(1)}"
        )
    if re.search(r"\.el\d+", rel) or re.search(r"\.el\d+", ver):
        return UpstreamBase(
            None,
            "rhel",
            f"{rel} is a RHEL-family kernel: fixes are backported, the version number says nothing about them",
        )
    if "Ubuntu" in ver or re.search(r"-(generic|lowlatency|aws|azure|gcp|oracle|kvm|ibm)(-\S+)?$", rel):
        return UpstreamBase(
            None,
            "ubuntu",
            f"{rel} is an Ubuntu kernel: its ABI number does not encode the upstream stable base "
            "(check the Ubuntu CVE tracker)",
        )
    if re.search(r"-default$|\.g[0-9a-f]{7}-default", rel) or "SUSE" in ver:
        return UpstreamBase(None, "suse", f"{rel} is a SUSE kernel: fixes are backported")
    m = re.match(r"^(\d+\.\d+\.\d+)-\d+\.fc\d+", rel)
    if m:
        return UpstreamBase(parse_version(m.group(1)), "fedora", f"Fedora {rel} is rebased on stable {m.group(1)}")
    m = re.match(r"^(\d+\.\d+(?:\.\d+)?)", rel)
    if m:
        return UpstreamBase(
            parse_version(m.group(1)),
            "upstream",
            f"{rel} assumed to be an unmodified upstream/stable {m.group(1)} (no vendor recognised)",
            assumed=True,
        )
    return UpstreamBase(None, "unknown", "kernel release not known")


@dataclass(frozen=True)
class FixStatus:
    state: str  # fixed | not-fixed | not-affected | unknown | no-fix-known
    basis: str


_RC = re.compile(r"^\d+\.\d+(?:\.0)?-rc\d+")


def _series(v: Version) -> str:
    return f"{v[0]}.{v[1]}"


def fix_status(
    kernel: Kernel,
    first_release: Optional[str],
    stable: Sequence[str],
    *,
    introduced: Sequence[str] = (),
    affected_ranges: Sequence[Tuple[str, str]] = (),
    unlisted: Optional[str] = None,
) -> FixStatus:
    """Is a fix that landed upstream in ``first_release`` (e.g. "v6.16") and in the
    given stable releases (e.g. ["6.1.142", "6.6.94"]) in this kernel?

    The keyword arguments come from a CVE record's ``affected`` data (see
    gsotriage.cve.records): ``introduced`` are the upstream releases the bug entered
    in (older kernels never had it), ``affected_ranges`` are stable ranges
    ``(start, below)`` the record marks affected, and ``unlisted`` says what a
    stable series the record does not name is: "affected" (no fix was backported
    to it) or "unaffected". Without them a series with no recorded backport stays
    "unknown"."""
    if first_release is None and not stable and not affected_ranges:
        return FixStatus("no-fix-known", "no verified fix commit for this class")
    base = upstream_base(kernel)
    if base.version is None:
        return FixStatus("unknown", base.basis)
    v = base.version
    suffix = " (assumed)" if base.assumed else ""
    for start, below in affected_ranges:
        lo, hi = parse_version(start), parse_version(below)
        if lo is not None and hi is not None and lo <= v < hi:
            fixed_in = f"; the series is fixed in {below}" if hi[:2] == lo[:2] else "; no fix in this series"
            return FixStatus(
                "not-fixed", f"{base.basis}; the CVE record marks {start} up to {below} affected{fixed_in}{suffix}"
            )
    first = parse_version(first_release)
    rc = _RC.search(kernel.release or "")
    if rc and first is not None and v[:2] == first[:2]:
        # 6.5.0-rc3 precedes 6.5: the fix may have landed in a later -rc.
        return FixStatus(
            "unknown",
            f"{base.basis}; {kernel.release} is a release candidate of {first_release}, which carries the fix "
            f"(which -rc it landed in is not recorded){suffix}",
        )
    if first is not None and v[:2] >= first[:2]:
        return FixStatus("fixed", f"{base.basis}; the fix is upstream since {first_release}{suffix}")
    for start, below in affected_ranges:
        lo, hi = parse_version(start), parse_version(below)
        if lo is None or hi is None or lo[:2] != v[:2]:
            continue
        # The bug reached this series by a backport (the record's range for it).
        if v < lo:
            return FixStatus(
                "not-affected", f"{base.basis}; the bug reached the {_series(v)} series only in {start}{suffix}"
            )
        if hi[:2] == lo[:2]:
            return FixStatus("fixed", f"{base.basis}; the fix was backported in stable {below}{suffix}")
    series = [sv for sv in (parse_version(s) for s in stable) if sv is not None and sv[:2] == v[:2]]
    if series:
        sv = min(series)  # the first release of the series the record calls unaffected
        if v >= sv:
            return FixStatus("fixed", f"{base.basis}; the fix was backported in stable {_fmt(sv)}{suffix}")
        return FixStatus(
            "not-fixed",
            f"{base.basis}; the {_series(sv)} series got the fix in {_fmt(sv)}, this kernel is {_fmt(v)}{suffix}",
        )
    entered = [p for p in (parse_version(i) for i in introduced) if p is not None]
    if entered and v < min(entered):
        return FixStatus(
            "not-affected",
            f"{base.basis}; the bug entered upstream in {_fmt(min(entered))}, after this kernel's base{suffix}",
        )
    if unlisted == "affected" and first is not None:
        return FixStatus(
            "not-fixed",
            f"{base.basis}; the CVE record lists no fix for the {_series(v)} series (upstream fix in "
            f"{first_release}){suffix}",
        )
    if unlisted == "unaffected":
        return FixStatus(
            "not-affected", f"{base.basis}; the CVE record does not list the {_series(v)} series as affected{suffix}"
        )
    if first is not None and v[:2] < first[:2]:
        return FixStatus(
            "unknown",
            f"{base.basis}; the fix is upstream in {first_release} and no backport to {v[0]}.{v[1]} is recorded "
            f"(likely not fixed){suffix}",
        )
    return FixStatus("unknown", f"{base.basis}; no upstream release recorded for the fix")
