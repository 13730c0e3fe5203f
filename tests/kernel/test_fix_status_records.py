"""Is my kernel fixed, per stable branch, from the CVE records' data (gsotriage.kernel.versions)."""

from __future__ import annotations

import pytest

from gsotriage.cve.propose import fix_entry
from gsotriage.kernel.versions import fix_status
from gsotriage.model import Kernel
from tests.cve.conftest import record


def _status(cve: str, release: str, **kernel: str) -> str:
    e = fix_entry(record(cve))
    assert e is not None
    st = fix_status(
        Kernel(release=release, **kernel),
        e["first_release"],
        e.get("stable", []),
        introduced=e.get("introduced", ()),
        affected_ranges=[(r["from"], r["below"]) for r in e.get("affected_ranges", [])],
        unlisted=e.get("unlisted"),
    )
    return st.state


@pytest.mark.parametrize(
    "release,state",
    [
        ("6.1.85", "fixed"),  # the 6.1 backport
        ("6.1.84", "not-fixed"),
        ("6.9.1", "fixed"),  # upstream since 6.9
        ("6.7.3", "not-fixed"),  # the record lists no fix for 6.7
        ("5.4.200", "not-affected"),  # the bug entered in 5.6
        ("6.9.0-rc2", "unknown"),  # an -rc of the fix's release
    ],
)
def test_cve_2024_35884_per_branch(release, state):
    assert _status("CVE-2024-35884", release) == state


@pytest.mark.parametrize(
    "release,state",
    [
        ("6.1.100", "not-affected"),  # before the bug was backported (6.1.113)
        ("6.1.120", "not-fixed"),  # 6.1.113 <= v < 6.1.142
        ("6.1.150", "fixed"),
        ("6.10.20", "not-fixed"),  # 6.10.14+ carry the bug, no fix in 6.10
        ("6.13.2", "not-fixed"),  # 6.13 is unlisted and the record's default is affected
        ("6.16.1", "fixed"),
    ],
)
def test_cve_2025_38124_backported_bug(release, state):
    assert _status("CVE-2025-38124", release) == state


def test_merge_window_fix_has_no_affected_mainline():
    assert _status("CVE-2024-43897", "6.11.2") == "fixed"
    assert _status("CVE-2024-43897", "6.10.4") == "not-fixed"  # 6.10.3 got the bug, 6.10.5 the fix
    assert _status("CVE-2024-43897", "6.10.1") == "not-affected"
    assert _status("CVE-2024-43897", "5.10.100") == "not-affected"  # unlisted: unaffected


def test_debian_package_version_is_used():
    k = {"version": "#1 SMP PREEMPT_DYNAMIC Debian 6.1.85-1 (2024-04-11)"}
    assert _status("CVE-2024-35884", "6.1.0-20-amd64", **k) == "fixed"


def test_backporting_vendor_stays_unknown():
    assert _status("CVE-2024-35884", "4.18.0-553.47.1.el8_10.x86_64") == "unknown"
