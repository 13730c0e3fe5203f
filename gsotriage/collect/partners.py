"""Clones of the subject skb elsewhere in the dump: what ``cloned`` was before the kernel cleared it.

Since c329b261afe7 (v6.5; stable 6.4.5, 6.1.40, 5.15.121, 5.10.188)
``skb_segment_list()`` starts with ``skb_unclone()``: a cloned skb gets a private
head (``pskb_expand_head()`` copies it) and ``cloned`` reads 0 at the crash. Its
clone partner still has ``cloned`` set and the old head, holding the same packet
headers. So the entry value is in the dump, in another sk_buff: this module finds
it by walking the sk_buff slab caches (SLUB).

The walk reads the ``struct page`` array in bulk and keeps the slab pages of the
two caches; only an object with ``cloned`` set and another head is read further.
The packet headers are compared from the network header to 8 bytes into the
transport header: addresses, IPv4 id, ports, TCP sequence. Left out are what a
forwarded copy or the segmentation fix-ups rewrite: TTL / hop limit, the IPv4
header checksum, the IP lengths and the UDP length and checksum
(``__udp_gso_segment_list()`` sets ``uh->len`` right after ``skb_segment_list()``).
The walk is bounded in time; a cut-short walk says so and leaves the answer
unknown (``None``), never "no partner".
"""

from __future__ import annotations

import struct
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

from gsotriage.model import Skb

__all__ = ["clone_partners"]

# (slab name, the kernel's pointer to it before aa70d2d16f28 (v6.9), its member of net_hotdata since).
# The pointer finds a cache SLUB merged into another of the same size (skbuff_fclone_cache has no
# usercopy region, so it can be: seen on Debian 6.12, inside "pool_workqueue"); the name does not.
_CACHES = (
    ("skbuff_head_cache", ("skbuff_head_cache", "skbuff_cache"), "skbuff_cache"),
    ("skbuff_fclone_cache", ("skbuff_fclone_cache",), "skbuff_fclone_cache"),
)
_CHUNK = 4096  # struct pages per bulk read
_MAX_HEADERS = 128
_IPPROTO_TCP = 6


def _headers(prog: Any, head: int, network: int, transport: int) -> Optional[bytes]:
    """The packet headers compared (see the module docstring), or None when unreadable."""
    length = transport - network + 8
    if not 20 <= length <= _MAX_HEADERS:
        return None
    try:
        raw = bytearray(prog.read(head + network, length))
    except Exception:
        return None
    version = raw[0] >> 4
    if version == 4:
        raw[2:4] = b"\0\0"  # total length
        raw[8] = 0  # TTL
        raw[10:12] = b"\0\0"  # header checksum
        proto = raw[9]
    elif version == 6:
        raw[4:6] = b"\0\0"  # payload length
        raw[7] = 0  # hop limit
        proto = raw[6]
    else:
        return None
    if proto != _IPPROTO_TCP:
        raw[-4:] = b"\0\0\0\0"  # UDP length and checksum
    return bytes(raw)


def _slab_type(prog: Any) -> Any:
    """What overlays a slab's struct page: ``struct slab`` since v5.17 (d122019bf061), the page before."""
    try:
        return prog.type("struct slab")
    except LookupError:
        return prog.type("struct page")


def _slab_pages(prog: Any, caches: Sequence[int], deadline: float) -> Optional[Dict[int, List[int]]]:
    """cache -> the addresses of the struct pages whose slab is of it, in one walk of the
    struct page array for all ``caches``; None when cut short."""
    from drgn import Object, offsetof
    from drgn.helpers.linux.mm import PageSlab, for_each_valid_page_range

    page_size = prog.type("struct page").size
    off = offsetof(_slab_type(prog), "slab_cache")
    fmt = struct.Struct(f"<{off}xQ{page_size - off - 8}x")
    wanted = [c.to_bytes(8, "little") for c in caches]
    pages: Dict[int, List[int]] = {c: [] for c in caches}
    for start, end, mem_map in for_each_valid_page_range(prog):
        base = int(mem_map.value_()) + start * page_size
        for first in range(0, end - start, _CHUNK):
            if time.monotonic() > deadline:
                return None
            n = min(_CHUNK, end - start - first)
            address = base + first * page_size
            try:
                data = prog.read(address, n * page_size)
            except Exception:  # noqa: S112 - a hole in the dump's memory map: no page to read
                continue
            if not any(w in data for w in wanted):
                continue
            for i, (value,) in enumerate(fmt.iter_unpack(data)):
                if value in pages:
                    page = address + i * page_size
                    try:
                        if PageSlab(Object(prog, "struct page *", value=page)):
                            pages[value].append(page)
                    except Exception:  # noqa: S112
                        continue
    return pages


def clone_partners(prog: Any, subject: Skb, budget: float, notes: List[str]) -> Optional[Tuple[int, ...]]:
    """Allocated sk_buffs other than ``subject`` with ``cloned`` set, another head and the same
    packet headers; ``()`` when a complete walk found none, ``None`` when it could not tell."""
    from drgn import Object
    from drgn.helpers.linux.mm import page_to_virt
    from drgn.helpers.linux.slab import slab_object_info

    deadline = time.monotonic() + budget
    if None in (subject.head, subject.network_header, subject.transport_header, subject.address):
        return None
    want = _headers(prog, subject.head, subject.network_header, subject.transport_header)  # type: ignore[arg-type]
    if want is None:
        notes.append("clone-partner search: the skb's packet headers are unreadable")
        return None
    skb_type = prog.type("struct sk_buff")
    slab_type = _slab_type(prog)
    caches = []
    for name, globals_, hot in _CACHES:
        cache = _cache(prog, name, globals_, hot)
        if cache is None:
            notes.append(f"clone-partner search: slab cache {name} not found: cloned at entry unknown")
            return None
        if not (hasattr(cache, "red_left_pad") or hasattr(cache, "cpu_slab") or hasattr(cache, "cpu_sheaves")):
            notes.append("clone-partner search: not a SLUB kernel; cloned at entry unknown")
            return None
        caches.append((name, cache))
    by_cache = _slab_pages(prog, [int(cache.value_()) for _, cache in caches], deadline)
    if by_cache is None:
        notes.append(
            f"clone-partner search stopped after {budget:g} s (the struct page walk did not finish): "
            "cloned at entry unknown"
        )
        return None
    found: List[int] = []
    for name, cache in caches:
        stride = int(cache.size)
        pad = int(cache.red_left_pad) if hasattr(cache, "red_left_pad") else 0
        per_object = 2 if name == "skbuff_fclone_cache" else 1  # struct sk_buff_fclones: skb1, skb2, fclone_ref
        for page in by_cache[int(cache.value_())]:
            slab = Object(prog, prog.pointer_type(slab_type), value=page)
            first = int(page_to_virt(Object(prog, "struct page *", value=page)).value_()) + pad
            for k in range(int(slab.objects)):
                for j in range(per_object):
                    if time.monotonic() > deadline:
                        notes.append(f"clone-partner search stopped after {budget:g} s: cloned at entry unknown")
                        return None
                    addr = first + k * stride + j * skb_type.size
                    if addr == subject.address:
                        continue
                    if _partner(prog, addr, subject, want):
                        info = slab_object_info(prog, addr - j * skb_type.size)
                        if info is not None and info.allocated:
                            found.append(addr)
    return tuple(found)


def _cache(prog: Any, name: str, globals_: Tuple[str, ...], hot: str) -> Any:
    """The kmem_cache the kernel allocates from (merged or not), else the one named ``name``."""
    from drgn.helpers.linux.slab import find_slab_cache

    candidates = [lambda: getattr(prog["net_hotdata"], hot)] + [lambda g=g: prog[g] for g in globals_]
    for get in candidates:
        try:
            cache = get().read_()
            if int(cache.value_()):
                return cache
        except Exception:  # noqa: S112 - no such global or member, or an unreadable pointer: the next way
            continue
    return find_slab_cache(prog, name)


def _partner(prog: Any, addr: int, subject: Skb, want: bytes) -> bool:
    from drgn import Object

    try:
        skb = Object(prog, "struct sk_buff", address=addr)
        if not int(skb.cloned):
            return False
        head = int(skb.head.value_())
        if head in (0, subject.head):
            return False
        got = _headers(prog, head, int(skb.network_header), int(skb.transport_header))
    except Exception:
        return False
    return got == want
