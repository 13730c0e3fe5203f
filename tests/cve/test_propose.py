"""Proposals from real records: distinctive required clauses, supporting evidence, rejections."""

from __future__ import annotations

from gsotriage.cve.propose import Proposal, Rejected, combine, fix_entry, frame_pattern, propose, required_key
from gsotriage.kernel.frames import PLUMBING
from tests.cve.conftest import analysed, record


def _propose(cve, hubs=frozenset()):
    a = analysed(cve)
    return propose(a.record, a.scope, a.report, a.stack, hubs)


def test_fou_gro_class():
    p = _propose("CVE-2024-46763")
    assert isinstance(p, Proposal)
    req = p.doc["match"]["required"]
    assert req[0]["crash_site"] == "fou_gro_receive"
    assert req[1]["frames"] == ["fou_gro_receive", "udp_gro_receive"]
    kinds = [next(iter(c)) for c in p.doc["match"]["supporting"]]
    assert "panic_kind" in kinds
    sup_frames = [c["frames"][0] for c in p.doc["match"]["supporting"] if "frames" in c]
    assert "udp4_gro_receive|udp6_gro_receive" in sup_frames
    assert not any("ena_" in f for f in sup_frames)  # the NIC's poll is where the skb came from, not the class
    assert p.doc["maturity"] == "mined" and p.doc["fixed_by"][0]["cve"] == "CVE-2024-46763"


def test_required_clauses_never_name_plumbing():
    for cve in ("CVE-2024-46763", "CVE-2022-49691", "CVE-2023-53053"):
        p = _propose(cve)
        assert isinstance(p, Proposal)
        for clause in p.doc["match"]["required"]:
            names = clause.get("frames") or [clause.get("crash_site")]
            for name in names:
                for alt in name.split("|"):
                    assert not PLUMBING.match(alt), (cve, alt)


def test_a_crash_site_many_records_share_does_not_decide():
    """fou_gro_receive as a hub: the class is named only when its chain is seen."""
    p = _propose("CVE-2024-46763", hubs={"fou_gro_receive"})
    assert isinstance(p, Proposal)
    assert [next(iter(c)) for c in p.doc["match"]["required"]] == ["frames"]
    assert p.doc["match"]["supporting"][0]["crash_site"] == "fou_gro_receive"


def test_site_only_class_at_a_hub_is_rejected():
    p = _propose("CVE-2022-49691", hubs={"ip6erspan_tunnel_xmit"})
    assert isinstance(p, Rejected) and "many records" in p.reason


def test_two_fixes_with_one_crash_site_become_one_class():
    a, b = _propose("CVE-2022-49691"), _propose("CVE-2023-53053")
    assert isinstance(a, Proposal) and isinstance(b, Proposal)
    assert required_key(a) == required_key(b)
    both = combine([a, b], ["CVE-2022-49691", "CVE-2023-53053"], ["x", "y"])
    assert [f["cve"] for f in both.doc["fixed_by"]] == ["CVE-2022-49691", "CVE-2023-53053"]
    assert "2 fixes" in both.doc["title"]


def test_rejections():
    assert "KCSAN" in _propose("CVE-2023-53109").reason
    assert "stack overflow" in _propose("CVE-2026-23276").reason
    # The frame list is quoted before the BUG: the parser gives it to the report whose site it
    # starts with, so the class is the site plus its chain, which a hub site alone is not.
    p = _propose("CVE-2025-38124")
    assert isinstance(p, Proposal) and p.chain == ("skb_segment", "__udp_gso_segment")
    hub = _propose("CVE-2025-38124", hubs={"skb_segment"})
    assert isinstance(hub, Proposal) and hub.chain == ("skb_segment", "__udp_gso_segment")


def test_fix_entry_is_schema_shaped():
    e = fix_entry(record("CVE-2024-35884"))
    assert e is not None
    assert e["first_release"] == "v6.9" and e["fixes"] == "9fd1ff5d2ac7" and e["introduced"] == ["5.6"]
    assert e["stable_commits"]["6.1.85"].startswith("d1224508")
    assert e["verified_by"][0].startswith("https://git.kernel.org/pub/scm/linux/security/vulns.git/")


def test_frame_patterns_cover_the_other_address_family():
    assert frame_pattern("udp4_gro_receive") == "udp4_gro_receive|udp6_gro_receive"
    assert (
        frame_pattern("__udpv6_gso_segment_list_csum") == "__udpv6_gso_segment_list_csum|__udpv4_gso_segment_list_csum"
    )
    assert frame_pattern("ip_finish_output_gso") == "ip_finish_output_gso|ip6_finish_output_gso"
    assert frame_pattern("ip6_tnl_xmit") == "ip6_tnl_xmit"  # no IPv4 twin of that name
