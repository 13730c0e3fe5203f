"""What the kernel does to an skb on its way to the crash site.

A dump shows the skb at the moment of the crash, not as it entered
segmentation or GRO. Functions on (or just returned from) the crashing path
rewrite fields first: ``skb_segment_list()`` ends with ``skb_gso_reset()``,
``__pskb_pull_tail()`` moves data and lengths, GRO sets ``gso_segs`` and some
``gso_type`` bits only in its complete step. Signatures describe the skb at
segmentation (or GRO) entry; a field one of these functions has rewritten is
*unknown* at entry, unless the path itself proves its value (the fraglist
segmentation functions are only called for SKB_GSO_FRAGLIST skbs).

The table is data: each entry says which crash sites (or frames) imply the
change, which fields it touches, what the path proves, and cites the kernel
source it was read from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, FrozenSet, Iterable, List, Mapping, Optional, Tuple

from gsotriage.kernel.symbols import base_name
from gsotriage.model import NOT_CALLS, CrashReport

__all__ = [
    "CHANGES",
    "PATH_FACTS",
    "PathFact",
    "Rewrites",
    "StateChange",
    "affected_fields",
    "calls_segment_list",
    "changes_for",
    "crash_site",
    "crash_stack",
    "list_segmented",
    "path_flags",
    "reset_by_path",
    "rewrites",
]

# skb field paths, as the signature clauses name them (gsotriage.match.clauses.skb).
_GSO = frozenset({"shinfo.gso_size", "shinfo.gso_segs", "shinfo.gso_type"})
_FRAG_LIST = frozenset({"shinfo.frag_list", "shinfo.frag_list_count", "frag_list_members"})
_LENGTHS = frozenset({"len", "data_len", "headlen", "truesize"})
_NEAR = 3  # caller frames searched for a mutator in progress
# Fields a rewrite can only clear (1 -> 0): a set value at the crash was set at entry too.
_CLEARED = frozenset({"cloned"})
# The fraglist GSO fix-ups that run after skb_segment_list() (some inlined into their callers).
_UDP_LIST = frozenset({"__udp_gso_segment_list", "__udpv4_gso_segment_list_csum", "__udpv6_gso_segment_list_csum"})
_TCP4_LIST = frozenset({"__tcp4_gso_segment_list", "__tcpv4_gso_segment_list_csum"})
_TCP6_LIST = frozenset({"__tcp6_gso_segment_list", "__tcpv6_gso_segment_list_csum"})


@dataclass(frozen=True)
class StateChange:
    """One way the kernel rewrites the skb before the crash site."""

    name: str  # what happened, for the evidence: "skb_segment_list() ended with skb_gso_reset()"
    # The change already happened when the crash site (or a function inlined at
    # it) is one of these: they only run after it.
    after: FrozenSet[str]
    # The change is in progress when one of these is the crash site or on the stack.
    during: FrozenSet[str]
    fields: FrozenSet[str]
    # Entry facts the path proves: field -> GSO flags it had at entry.
    implies_flags: Mapping[str, Tuple[str, ...]]
    since: str  # first upstream release with this behaviour
    source: str  # where it was read, with the commit that introduced it

    def applies(self, site: Iterable[str], stack: Iterable[str]) -> bool:
        """``site``: the exception function and the functions inlined at it; ``stack``:
        the caller frames, top first. A mutator counts as "in progress" only near the
        top (the site or its first callers): further down, it has long returned or is
        not what touched this skb."""
        names = {base_name(s) for s in site}
        near = names | {base_name(s) for s in list(stack)[:_NEAR]}
        return bool(names & self.after) or bool(near & self.during)


CHANGES: Tuple[StateChange, ...] = (
    StateChange(
        name="skb_segment_list() detached the frag_list first thing (skb_shinfo(skb)->frag_list = NULL)",
        after=frozenset(),
        during=frozenset({"skb_segment_list"}),
        fields=_FRAG_LIST,
        # Its only callers are the fraglist GSO paths (below).
        implies_flags={"shinfo.gso_type": ("FRAGLIST",)},
        since="v5.6",
        source="net/core/skbuff.c skb_segment_list() (3a1296a38d0c, v5.6)",
    ),
    StateChange(
        name="skb_segment_list() ran skb_unclone() first: a cloned skb got a private head, and cloned reads 0",
        after=_UDP_LIST | _TCP4_LIST | _TCP6_LIST,
        during=frozenset({"skb_segment_list"}),
        fields=_CLEARED,
        implies_flags={"shinfo.gso_type": ("FRAGLIST",)},
        since="v6.5",
        source="net/core/skbuff.c skb_segment_list(): 'err = skb_unclone(skb, GFP_ATOMIC);' before it touches the "
        "shared info (c329b261afe7, v6.5; stable 6.4.5, 6.1.40, 5.15.121, 5.10.188). Before it, cloned is not "
        "rewritten here: the clone-partner search (below) then finds what the dump shows",
    ),
    StateChange(
        name="skb_segment_list() detached the frag_list and ended with skb_gso_reset() (gso_size, gso_segs, "
        "gso_type zeroed; len/data_len reduced by the members)",
        after=_UDP_LIST | _TCP4_LIST | _TCP6_LIST,
        during=frozenset(),
        fields=_GSO | _FRAG_LIST | _LENGTHS,
        # __udp_gso_segment() and tcp4/6_gso_segment() call the list variants only
        # when skb_shinfo(skb)->gso_type & SKB_GSO_FRAGLIST.
        implies_flags={"shinfo.gso_type": ("FRAGLIST",)},
        since="v5.6",
        source="net/core/skbuff.c skb_segment_list() (3a1296a38d0c, v5.6); callers in net/ipv4/udp_offload.c "
        "(9fd1ff5d2ac7, v5.6) and net/ipv4/tcp_offload.c, net/ipv6/tcpv6_offload.c (bee88cd5bd83, v6.10)",
    ),
    StateChange(
        name="__pskb_pull_tail() was moving bytes from the frags/frag_list into the head (lengths, frags and "
        "frag_list change while it runs)",
        after=frozenset(),
        during=frozenset({"__pskb_pull_tail", "__skb_linearize", "skb_linearize", "pskb_may_pull_reason"}),
        fields=_LENGTHS | _FRAG_LIST | frozenset({"shinfo.nr_frags"}),
        implies_flags={},
        since="v2.6",
        source="net/core/skbuff.c __pskb_pull_tail()",
    ),
    StateChange(
        name="pskb_expand_head() was reallocating the head (head, data and the shared info move)",
        after=frozenset(),
        during=frozenset({"pskb_expand_head"}),
        fields=frozenset({"headlen", "truesize"}),
        implies_flags={},
        since="v2.6",
        source="net/core/skbuff.c pskb_expand_head()",
    ),
    StateChange(
        name="GRO was still merging: gso_segs and some gso_type bits are only set by the *_gro_complete() step",
        after=frozenset(),
        during=frozenset(
            {
                "dev_gro_receive",
                "skb_gro_receive",
                "skb_gro_receive_list",
                "tcp_gro_receive",
                "tcp4_gro_receive",
                "tcp6_gro_receive",
                "udp_gro_receive",
                "udp4_gro_receive",
                "udp6_gro_receive",
                "inet_gro_receive",
                "ipv6_gro_receive",
            }
        ),
        fields=frozenset({"shinfo.gso_segs", "shinfo.gso_type"}),
        implies_flags={},
        since="v3.x",
        source="net/ipv4/tcp_offload.c tcp_gro_complete(), net/ipv4/udp_offload.c udp4_gro_complete(): "
        "gso_segs = NAPI_GRO_CB(skb)->count and gso_type |= ... at complete time",
    ),
)


@dataclass(frozen=True)
class PathFact:
    """GSO flags a function tests before it goes on: an skb that reached past it had them at entry."""

    functions: FrozenSet[str]
    flags: Tuple[str, ...]
    source: str


# A GSO callback on the crash path (the site, what is inlined at it, or its first callers)
# proves the flags it tests, whatever the dump shows now: skb_gso_reset() may have zeroed
# gso_type since. Read in v6.12 net/ipv4/tcp_offload.c, net/ipv6/tcpv6_offload.c,
# net/ipv4/udp_offload.c, net/ipv6/udp_offload.c.
PATH_FACTS: Tuple[PathFact, ...] = (
    PathFact(
        _TCP4_LIST | {"tcp4_gso_segment"},
        ("TCPV4",),
        "tcp4_gso_segment(): 'if (!(gso_type & SKB_GSO_TCPV4)) return ERR_PTR(-EINVAL)' first; "
        "the list variants are called only from it (bee88cd5bd83, v6.10)",
    ),
    PathFact(
        _TCP6_LIST | {"tcp6_gso_segment"},
        ("TCPV6",),
        "tcp6_gso_segment(): 'if (!(gso_type & SKB_GSO_TCPV6)) return ERR_PTR(-EINVAL)' first",
    ),
    PathFact(
        _UDP_LIST | {"__udp_gso_segment"},
        ("UDP_L4",),
        "udp4_ufo_fragment()/udp6_ufo_fragment() call __udp_gso_segment() only 'if (gso_type & "
        "SKB_GSO_UDP_L4)' (ee80d1ebe5ba, v4.18)",
    ),
    PathFact(
        _UDP_LIST | _TCP4_LIST | _TCP6_LIST | {"skb_segment_list"},
        ("FRAGLIST",),
        "skb_segment_list() and the list fix-ups run only for 'gso_type & SKB_GSO_FRAGLIST' (3a1296a38d0c, v5.6)",
    ),
)
_PATH_NEAR = 4  # callers searched for a GSO callback: the site's GSO chain, not the stack below it


def path_flags(site: Iterable[str], stack: Iterable[str]) -> Tuple[Tuple[str, ...], List[PathFact], List[str]]:
    """The gso_type flags the crash path proves at entry, the facts that prove them and the
    functions of the path they were proven by."""
    names = {base_name(s) for s in site} | {base_name(s) for s in list(stack)[:_PATH_NEAR]}
    facts = [f for f in PATH_FACTS if names & f.functions]
    flags = tuple(dict.fromkeys(flag for f in facts for flag in f.flags))
    return flags, facts, sorted(names & frozenset().union(*(f.functions for f in facts)))


def reset_by_path(flags: Iterable[str], facts: Iterable[PathFact], seen: Iterable[str]) -> StateChange:
    """The rewrite an all-zero crash-time gso_type proves when the path tested ``flags``: the
    skb passed those tests with them, and zero in gso_size, gso_segs and gso_type together is
    the shape skb_gso_reset() leaves."""
    tested = ", ".join(f"{name}()" for name in seen)
    return StateChange(
        name=f"gso_type is 0 but the path ({tested}) tested {'|'.join(flags)} at entry: reset since (skb_gso_reset())",
        after=frozenset(),
        during=frozenset(),
        fields=_GSO,
        implies_flags={},
        since="v2.6",
        source="; ".join(f.source for f in facts),
    )


# The GSO flags whose callbacks call the list variants (and so skb_segment_list()).
_LIST_CALLERS = frozenset({"UDP_L4", "TCPV4", "TCPV6"})


def calls_segment_list(flags: Iterable[str]) -> bool:
    """A GSO callback that tested ``flags`` has a fraglist path through skb_segment_list()."""
    return bool(_LIST_CALLERS & set(flags))


def list_segmented(flags: Iterable[str], users: Optional[int]) -> Optional[StateChange]:
    """skb_segment_list() ran on this skb: the reset shape (all GSO fields zero below a GSO
    callback that tested ``flags``) on an skb holding an extra reference. skb_segment_list()
    ends with skb_gso_reset() and skb_get() and returns the skb it was given; a segment that
    skb_segment() built has zero GSO fields too, but one reference. Without DWARF the inlined
    list fix-up that proves FRAGLIST is not seen; this shape proves it."""
    if users is None or users < 2 or not calls_segment_list(flags):
        return None
    return StateChange(
        name=f"gso_type is 0 and skb->users is {users} below a {'|'.join(sorted(_LIST_CALLERS & set(flags)))} "
        "GSO callback: skb_segment_list() ran (it ends with skb_gso_reset() and skb_get())",
        after=frozenset(),
        during=frozenset(),
        fields=_GSO | _FRAG_LIST | _LENGTHS | _CLEARED,
        implies_flags={"shinfo.gso_type": ("FRAGLIST",)},
        since="v5.6",
        source="net/core/skbuff.c skb_segment_list(): 'skb_gso_reset(skb); skb->prev = tail; ... skb_get(skb); "
        "return skb;' (3a1296a38d0c, v5.6), called only by the fraglist paths of __udp_gso_segment() and "
        "tcp4/6_gso_segment()",
    )


def changes_for(site: Iterable[str], stack: Iterable[str]) -> List[StateChange]:
    """The state changes that apply to a crash at ``site`` (the exception function and
    the functions inlined at it) with ``stack`` (the caller frames, top first)."""
    site = list(site)
    stack = list(stack)
    return [c for c in CHANGES if c.applies(site, stack)]


def affected_fields(changes: Iterable[StateChange]) -> Mapping[str, StateChange]:
    """field path -> the (first) change that rewrote it."""
    out: dict[str, StateChange] = {}
    for change in changes:
        for f in change.fields:
            out.setdefault(f, change)
    return out


def crash_stack(report: CrashReport) -> List[Tuple[str, Optional[str]]]:
    """Function names from the crash site down, ``?`` frames and the panic machinery dropped.

    The exception function heads the list; it is not repeated when the trace
    lists it too.
    """
    out: List[Tuple[str, Optional[str]]] = []
    if report.panic.function:
        out.append((report.panic.function, report.panic.module))
    for frame in report.frames:
        if frame.questionable or frame.context in NOT_CALLS:
            continue
        if out and frame.function == out[-1][0] and len(out) == 1:
            continue
        out.append((frame.function, frame.module))
    return out


def crash_site(report: CrashReport) -> List[str]:
    """The exception function and what is inlined at it (from the collector's
    DWARF, or the ``[inline]`` frames a symbolised trace lists right above it)."""
    site = [report.panic.function] if report.panic.function else []
    site += list(report.panic.inlined)
    for frame in report.frames:
        if not frame.inline or frame.questionable:
            break
        site.append(frame.function)
    return site


def _imply(implied: Dict[str, Tuple[str, ...]], more: Mapping[str, Tuple[str, ...]]) -> None:
    """Add the entry flags ``more`` proves to ``implied`` (field path -> flags), keeping order."""
    for path, flags in more.items():
        implied[path] = tuple(dict.fromkeys([*implied.get(path, ()), *flags]))


@dataclass(frozen=True)
class Rewrites:
    """What the path to the crash did to the subject skb (``report.skbs[0]``).

    ``changes``: field path -> the rewrite that makes its crash-time value say nothing
    about entry; ``implied``: GSO flags the path proves at entry; ``entry``: field path
    -> (value at entry, how it was recovered), for rewritten fields whose entry value
    the dump still holds elsewhere."""

    changes: Mapping[str, StateChange] = field(default_factory=dict)
    implied: Mapping[str, Tuple[str, ...]] = field(default_factory=dict)
    entry: Mapping[str, Tuple[Any, str]] = field(default_factory=dict)


def rewrites(report: CrashReport) -> Rewrites:
    """The rewrites of the subject skb on the way to the crash site, and what survives of its entry state."""
    if not report.skbs:
        return Rewrites()  # only a report that holds skb values can have them rewritten
    stack = crash_stack(report)
    callers = [name for name, _ in stack[1:]] if report.panic.function else [name for name, _ in stack]
    site = crash_site(report)
    skb = report.skbs[0]
    found = changes_for(site, callers)
    implied: Dict[str, Tuple[str, ...]] = {}
    for change in found:
        _imply(implied, change.implies_flags)
    proven, facts, seen = path_flags(site, callers)
    if proven:
        _imply(implied, {"shinfo.gso_type": proven})
    changes = dict(affected_fields(found))
    if proven and "shinfo.gso_type" not in changes and skb.shinfo.gso_type == 0:
        # The path tested flags the crash-time gso_type lacks, and it is all zero:
        # skb_gso_reset()'s shape, a rewrite the table above did not name (an inlined
        # fix-up unseen without DWARF, ...). A non-zero gso_type lacking them is no known
        # rewrite: it stays observed, and contradicts what needs the flags.
        change = reset_by_path(proven, facts, seen)
        listed = list_segmented(proven, skb.users)
        if listed is not None:
            change = listed
            _imply(implied, listed.implies_flags)
        for f in change.fields:
            changes.setdefault(f, change)
    entry: Dict[str, Tuple[Any, str]] = {}
    for name in _CLEARED & changes.keys():
        if getattr(skb, name):
            del changes[name]  # only ever cleared on the way: set now, set at entry
    if "cloned" in changes:
        if skb.clone_partners:
            partners = ", ".join(hex(a) for a in skb.clone_partners[:3])
            entry["cloned"] = (True, f"a clone of this packet ({partners}) is still cloned and holds its old head")
        elif skb.clone_partners == ():
            entry["cloned"] = (False, "no other allocated sk_buff in the slab caches holds this packet's headers")
    return Rewrites(changes, implied, entry)
