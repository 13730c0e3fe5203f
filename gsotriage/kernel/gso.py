"""SKB_GSO_* flag decoding from version-aware tables.

The vmcore collector decodes ``gso_type`` with the dump's own ``enum`` constants
(authoritative). Text inputs only carry the number, so we fall back to the
upstream layout for the kernel's version. Vendor kernels backport offload
features, so a table decode is always marked *assumed* and names its table;
bits no table knows stay visible as ``BIT<n>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Mapping, Optional, Sequence, Tuple

__all__ = [
    "GSO_BY_FRAGS",
    "TABLES",
    "GsoTable",
    "decode_gso_type",
    "flag_mask",
    "table_for_release",
]

# include/linux/skbuff.h: "#define GSO_BY_FRAGS 0xFFFF", the gso_size value that
# asks skb_segment to cut at frag_list member boundaries (SCTP).
GSO_BY_FRAGS = 0xFFFF


@dataclass(frozen=True)
class GsoTable:
    name: str
    since: Tuple[int, int]  # first upstream (major, minor) with this layout
    bits: Mapping[str, int]  # flag name (without SKB_GSO_) -> bit number

    def mask(self, flag: str) -> Optional[int]:
        bit = self.bits.get(flag)
        return None if bit is None else 1 << bit


def _layout(names: Sequence[str]) -> dict[str, int]:
    return {name: bit for bit, name in enumerate(names) if name}


# Upstream layouts, oldest first. SKB_GSO_* bits mirror the NETIF_F_GSO_* feature
# bits (net_gso_ok() has BUILD_BUG_ONs), so removing a feature renumbers every later
# bit. Before v4.14 SKB_GSO_UDP (UFO) was bit 1 and DODGY bit 2; the UFO removal in
# the v4.14 merge window dropped bit 1 and shifted the rest down, and UFO came back for
# tun/packet/virtio as bit 16 (we could not verify those commit ids, so none is cited;
# the layouts themselves were checked against 4.9-based and 4.18/RHEL 8.7 headers).
# Since then the layout only grows: UDP_L4 (bit 17) arrived with UDP GSO in v4.18 and
# FRAGLIST (bit 18) with Linux kernel commit 3a1296a38d0c ("net: Support GRO/GSO
# fraglist chaining.") (in v5.6). Layouts before v4.7 are the least certain.
_OLD_44 = _layout(
    [
        "TCPV4",
        "UDP",
        "DODGY",
        "TCP_ECN",
        "TCPV6",
        "FCOE",
        "GRE",
        "GRE_CSUM",
        "IPIP",
        "SIT",
        "UDP_TUNNEL",
        "UDP_TUNNEL_CSUM",
        "TUNNEL_REMCSUM",
    ]
)
_OLD_47 = _layout(
    [
        "TCPV4",
        "UDP",
        "DODGY",
        "TCP_ECN",
        "TCP_FIXEDID",
        "TCPV6",
        "FCOE",
        "GRE",
        "GRE_CSUM",
        "IPXIP4",
        "IPXIP6",
        "UDP_TUNNEL",
        "UDP_TUNNEL_CSUM",
        "PARTIAL",
        "TUNNEL_REMCSUM",
        "SCTP",
        "ESP",
    ]
)
_NEW = [
    "TCPV4",
    "DODGY",
    "TCP_ECN",
    "TCP_FIXEDID",
    "TCPV6",
    "FCOE",
    "GRE",
    "GRE_CSUM",
    "IPXIP4",
    "IPXIP6",
    "UDP_TUNNEL",
    "UDP_TUNNEL_CSUM",
    "PARTIAL",
    "TUNNEL_REMCSUM",
    "SCTP",
    "ESP",
    "UDP",
]

TABLES: Tuple[GsoTable, ...] = (
    GsoTable("linux-4.4", (4, 4), _OLD_44),
    GsoTable("linux-4.7", (4, 7), _OLD_47),
    GsoTable("linux-4.14", (4, 14), _layout(_NEW)),
    GsoTable("linux-4.18", (4, 18), _layout([*_NEW, "UDP_L4"])),
    GsoTable("linux-5.6", (5, 6), _layout([*_NEW, "UDP_L4", "FRAGLIST"])),
)

_RELEASE_RE = re.compile(r"^(\d+)\.(\d+)")


def table_for_release(release: Optional[str]) -> Tuple[GsoTable, bool]:
    """Pick the layout for a kernel release; the bool says whether it was a guess
    made without a version (newest layout)."""
    if release:
        m = _RELEASE_RE.match(release)
        if m:
            version = (int(m.group(1)), int(m.group(2)))
            chosen = TABLES[0]
            for table in TABLES:
                if version >= table.since:
                    chosen = table
            return chosen, False
    return TABLES[-1], True


def decode_gso_type(
    gso_type: int, release: Optional[str] = None, enum_bits: Optional[Mapping[str, int]] = None
) -> Tuple[Tuple[str, ...], str]:
    """Decode ``gso_type`` into flag names; returns (flags, table description).

    ``enum_bits`` (flag name -> mask) comes from the dump's own debuginfo and wins.
    """
    if enum_bits is not None:
        bits = {name: mask.bit_length() - 1 for name, mask in enum_bits.items() if mask and mask & (mask - 1) == 0}
        label = "dump-enum"
    else:
        table, guessed = table_for_release(release)
        bits = dict(table.bits)
        why = "no kernel version known" if guessed else "vendor kernels may backport"
        label = f"table:{table.name} (assumed: {why})"
    by_bit = {bit: name for name, bit in bits.items()}
    flags = []
    for bit in range(gso_type.bit_length()):
        if gso_type & (1 << bit):
            flags.append(by_bit.get(bit, f"BIT{bit}"))
    return tuple(flags), label


def flag_mask(flags: Iterable[str], release: Optional[str] = None) -> Tuple[int, Tuple[str, ...]]:
    """Mask for flag names under the release's table; also returns names it lacks."""
    table, _ = table_for_release(release)
    mask = 0
    missing = []
    for flag in flags:
        m = table.mask(flag)
        if m is None:
            missing.append(flag)
        else:
            mask |= m
    return mask, tuple(missing)
