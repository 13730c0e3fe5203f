"""gdb/crash(8) struct printouts (``struct sk_buff <addr>``, ``p *skb``) and
their mapping to :class:`Skb` / :class:`SharedInfo`.

The printout is parsed into a small tree: a block is a list of
``(name or None, value)`` items, a value is a block or the scalar's text.
Anonymous blocks (unions, ``struct_group``) are looked through. ``//``
comments (reporters annotate) and missing fields are tolerated; ``<repeats N
times>`` is honoured in arrays.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple, Union

from gsotriage.model import Frag, SharedInfo, Skb

__all__ = ["StructBlock", "parse_value", "skb_from_blocks", "struct_header"]

Value = Union[str, List[Tuple[Optional[str], Any]]]

_HEADER = re.compile(r"^(?:struct|union) (?P<type>\w+) (?:(?:0x)?(?P<addr>[0-9a-f]{8,16}) )?\{$")
_GDB_HEADER = re.compile(r"^\$\d+ = \{$")
_INT = re.compile(r"^(-?0x[0-9a-fA-F]+|-?\d+)\b")
_REPEATS = re.compile(r"\s*<repeats (\d+) times>\s*$")
_MAX_REPEAT = 64


def struct_header(line: str) -> Optional[Tuple[Optional[str], Optional[int]]]:
    """``struct sk_buff {`` / ``$1 = {`` -> (type or None, address or None)."""
    m = _HEADER.match(line)
    if m:
        addr = m.group("addr")
        return m.group("type"), int(addr, 16) if addr else None
    if _GDB_HEADER.match(line):
        return None, None
    return None


def strip_comment(line: str) -> str:
    """Drop a ``//`` comment that is not inside a string or char literal."""
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == "\\":
                continue
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "/" and line.startswith("//", i):
            return line[:i].rstrip()
    return line


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\n":
            self.pos += 1

    def block(self) -> List[Tuple[Optional[str], Any]]:
        """The block at ``{`` (nested blocks with an explicit stack, not recursion)."""
        self.pos += 1
        items: List[Tuple[Optional[str], Any]] = []
        stack: List[Tuple[List[Tuple[Optional[str], Any]], Optional[str]]] = []
        while True:
            self.skip_ws()
            if self.pos >= len(self.text):
                while stack:  # an unterminated printout: close what is open
                    parent, name = stack.pop()
                    parent.append((name, items))
                    items = parent
                return items
            ch = self.text[self.pos]
            if ch == "}":
                self.pos += 1
                if not stack:
                    return items
                parent, name = stack.pop()
                self._add(parent, name, items, self._block_repeat())
                items = parent
                continue
            if ch == ",":
                self.pos += 1
                continue
            name = self.name()
            self.skip_ws()
            if self.pos < len(self.text) and self.text[self.pos] == "{":
                self.pos += 1
                stack.append((items, name))
                items = []
                continue
            value = self.scalar()
            repeat = 1
            rm = _REPEATS.search(value)
            if rm:
                value = value[: rm.start()]
                repeat = int(rm.group(1))
            self._add(items, name, value, repeat)

    def _block_repeat(self) -> int:
        self.skip_ws()
        rm = re.match(r"<repeats (\d+) times>", self.text[self.pos : self.pos + 40])
        if rm:
            self.pos += rm.end()
            return int(rm.group(1))
        return 1

    @staticmethod
    def _add(items: List[Tuple[Optional[str], Any]], name: Optional[str], value: Any, repeat: int) -> None:
        for _ in range(min(repeat, _MAX_REPEAT)):
            items.append((name, value))

    def name(self) -> Optional[str]:
        m = re.compile(r"([A-Za-z_]\w*(?:\[\d+\])?)\s*=\s*").match(self.text, self.pos)
        if m:
            self.pos = m.end()
            return m.group(1)
        return None

    def scalar(self) -> str:
        start = self.pos
        quote = ""
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if quote:
                if ch == "\\":
                    self.pos += 1
                elif ch == quote:
                    quote = ""
            elif ch in "\"'":
                quote = ch
            elif ch in ",}\n":
                break
            self.pos += 1
        return self.text[start : self.pos].strip()


def parse_value(lines: List[str]) -> List[Tuple[Optional[str], Any]]:
    """Parse a struct printout (header line optional) into a block."""
    body = "\n".join(strip_comment(line) for line in lines)
    brace = body.find("{")
    head = body[:brace] if brace >= 0 else ""
    if brace < 0 or "=" in head:
        # "struct sk_buff.len,data_len <addr>" prints bare "len = 1552," lines.
        body = "{" + body + "}"
        brace = 0
    parser = _Parser(body)
    parser.pos = brace
    return parser.block()


def to_int(value: Any) -> Optional[int]:
    if not isinstance(value, str):
        return None
    if value in ("true", "false"):
        return int(value == "true")
    m = _INT.match(value)
    return int(m.group(1), 0) if m else None


def flatten(block: List[Tuple[Optional[str], Any]], see_through: Tuple[str, ...] = ("headers",)) -> Dict[str, Any]:
    """Leaf fields reachable through anonymous blocks; first occurrence wins."""
    out: Dict[str, Any] = {}
    pending = [iter(block)]  # depth-first, in printing order, without recursion
    while pending:
        item = next(pending[-1], None)
        if item is None:
            pending.pop()
            continue
        name, value = item
        if name is None or (name in see_through and not isinstance(value, str)):
            if not isinstance(value, str):
                pending.append(iter(value))
            continue
        out.setdefault(name, value)
    return out


@dataclass
class StructBlock:
    line: int
    type_name: Optional[str]
    address: Optional[int]
    origin: str
    fields: Dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> Optional[str]:
        if self.type_name in ("sk_buff", "skb_shared_info"):
            return self.type_name
        if "gso_size" in self.fields or "gso_type" in self.fields:
            return "skb_shared_info"
        if "truesize" in self.fields or "data_len" in self.fields or "len" in self.fields:
            return "sk_buff"
        return None


def _counter(value: Any) -> Optional[int]:
    """An atomic_t/refcount_t value: ``{counter = 1}``, ``{refs = {counter = 1}}``."""
    for _ in range(8):
        if isinstance(value, str):
            return to_int(value)
        inner = flatten(value, ())
        key = next((k for k in ("counter", "refs") if k in inner), None)
        if key is None:
            return None
        value = inner[key]
    return None


def _frags(value: Any, nr_frags: Optional[int]) -> Optional[Tuple[Frag, ...]]:
    if isinstance(value, str) or nr_frags is None:
        return None
    out = []
    for _, item in value[:nr_frags]:
        if isinstance(item, str):
            return None
        f = flatten(item, ())
        page = f.get("bv_page", f.get("netmem", f.get("page")))
        if page is not None and not isinstance(page, str):
            page = flatten(page, ()).get("p")
        out.append(
            Frag(
                size=to_int(f.get("bv_len", f.get("len", f.get("size")))),
                offset=to_int(f.get("bv_offset", f.get("offset", f.get("page_offset")))),
                page=to_int(page),
            )
        )
    return tuple(out)


def shared_info(block: StructBlock) -> SharedInfo:
    f = block.fields
    nr_frags = to_int(f.get("nr_frags"))
    return SharedInfo(
        gso_size=to_int(f.get("gso_size")),
        gso_segs=to_int(f.get("gso_segs")),
        gso_type=to_int(f.get("gso_type")),
        frag_list=to_int(f.get("frag_list")),
        nr_frags=nr_frags,
        dataref=_counter(f["dataref"]) if "dataref" in f else None,
        frags=_frags(f["frags"], nr_frags) if "frags" in f else None,
        shinfo_address=block.address,
    )


def _bool(value: Any) -> Optional[bool]:
    number = to_int(value)
    return None if number is None else bool(number)


def sk_buff(block: StructBlock, shinfo: SharedInfo) -> Skb:
    f = block.fields
    length, data_len = to_int(f.get("len")), to_int(f.get("data_len"))
    dev = f.get("dev")
    return Skb(
        address=block.address,
        origin=block.origin,
        len=length,
        data_len=data_len,
        headlen=length - data_len if length is not None and data_len is not None else None,
        truesize=to_int(f.get("truesize")),
        protocol=to_int(f.get("protocol")),
        encapsulation=_bool(f.get("encapsulation")),
        ip_summed=to_int(f.get("ip_summed")),
        csum_start=to_int(f.get("csum_start")),
        csum_offset=to_int(f.get("csum_offset")),
        mac_header=to_int(f.get("mac_header")),
        network_header=to_int(f.get("network_header")),
        transport_header=to_int(f.get("transport_header")),
        inner_mac_header=to_int(f.get("inner_mac_header")),
        inner_network_header=to_int(f.get("inner_network_header")),
        inner_transport_header=to_int(f.get("inner_transport_header")),
        dev=dev.split()[0] if isinstance(dev, str) and dev else None,
        cloned=_bool(f.get("cloned")),
        head_frag=_bool(f.get("head_frag")),
        pp_recycle=_bool(f.get("pp_recycle")),
        head=to_int(f.get("head")),
        data=to_int(f.get("data")),
        shinfo=shinfo,
    )


def skb_from_blocks(blocks: List[StructBlock]) -> Tuple[List[Skb], List[str]]:
    """Pair sk_buff and skb_shared_info printouts into Skbs (decode is done later).

    An sk_buff's shared info lives at ``head + end`` (``end`` is an offset on
    64-bit); a transcript with exactly one of each is paired as well.
    """
    notes: List[str] = []
    skbs = [b for b in blocks if b.kind == "sk_buff"]
    infos = [b for b in blocks if b.kind == "skb_shared_info"]
    used: set[int] = set()
    out: List[Skb] = []
    for skb in skbs:
        head, end = to_int(skb.fields.get("head")), to_int(skb.fields.get("end"))
        match = None
        if head is not None and end is not None:
            for i, info in enumerate(infos):
                if i not in used and info.address == head + end:
                    match = i
        if match is None and len(skbs) == 1 and len(infos) == 1:
            match = 0
        si = SharedInfo()
        if match is not None:
            used.add(match)
            si = shared_info(infos[match])
        out.append(sk_buff(skb, si))
        if "protocol" in skb.fields:
            notes.append("skb protocol is the raw __be16 as printed (8 on little-endian is ETH_P_IP 0x0800)")
    for i, info in enumerate(infos):
        if i not in used:
            out.append(Skb(origin=info.origin, shinfo=shared_info(info)))
    return out, notes
