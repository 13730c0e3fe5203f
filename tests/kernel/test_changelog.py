"""--kernel-changelog: vendor changelogs settle what a backporting vendor's version cannot."""

from __future__ import annotations

from pathlib import Path

import pytest

from gsotriage.kernel.changelog import changelog_status, package_versions, parse_changelog
from gsotriage.match.engine import diagnose
from gsotriage.model import Kernel, report_from_dict
from tests.conftest import SIGNATURES

DATA = Path(__file__).resolve().parents[1] / "data" / "changelog"
RHEL = parse_changelog((DATA / "rhel-9.4-kernel.changelog-excerpt.txt").read_text(), "rhel.changelog")
UBUNTU = parse_changelog((DATA / "ubuntu-jammy-5.15.0-102.112-changelog-excerpt.txt").read_text(), "ubuntu.changelog")
RHEL_KERNEL = Kernel(release="5.14.0-427.1.1.el9_4.x86_64")
UBUNTU_KERNEL = Kernel(release="5.15.0-102-generic", version="#112-Ubuntu SMP Tue Mar 5 16:50:32 UTC 2024")


def test_formats_and_entries():
    assert RHEL.format == "rpm" and [e.version for e in RHEL.entries] == ["5.14.0-427.1.1.el9_4", "5.14.0-427.el9"]
    assert UBUNTU.format == "debian" and [e.version for e in UBUNTU.entries] == ["5.15.0-103.113", "5.15.0-102.112"]
    assert package_versions(UBUNTU_KERNEL)[0] == "5.15.0-102.112"
    assert RHEL.entry_index(RHEL_KERNEL) == 0 and UBUNTU.entry_index(UBUNTU_KERNEL) == 1


def test_wrapped_lines_are_one_item():
    items = [i.text for i in UBUNTU.entries[1].items]
    assert "- UBUNTU [Packaging]: Include erofs in linux-modules instead of linux-modules- extra" in items


def test_fixed_by_subject_with_the_line_relied_on():
    st = changelog_status(
        RHEL, RHEL_KERNEL, None, "net: mellanox: mlxbf_gige: Fix skb_panic splat under memory pressure"
    )
    assert st.state == "fixed"
    assert "rhel.changelog line 14 (entry 5.14.0-427.1.1.el9_4)" in st.basis and "(Luiz Capitulino)" in st.basis


def test_fixed_by_cve_header():
    st = changelog_status(UBUNTU, UBUNTU_KERNEL, "CVE-2024-23851", "some other subject")
    assert st.state == "fixed" and "line 39" in st.basis and "CVE-2024-23851" in st.basis


def test_not_fixed_names_what_was_looked_for():
    st = changelog_status(
        UBUNTU, UBUNTU_KERNEL, "CVE-2024-35884", "udp: do not accept non-tunnel GSO skbs landing in a tunnel"
    )
    assert st.state == "not-fixed"
    assert "from this kernel's entry 5.15.0-102.112 (line 9) down names neither CVE-2024-35884 nor" in st.basis


def test_only_entries_at_or_below_the_kernels_own_count():
    """The 427.1.1 entry is newer than a 5.14.0-427.el9 kernel: its lines do not fix that kernel."""
    older = Kernel(release="5.14.0-427.el9.x86_64")
    subject = "net: mellanox: mlxbf_gige: Fix skb_panic splat under memory pressure"
    assert changelog_status(RHEL, older, None, subject).state == "not-fixed"


def test_a_changelog_of_another_kernel_settles_nothing():
    st = changelog_status(RHEL, Kernel(release="4.18.0-553.47.1.el8_10.x86_64"), "CVE-2024-35884", None)
    assert st.state == "unknown" and "has no entry for 4.18.0-553.47.1.el8_10.x86_64" in st.basis


def test_not_a_changelog():
    with pytest.raises(ValueError, match="not a kernel changelog"):
        parse_changelog("# README\n\nsome text\n")


def test_diagnose_uses_the_changelog_for_unknown_fixes():
    """An Ubuntu kernel: version data says unknown; the changelog says not fixed, with its line."""
    from gsotriage.match.loader import load_library

    lib = load_library([SIGNATURES])
    report = report_from_dict(
        {
            "source": {"kind": "inline"},
            "kernel": {"release": UBUNTU_KERNEL.release, "version": UBUNTU_KERNEL.version},
            "panic": {"kind": "bug", "function": "skb_segment"},
            "frames": [{"function": "__udp_gso_segment"}, {"function": "udp4_ufo_fragment"}],
        }
    )
    sig = "udp-gro-nontunnel-gso-in-tunnel-socket"

    def state(**kw):
        v = next(v for v in diagnose(report, lib.signatures, **kw).verdicts if v.signature.id == sig)
        return v.fixes[0].status

    assert state().state == "unknown"
    with_cl = state(changelog=UBUNTU)
    assert with_cl.state == "not-fixed" and "ubuntu.changelog" in with_cl.basis
