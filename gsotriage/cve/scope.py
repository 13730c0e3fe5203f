"""Which CVE records are fixes in the segmentation, GRO, offload, checksum-offload or tunnel paths.

Decided by data, not by hand per record: a table of the files the fix touched
(``programFiles``) and of the functions named in the record (its crash trace, and
``name()`` mentions in the commit message). Three strengths:

* a **datapath file** is in scope by itself (``net/ipv4/udp_offload.c``,
  ``net/core/gro.c``, ``include/linux/virtio_net.h``, the tunnel drivers' data path);
* a **shared file** (``net/core/skbuff.c``, ``dev.c``, ``filter.c``, tun/tap/packet,
  NIC drivers, ``net/sched/act_*``...) is in scope only when the record names a
  GSO/GRO/offload function, in its trace or its text, or its subject says GSO/GRO/TSO
  (a NIC driver's subject may also say checksum/RSC; another protocol's "segment" or
  "frag_list" is not enough); tunnel metadata (``dst_metadata.h``) counts a tunnel's own
  data-path frames;
* **exclusions** win over both: flow-table and tc hardware offload (mlx5 eswitch,
  nf_flow_table, cls_flower ``offload`` means rules in a NIC, not segmentation),
  tunnel control plane (netlink, FDB, nexthop, module setup: unless a tunnel file's fix
  crashes in that tunnel's data path), and records whose trace shows only
  configuration paths.

``docs/cve-import.md`` lists the exclusions and why; ``classify`` returns the
reasons so every decision can be reviewed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence, Tuple

from gsotriage.kernel.frames import HELPER, NEAR_ONLY, ORIGIN, PLUMBING

__all__ = ["GSO_FUNCTION", "Scope", "classify", "evidence_positions", "mentioned_functions", "trace_evidence"]


@dataclass(frozen=True)
class _FileRule:
    pattern: re.Pattern[str]
    subsystem: str
    strong: bool  # in scope by itself
    tunnel: bool = False  # shared, but a tunnel's data-path frames near the site count as evidence


def _rule(rx: str, subsystem: str, strong: bool, tunnel: bool = False) -> _FileRule:
    return _FileRule(re.compile(rx), subsystem, strong, tunnel)


# Ordered: the first rule matching a file names its subsystem.
FILE_RULES: Tuple[_FileRule, ...] = (
    _rule(r"^net/core/gro(_cells)?\.c$|^include/net/gro(_cells)?\.h$", "gro-core", True),
    _rule(r"^net/core/gso\.c$|^include/net/gso\.h$", "gso-core", True),
    _rule(r"^net/ipv4/tcp_offload\.c$|^net/ipv6/tcpv6_offload\.c$", "tcp-offload", True),
    _rule(r"^net/ipv[46]/udp_offload\.c$", "udp-offload", True),
    _rule(r"^net/ipv6/(ip6_offload|exthdrs_offload)\.c$|^net/ipv6/ip6_offload\.h$", "ipv6-offload", True),
    _rule(r"^net/ipv4/gre_offload\.c$", "tunnel-gre", True),
    _rule(r"^net/ipv[46]/esp[46]_offload\.c$", "xfrm-esp-offload", True),
    _rule(r"^net/(nsh/nsh|mpls/mpls_gso|sctp/offload)\.c$", "proto-gso", True),
    _rule(r"^include/linux/virtio_net\.h$", "virtio-net-hdr", True),
    _rule(r"^net/ipv4/fou(_core|_bpf|_nl)?\.c$|^include/net/fou\.h$", "tunnel-fou", True),
    _rule(r"^net/ipv[46]/(ip6_)?udp_tunnel(_core|_nic)?\.c$|^include/net/udp_tunnel\.h$", "tunnel-udp", True),
    _rule(r"^drivers/net/vxlan(/|\.c$)|^include/net/vxlan\.h$", "tunnel-vxlan", True),
    _rule(r"^drivers/net/(geneve|bareudp)\.c$|^include/net/geneve\.h$", "tunnel-geneve", True),
    _rule(r"^net/ipv4/(ip_gre|ipip|ip_tunnel(_core)?)\.c$|^include/net/(ip_tunnels|gre|erspan)\.h$", "tunnel-ip", True),
    _rule(r"^net/ipv6/(ip6_gre|ip6_tunnel|sit|ip6_udp_tunnel)\.c$|^include/net/ip6_tunnel\.h$", "tunnel-ip", True),
    _rule(r"^net/ipv4/gre_demux\.c$", "tunnel-ip", True),
    # Tunnel metadata (skb_tunnel_info() and the metadata dst): used by every tunnel's
    # xmit, and by lwtunnel, OVS and tc: a tunnel fix when the crash is in a tunnel's data path.
    _rule(r"^include/net/dst_metadata\.h$|^net/core/dst_metadata\.c$", "tunnel-ip", False, tunnel=True),
    _rule(r"^drivers/net/(gtp|pfcp)\.c$|^net/l2tp/", "tunnel-udp", True),
    # Shared: in scope only with a GSO/GRO/offload function or subject.
    _rule(
        r"^net/core/(skbuff|dev|filter|datagram)\.c$|^include/linux/(skbuff|netdevice|netdev_features)\.h$",
        "core",
        False,
    ),
    _rule(r"^include/net/(ip|ipv6|udp|tcp|sock|checksum)\.h$|^include/linux/(udp|ipv6|if_vlan)\.h$", "core", False),
    _rule(
        r"^net/ipv[46]/(udp|tcp|tcp_output|tcp_input|ip_output|ip6_output|ip_forward|ip6_forward|af_inet|af_inet6)\.c$",
        "ip-stack",
        False,
    ),
    _rule(r"^drivers/net/(tun|tap|virtio_net|macvtap|ipvtap)\.c$|^net/packet/", "virtio-net-hdr", False),
    _rule(r"^drivers/net/veth\.c$", "veth", False),
    _rule(r"^net/sched/act_", "tc-act", False),
    _rule(r"^net/sched/sch_", "qdisc", False),
    _rule(r"^net/openvswitch/", "openvswitch", False),
    # IPsec, vti (IPsec tunnels) included: in scope only on their GSO paths.
    _rule(r"^net/xfrm/|^net/ipv[46]/(esp[46]|xfrm[46]_|ip6?_vti)", "xfrm-esp-offload", False),
    _rule(r"^net/mptcp/", "mptcp", False),
    _rule(r"^net/netfilter/|^net/ipv[46]/netfilter/|^net/bridge/netfilter/", "netfilter", False),
    _rule(r"^net/bridge/", "bridge", False),
    _rule(r"^net/ipv4/ip_fragment\.c$|^net/ipv6/reassembly\.c$", "ip-stack", False),
    _rule(
        r"^drivers/net/ethernet/|^drivers/net/(hyperv|xen-netfront|xen-netback|vmxnet3|ethernet)/", "nic-driver", False
    ),
    _rule(r"^drivers/net/(usb|wireless|wwan)/", "nic-driver", False),
    # Any other networking file: in scope only with a GSO/GRO/offload function or subject.
    _rule(r"^(net|drivers/net|include/net)/", "other-net", False),
)

# Functions of the GSO/GRO/offload/checksum/tunnel data path. Names in a trace or
# in the message text (``skb_segment()``) that match make a shared file in scope.
GSO_FUNCTION = re.compile(
    r"^(?:"
    r"skb_segment(?:_list)?|__?skb_gso_segment|skb_mac_gso_segment|skb_gso_\w+|\w+_gso_segment\w*|gso_\w+"
    r"|\w*_ufo_fragment|udp_rcv_segment|__udp_gso_segment\w*|skb_udp_tunnel_segment|__skb_udp_tunnel_segment"
    r"|\w*gro_receive\w*|\w*gro_complete\w*|napi_gro_\w+|dev_gro_receive|skb_gro_\w+|gro_\w+|napi_skb_finish"
    r"|\w*_gro_\w+|\w+_lro_\w+|lro_\w+|\w*tso_\w*|\w+_tso|tso|\w+_tpa_\w+|\w+_tpa"
    r"|skb_checksum_help|skb_csum_hwoffload_help|skb_warn_bad_offload|__skb_checksum\w*|skb_checksum\w*"
    r"|\w+_(?:rx|tx)_(?:checksum|csum)\w*|\w+_checksum_(?:downlink|uplink|offload)\w*|\w+_csum_offload\w*"
    r"|skb_partial_csum_set|validate_xmit_skb\w*|netif_skb_features|harmonize_features|\w*features_check"
    r"|virtio_net_hdr_\w+|tun_get_user|tap_get_user|packet_snd|tpacket_snd"
    r"|bpf_skb_(?:adjust_room|change_proto|change_tail|change_head|net_shrink|net_grow|proto_\w+)|bpf_skb_\w*gso\w*"
    r"|skb_tunnel_check_pmtu|iptunnel_\w+|ip_tunnel_\w+|ip6_tnl_\w+|udp_tunnel\w*|vxlan_\w+|geneve\w*|fou_\w+|gue_\w+"
    r"|ipgre_\w+|ip6gre_\w+|gre_\w+|__gre_\w+|erspan\w*|ip6erspan\w*|ipip\w*|ipip6_\w+|sit_\w+|bareudp_\w+"
    r"|gtp\d?u?_\w+|pfcp_\w+|l2tp_\w+"
    r"|skb_gso_validate_\w+|ip_finish_output_gso|ip6_finish_output_gso"
    r")$"
)

# Subjects that say the fix is about segmentation or aggregation.
_SUBJECT = re.compile(
    r"\b(gso|gro|tso|lro|ufo|uso|hw[-_ ]gro|segment(ation)?(?! fault)|fraglist|frag_list|checksum offload|csum offload"
    r"|tx csum|csum_start|gso_size|gso_type|virtio_net_hdr|big tcp|udp encap|encapsulat\w*|tpa)\b",
    re.I,
)
# Words that mean segmentation only in the GSO/GRO paths: in any other protocol's file
# (SUNRPC's RDMA segments, IP defragmentation's and KCM's frag_list) they mean something else.
_WEAK_SUBJECT = re.compile(r"^(segment(ation)?|fraglist|frag_list|encapsulat\w*|tpa|udp encap)$", re.I)

# Offload in another sense: rules or crypto pushed into a NIC, not segmentation.
_EXCLUDE_FILES = re.compile(
    r"nf_flow_table|flow_offload|/en_tc|/tc_tun|/eswitch|esw/|/rep/|/en_rep|cls_flower|cls_api|/mlx5/core/lib/"
    r"|ipsec|/devlink|/ptp|/dcb|udp_tunnel_nic"
)
_EXCLUDE_SUBJECT = re.compile(
    r"\b(flow ?table|flowtable|tc offload|hw offload|flower|taprio|eswitch|e-switch|ipsec|macsec|tls offload"
    r"|devlink|ethtool|ptp|xdp_features)\b",
    re.I,
)
# A tunnel's control plane: excluded, unless the trace puts the crash in the tunnel's
# data path (a vxlan FDB entry with a nexthop group dereferenced in vxlan_xmit is a
# transmit-path crash, whatever the subject calls the object).
_CONTROL_SUBJECT = re.compile(r"\b(netlink|fdb|vnifilter|nexthop|changelink|cap_net_admin)\b", re.I)
# NIC drivers: a subject about checksums or receive-side coalescing (Intel's RSC, the
# hardware GRO) is about the driver's checksum-offload or LRO path: drivers compute no
# checksums of their own.
_NIC_SUBJECT = re.compile(r"\b(checksums?|csum|rsc)\b", re.I)

# Frames of configuration paths (netlink, device setup, namespaces, FDB management).
_CONTROL = re.compile(
    r"(netlink|rtnl|genl|_nl_|_doit$|_dumpit$|_dump$|newlink|dellink|changelink|setsockopt|getsockopt|ioctl|ethtool"
    r"|init_net|exit_net|setup_net|cleanup_net|ops_init|ops_exit|_init$|_uninit$|_exit$|module|probe|_remove$"
    r"|notifier|register|unregister|fdb|vnifilter|vnigroup|kobject|sysfs|debugfs|devlink|find_dev|del_work"
    r"|_release$|_destroy|_close$|cleanup|teardown)",
    re.I,
)


# Tunnel driver functions are datapath functions only when their name says so
# (vxlan_xmit_one yes, vxlan_vnigroup_uninit no).
_TUNNEL = re.compile(
    r"^_*(iptunnel|ip_tunnel|ip6_tnl|ipxip6|udp_tunnel|vxlan|geneve|fou|gue|ipgre|ip6gre|gre|erspan|ip6erspan|ipip6?"
    r"|sit|bareudp|gtp\d?u?|pfcp|l2tp)"
)
_DATAPATH = re.compile(
    r"(xmit|rcv|recv|gro(?!up)|gso|segment|encap|decap|pmtu|header|build|push|pull|_tx|_rx|csum|route|lookup|_err"
    r"|parse|output|input|fill_metadata|dst)"
)

_DEPTH = 6  # evidence further from the crash site is the path's context, not the crash's
_GSO_DISPATCH = re.compile(
    r"^(skb_mac_gso_segment|__skb_gso_segment|skb_gso_segment|inet_gso_segment|ipv6_gso_segment)$"
)


def trace_evidence(stack: Sequence[str]) -> List[str]:
    """GSO/GRO/offload/tunnel datapath frames of a trace (crash site first) that place the
    crash in those paths: near the site (a crash anywhere beneath segmentation counts),
    not plumbing, not where the skb came from (tun, AF_PACKET, BPF test runs) unless
    the crash is there, GRO/xmit dispatch only right under the site, no configuration
    paths and no tunnel functions outside their data path."""
    out = []
    for i, name in enumerate(stack[:12]):
        if not GSO_FUNCTION.match(name) or PLUMBING.match(name) or HELPER.match(name) or _CONTROL.search(name):
            continue
        if i >= _DEPTH and not (i < 8 and _GSO_DISPATCH.match(name)):
            continue
        if i > 0 and ORIGIN.match(name):
            continue
        if i > 3 and NEAR_ONLY.match(name):
            continue
        if _TUNNEL.match(name) and not _DATAPATH.search(name):
            continue
        out.append(name)
    return out


def evidence_positions(stack: Sequence[str]) -> List[int]:
    """Indices in ``stack`` of the frames :func:`trace_evidence` keeps."""
    keep = trace_evidence(stack)
    out, j = [], 0
    for i, name in enumerate(stack[:12]):
        if j < len(keep) and name == keep[j]:
            out.append(i)
            j += 1
    return out


_MENTION = re.compile(r"\b([a-z_][a-z0-9_]{2,})\(\)")


def mentioned_functions(text: str) -> List[str]:
    """Function names written as ``name()`` in a commit message, in order, once each."""
    return list(dict.fromkeys(m.group(1) for m in _MENTION.finditer(text)))


@dataclass(frozen=True)
class Scope:
    in_scope: bool
    subsystem: str
    reasons: Tuple[str, ...]


def _base(name: str) -> str:
    return name.split(".", 1)[0]


def classify(
    title: str,
    description: str,
    program_files: Sequence[str],
    stack: Iterable[str] = (),
) -> Scope:
    """Is this fix in the GSO/GRO/offload/checksum/tunnel paths, and which subsystem.

    ``stack``: the crash site and frames of the record's trace, callee first (may be empty)."""
    frames = [_base(f) for f in stack]
    gso_frames = trace_evidence(frames)
    gso_mentions = [f for f in mentioned_functions(description) if GSO_FUNCTION.match(f) and not ORIGIN.match(f)]
    reasons: List[str] = []
    strong: Optional[str] = None
    shared: Optional[str] = None
    tunnel_meta = False
    for path in program_files:
        if _EXCLUDE_FILES.search(path):
            continue
        rule = next((r for r in FILE_RULES if r.pattern.search(path)), None)
        if rule is None:
            continue
        if rule.strong and strong is None:
            strong = rule.subsystem
            reasons.append(f"fix touches {path} ({rule.subsystem})")
        elif not rule.strong and shared is None:
            shared = rule.subsystem
            tunnel_meta = rule.tunnel
            reasons.append(f"fix touches shared file {path}")
    subject_hit = next(
        (m for m in _SUBJECT.finditer(title) if strong or shared != "other-net" or not _WEAK_SUBJECT.match(m.group(0))),
        None,
    )
    if shared == "nic-driver" and strong is None and subject_hit is None:
        subject_hit = _NIC_SUBJECT.search(title)
    if _EXCLUDE_SUBJECT.search(title):
        why = f"excluded: subject {title!r} is about rule or crypto offload"
        return Scope(False, strong or shared or "other", (why,))
    control = _CONTROL_SUBJECT.search(title)
    if control and not (strong is not None and gso_frames):
        return Scope(
            False, strong or shared or "other", (f"excluded: subject {title!r} is about a tunnel's control plane",)
        )
    if control:
        reasons.append(f"subject says {control.group(0)!r}, but the trace crashes in the data path ({gso_frames[0]})")
    if frames and not gso_frames and any(_CONTROL.search(f) for f in frames[:8]):
        return Scope(False, strong or shared or "other", ("excluded: the trace shows a configuration path",))
    if strong is not None:
        return Scope(True, _refine(strong, frames, gso_frames), tuple(reasons))
    if shared is None:
        return Scope(False, "other", ("no file of the GSO/GRO/offload/tunnel paths",))
    # A tunnel's functions on the stack of a fix elsewhere (bonding giving a GRE device
    # its header_ops) say where it crashed, not that a tunnel path is at fault; the
    # tunnel metadata the tunnels share is the exception.
    if not tunnel_meta:
        gso_frames = [f for f in gso_frames if not _TUNNEL.match(f)]
    if gso_frames:
        reasons.append("trace runs through " + ", ".join(dict.fromkeys(gso_frames[:4])))
    if frames:
        # With a trace, the trace decides: the message may name GSO functions as context.
        gso_mentions = []
    if gso_mentions:
        reasons.append("message names " + ", ".join(f"{m}()" for m in gso_mentions[:4]))
    if subject_hit:
        reasons.append(f"subject says {subject_hit.group(0)!r}")
    if gso_frames or gso_mentions or subject_hit:
        return Scope(True, _refine(shared, frames, gso_frames or gso_mentions), tuple(reasons))
    return Scope(False, shared, (f"shared file ({shared}) but no GSO/GRO/offload function or subject",))


_REFINE = (
    (re.compile(r"gro"), "gro-core"),
    (re.compile(r"skb_segment|gso_segment|ufo_fragment|udp_rcv_segment|skb_gso"), "gso-core"),
    (re.compile(r"checksum|csum|bad_offload"), "checksum"),
    (re.compile(r"virtio_net_hdr|tun_get_user|tap_get_user|packet_snd"), "virtio-net-hdr"),
    (re.compile(r"^bpf_skb"), "bpf"),
    (re.compile(r"vxlan|geneve|gre|tunnel|fou|erspan|ipip|sit_"), "tunnel-ip"),
)


def _refine(subsystem: str, frames: Sequence[str], gso: Sequence[str]) -> str:
    """Shared files say little about the subsystem: the GSO/GRO frames do."""
    if subsystem not in ("core", "ip-stack", "qdisc"):
        return subsystem
    for name in gso:
        for rx, sub in _REFINE:
            if rx.search(name):
                return sub
    return subsystem
