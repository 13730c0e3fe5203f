"""What ``uname -r`` / ``uname -v`` strings say about a kernel build: the distro
package it came from and its architecture."""

from __future__ import annotations

import re
from typing import Optional

__all__ = ["arch_from_release", "distro_version"]

# (pattern over "release version", builder) -> the distro's package version.
_DEBIAN = re.compile(r"\b(Debian \d\S*)")
_UBUNTU_SIG = re.compile(r"\bUbuntu (\d+\.\d+\.\d+-\d+\.\d+)")
_UBUNTU_ABI = re.compile(r"^(\d+\.\d+\.\d+-\d+)-[a-z]")
_UBUNTU_UPLOAD = re.compile(r"#(\d+)(?:~[\w.]+)?-Ubuntu")
_RHEL = re.compile(r"^(\d+\.\d+\.\d+-[\d.]+\.el\d+(?:_\d+)?)")


def distro_version(release: Optional[str], version: Optional[str], signature: Optional[str] = None) -> Optional[str]:
    """The distro package version: ``Debian 6.1.192-2``, ``Ubuntu 5.15.0-91.101``,
    ``RHEL 4.18.0-553.47.1.el8_10``; None when the strings do not say."""
    text = " ".join(x for x in (version, signature) if x)
    m = _DEBIAN.search(text)
    if m:
        return m.group(1)
    m = _UBUNTU_SIG.search(text)
    if m:
        return f"Ubuntu {m.group(1)}"
    if release:
        m_abi = _UBUNTU_ABI.match(release)
        m_up = _UBUNTU_UPLOAD.search(text)
        if m_abi and m_up:
            # 5.15.0-91-generic + "#101-Ubuntu" is the package 5.15.0-91.101.
            return f"Ubuntu {m_abi.group(1)}.{m_up.group(1)}"
        m = _RHEL.match(release)
        if m:
            return f"RHEL {m.group(1)}"
    return None


_ARCH_HINTS = (
    (re.compile(r"(?:x86_64|amd64)"), "x86_64"),
    (re.compile(r"(?:aarch64|arm64)"), "arm64"),
)


def arch_from_release(release: Optional[str]) -> Optional[str]:
    if not release:
        return None
    for pattern, arch in _ARCH_HINTS:
        if pattern.search(release):
            return arch
    return None
