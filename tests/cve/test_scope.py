"""Scope by data: files and frames decide; the documented exclusions hold on real records."""

from __future__ import annotations

import pytest

from gsotriage.cve.scope import classify, mentioned_functions, trace_evidence
from tests.cve.conftest import analysed


@pytest.mark.parametrize(
    "cve,subsystem",
    [
        ("CVE-2024-35884", "udp-offload"),  # net/ipv4/udp_offload.c
        ("CVE-2024-46763", "tunnel-fou"),  # net/ipv4/fou_core.c, fou_gro_receive in the trace
        ("CVE-2022-49691", "tunnel-ip"),  # erspan data path
        ("CVE-2024-43897", "virtio-net-hdr"),  # include/linux/virtio_net.h
        ("CVE-2021-47309", "tunnel-ip"),  # skb_tunnel_info() (dst_metadata.h), crash in vxlan_get_route
        ("CVE-2025-39850", "tunnel-vxlan"),  # "nexthop" in the subject, NULL deref in vxlan_xmit
        ("CVE-2025-21960", "nic-driver"),  # bnxt's rx checksum offload (WARN in bnxt_rx_pkt)
    ],
)
def test_in_scope(cve, subsystem):
    a = analysed(cve)
    assert a.scope.in_scope, a.scope.reasons
    assert a.scope.subsystem == subsystem


@pytest.mark.parametrize(
    "cve,why",
    [
        ("CVE-2023-52784", "no GSO"),  # bonding: the GRE header_ops crash is not a tunnel bug
        ("CVE-2025-21716", "configuration"),  # vxlan vnifilter netlink dump: control plane
        ("CVE-2022-49847", "excluded"),  # "segmentation fault" is not segmentation
        ("CVE-2022-48644", "excluded"),  # taprio "offload": rules in a NIC
        ("CVE-2026-43453", "no GSO"),  # netfilter set lookup
        ("CVE-2025-37921", "control plane"),  # vxlan FDB deletion: no data-path frame near the site
        ("CVE-2022-49356", "no GSO"),  # SUNRPC: an RDMA "segment"
        ("CVE-2026-43244", "no GSO"),  # KCM builds its own frag_list: not GSO
    ],
)
def test_excluded(cve, why):
    a = analysed(cve)
    assert not a.scope.in_scope
    assert why in " ".join(a.scope.reasons), a.scope.reasons


def test_shared_files_need_a_gso_function_or_subject():
    skb = ["net/core/skbuff.c"]
    assert not classify("net: fix a leak in skb_clone", "text", skb, ["skb_clone", "tcp_sendmsg"]).in_scope
    scoped = classify("net: fix a leak", "text", skb, ["skb_segment", "tcp_gso_segment"])
    assert scoped.in_scope and scoped.subsystem == "gso-core"
    assert classify("net: gso: fix a leak", "text", skb, []).in_scope


def test_tunnel_metadata_counts_tunnel_frames_but_other_shared_files_do_not():
    stack = ["vxlan_get_route", "vxlan_xmit_one", "vxlan_xmit", "dev_hard_start_xmit"]
    assert classify("net: validate it", "text", ["include/net/dst_metadata.h"], stack).in_scope
    assert not classify("bonding: stop it", "text", ["drivers/net/bonding/bond_main.c"], stack).in_scope


def test_control_plane_subject_yields_only_to_a_data_path_crash_in_a_tunnel_file():
    vxlan = ["drivers/net/vxlan/vxlan_core.c"]
    assert classify("vxlan: fix fdb", "text", vxlan, ["vxlan_xmit", "dev_hard_start_xmit"]).in_scope
    assert not classify("vxlan: fix fdb", "text", vxlan, []).in_scope
    assert not classify("vxlan: fix fdb", "text", vxlan, ["vxlan_fdb_delete", "rtnl_fdb_del"]).in_scope
    # rule or crypto offload stays out whatever the trace
    assert not classify("vxlan: fix ipsec", "text", vxlan, ["vxlan_xmit", "dev_hard_start_xmit"]).in_scope


def test_nic_checksum_subject_and_weak_words_in_other_protocols():
    nic = ["drivers/net/ethernet/wangxun/libwx/wx_lib.c"]
    assert classify("net: libwx: fix Tx L4 checksum", "text", nic, []).in_scope
    assert not classify("net: libwx: fix Tx ring", "text", nic, []).in_scope
    other = ["net/kcm/kcmsock.c"]
    assert not classify("kcm: fix frag_list", "text", other, []).in_scope
    assert classify("kcm: fix gso", "text", other, []).in_scope  # the strong words still count


def test_trace_evidence_ignores_plumbing_origins_and_far_dispatch():
    stack = [
        "memcpy",
        "skb_segment",
        "tcp_gso_segment",
        "inet_gso_segment",
        "skb_mac_gso_segment",
        "__skb_gso_segment",
        "validate_xmit_skb",
        "__dev_queue_xmit",
        "packet_snd",
    ]
    assert trace_evidence(stack) == [
        "skb_segment",
        "tcp_gso_segment",
        "inet_gso_segment",
        "skb_mac_gso_segment",
        "__skb_gso_segment",
    ]
    assert trace_evidence(["br_handle_vlan", "a", "b", "c", "d", "napi_gro_receive"]) == []
    assert trace_evidence(["vxlan_vnigroup_uninit", "vxlan_uninit"]) == []
    assert trace_evidence(["vxlan_vni_delete_group", "vxlan_vni_del"]) == []  # "group" is no GRO


def test_mentions():
    assert mentioned_functions("see skb_segment() and skb_segment() in udp_rcv_segment()") == [
        "skb_segment",
        "udp_rcv_segment",
    ]
