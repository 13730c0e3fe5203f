"""skb_dump() and the old skb_warn_bad_offload() WARN line, as data.

Each entry maps a console line to observed sk_buff / skb_shared_info fields.
Fields a line does not print stay unknown.
"""

from __future__ import annotations

import re
from typing import Dict, Optional, Pattern, Tuple

__all__ = ["SKB_LINES", "SkbLine", "match_skb_line"]

# (name, pattern, origin). Groups named like Skb/SharedInfo fields; "shinfo_"
# prefixes SharedInfo ones. "start" marks the first line of a dump.
SKB_LINES: Tuple[Tuple[str, Pattern[str], str], ...] = (
    (
        "start",
        re.compile(r"^skb len=(?P<len>\d+) headroom=\d+ headlen=(?P<headlen>\d+) tailroom=\d+"),
        "console skb_dump",
    ),
    (
        "headers",
        re.compile(
            r"^mac=\((?P<mac_header>-?\d+),-?\d+\)(?: mac_len=\d+)? net=\((?P<network_header>-?\d+),-?\d+\)"
            r" trans=(?P<transport_header>-?\d+)"
        ),
        "console skb_dump",
    ),
    (
        "shinfo",
        re.compile(
            r"^shinfo\(txflags=\d+ nr_frags=(?P<shinfo_nr_frags>\d+) gso\(size=(?P<shinfo_gso_size>\d+)"
            r" type=(?P<shinfo_gso_type>\d+) segs=(?P<shinfo_gso_segs>\d+)\)\)"
        ),
        "console skb_dump",
    ),
    (
        "csum",
        re.compile(
            r"^csum\(0x[0-9a-f]+ (?:start=(?P<csum_start>\d+) off(?:set)?=(?P<csum_offset>\d+) )?"
            r"ip_summed=(?P<ip_summed>\d+)"
        ),
        "console skb_dump",
    ),
    ("hash", re.compile(r"^hash\(.*?\) proto=0x(?P<protocol_hex>[0-9a-f]+)"), "console skb_dump"),
    ("encap", re.compile(r"^priority=.*?\bencapsulation=(?P<encapsulation>\d)"), "console skb_dump"),
    ("dev", re.compile(r"^dev name=(?P<dev>\S+) feat="), "console skb_dump"),
    # <= 5.3 skb_warn_bad_offload(): one WARN line with the GSO fields.
    (
        "warn-line",
        re.compile(
            r"^(?P<dev>\S+): caps=\(.*?\) len=(?P<len>\d+) data_len=(?P<data_len>\d+)"
            r" gso_size=(?P<shinfo_gso_size>\d+) gso_type=(?P<shinfo_gso_type>\d+) ip_summed=(?P<ip_summed>\d+)"
        ),
        "console warn line",
    ),
)

# skb_dump() recurses into frag_list members; their fields must not be merged.
_FRAGLIST = re.compile(r"^skb fraglist:")


class SkbLine:
    def __init__(self, name: str, fields: Dict[str, int | str], origin: str) -> None:
        self.name = name
        self.fields = fields
        self.origin = origin


def match_skb_line(line: str) -> Optional[SkbLine]:
    if not line or (line[0] not in "smcshpde" and ": caps=(" not in line):
        return None
    if _FRAGLIST.match(line):
        return SkbLine("fraglist", {}, "console skb_dump")
    for name, pattern, origin in SKB_LINES:
        m = pattern.match(line)
        if m:
            fields: Dict[str, int | str] = {}
            for key, value in m.groupdict().items():
                if value is None:
                    continue
                if key == "dev":
                    fields[key] = value
                elif key == "protocol_hex":
                    fields["protocol"] = int(value, 16)
                else:
                    fields[key] = int(value)
            return SkbLine(name, fields, origin)
    return None
