"""Is this kernel fixed? Never 'fixed' without a basis; backporting vendors stay unknown."""

from __future__ import annotations

from gsotriage.kernel.versions import fix_status, upstream_base
from gsotriage.model import Kernel

RC07_STABLE = ["6.1.142", "6.6.94", "6.12.34", "6.15.3"]


def test_debian_package_version_is_the_upstream_base():
    k = Kernel(release="6.1.0-56-cloud-amd64", version="#1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (2026-01-01)")
    base = upstream_base(k)
    assert base.vendor == "debian" and base.version == (6, 1, 192)
    st = fix_status(k, "v6.16", RC07_STABLE)
    assert st.state == "fixed" and "6.1.142" in st.basis


def test_debian_kernel_older_than_the_stable_backport_is_not_fixed():
    k = Kernel(release="6.1.0-37-cloud-amd64", distro_version="Debian 6.1.140-1")
    st = fix_status(k, "v6.16", RC07_STABLE)
    assert st.state == "not-fixed" and "6.1.142" in st.basis and "6.1.140" in st.basis


def test_debian_backports_release_string_without_package_version():
    k = Kernel(release="6.12.117+deb12-cloud-amd64")
    assert upstream_base(k).version == (6, 12, 117)
    assert fix_status(k, "v6.16", RC07_STABLE).state == "fixed"


def test_ubuntu_kernel_is_unknown():
    k = Kernel(release="5.15.0-91-generic", version="#101-Ubuntu SMP Tue Nov 14 13:30:08 UTC 2023")
    st = fix_status(k, "v6.16", RC07_STABLE)
    assert st.state == "unknown" and "Ubuntu" in st.basis


def test_rhel_kernel_is_unknown_even_though_4_18_is_old():
    k = Kernel(release="4.18.0-553.47.1.el8_10.x86_64")
    st = fix_status(k, "v6.16", RC07_STABLE)
    assert st.state == "unknown" and "RHEL" in st.basis


def test_upstream_release_at_or_after_the_fix_is_fixed():
    assert fix_status(Kernel(release="6.17.2"), "v6.16", RC07_STABLE).state == "fixed"


def test_series_without_a_recorded_backport_is_unknown_not_fixed():
    st = fix_status(Kernel(release="5.15.100"), "v6.16", RC07_STABLE)
    assert st.state == "unknown"


def test_no_fix_known():
    assert fix_status(Kernel(release="6.1.0"), None, []).state == "no-fix-known"
