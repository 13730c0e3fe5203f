"""A signature proposal (YAML-ready data) from one CVE record and the crash its message quotes.

Required clauses name what is distinctive about the crash: its site (the first
frame that is not a generic helper such as ``skb_push`` or ``memcpy``) and the
class's characteristic frames down to the first GSO/GRO/offload/tunnel function;
never the plumbing every network crash shares (``dev_hard_start_xmit``,
``netif_receive_skb``: see gsotriage.kernel.frames). Deeper distinctive frames (the
path that fed the bad skb in: ``tun_get_user``, ``netem_enqueue``), the panic
kind, the BUG/WARN file and the ``skb_under_panic`` wording are supporting
evidence: they tell two classes with the same site apart without ruling out a
crash of the same bug reached another way.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from typing import Any, Collection, Dict, List, Optional, Sequence, Tuple

from gsotriage.cve.corpus import detector_report
from gsotriage.cve.records import CveRecord, VersionData
from gsotriage.cve.scope import Scope, evidence_positions, mentioned_functions, trace_evidence
from gsotriage.kernel.frames import HELPER, is_distinctive, is_origin, site_index
from gsotriage.model import CrashReport, PanicKind

__all__ = ["Proposal", "Rejected", "combine", "fix_entry", "propose", "required_key", "signature_id"]

# Panic kinds that are one bug seen through different kernels: a KASAN build
# reports the use-after-free that a production kernel turns into a GPF or a fault.
_KIND_FAMILY: Dict[PanicKind, Tuple[str, ...]] = {
    PanicKind.NULL_DEREF: ("null-deref", "paging-fault", "gpf", "kasan"),
    PanicKind.PAGING_FAULT: ("null-deref", "paging-fault", "gpf", "kasan"),
    PanicKind.GPF: ("null-deref", "paging-fault", "gpf", "kasan"),
    PanicKind.KASAN: ("null-deref", "paging-fault", "gpf", "kasan"),
    PanicKind.BUG: ("bug",),
    PanicKind.WARN: ("warn", "warn-panic"),
    PanicKind.WARN_PANIC: ("warn", "warn-panic"),
    PanicKind.SOFT_LOCKUP: ("soft-lockup", "hard-lockup"),
    PanicKind.HARD_LOCKUP: ("soft-lockup", "hard-lockup"),
}

_SEVERITY = {"bug": "high", "null-deref": "high", "paging-fault": "high", "gpf": "high", "kasan": "high"}

_CHAIN_DEPTH = 12  # frames below the site searched for the class's characteristic frame
_MAX_ORIGIN = 2  # deeper frames on the class's path kept as supporting evidence


@dataclass(frozen=True)
class Proposal:
    sig_id: str
    doc: Dict[str, Any]  # the signature as YAML-ready data (tests filled in later)
    case_name: str  # file name of the record's trace under signatures/cases/cve/
    case_text: str
    site: str
    chain: Tuple[str, ...]


@dataclass(frozen=True)
class Rejected:
    reason: str


def _slug(text: str, limit: int = 48) -> str:
    words = re.sub(r"[^a-z0-9]+", " ", text.lower()).split()
    out: List[str] = []
    for w in words:
        if len("-".join([*out, w])) > limit:
            break
        out.append(w)
    return "-".join(out) or "fix"


def signature_id(record: CveRecord) -> str:
    return f"{record.cve.lower()}-{_slug(record.title)}"


# tcp4_gso_segment <-> tcp6_gso_segment, ip_finish_output_gso <-> ip6_finish_output_gso:
# the same bug usually reaches both address families' twins (only these naming
# schemes have one; ip6_tnl_* and ipv6_* have no IPv4 twin of that name).
_TWIN = re.compile(r"^(_*(?:tcp|udp|udpv|tcpv|esp))([46])(_\w+)$")
_IP_TWIN = re.compile(r"^(ip|ip6)(_finish_output_gso|_forward_finish|_fragment|_do_fragment)$")


def frame_pattern(name: str) -> str:
    m = _TWIN.match(name)
    if m:
        other = "6" if m.group(2) == "4" else "4"
        return f"{name}|{m.group(1)}{other}{m.group(3)}"
    m = _IP_TWIN.match(name)
    if m:
        return f"{name}|{'ip6' if m.group(1) == 'ip' else 'ip'}{m.group(2)}"
    return name


def _paragraphs(message: str) -> List[str]:
    paras = [p.strip() for p in re.split(r"\n\s*\n", message) if p.strip()]
    return paras[1:] if paras else []  # the first paragraph is the subject line


_TRACEY = re.compile(r"\+0x[0-9a-f]+/0x|Call Trace|RIP:|^\s*\[\s*\d+\.\d+\]|BUG:|WARNING:|Modules linked in", re.M)


def _prose(message: str) -> List[str]:
    out = []
    for p in _paragraphs(message):
        if _TRACEY.search(p) or p.startswith(("[", "Fixes:", "Reported-by:", "Link:", "Closes:", "Signed-off-by:")):
            continue
        out.append(" ".join(p.split()))
    return out


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit]
    dot = cut.rfind(". ")
    return (cut[: dot + 1] if dot > limit // 2 else cut.rstrip() + " ...").strip()


def fix_entry(record: CveRecord) -> Optional[Dict[str, Any]]:
    """The record's fix and per-branch data as a ``fixed_by`` entry (None without a mainline fix)."""
    v: VersionData = record.versions
    if v.fix_commit is None or v.fixed_upstream is None:
        return None
    entry: Dict[str, Any] = {
        "commit": v.fix_commit,
        "subject": record.title,
        "first_release": f"v{'.'.join(v.fixed_upstream.split('.')[:2])}",
    }
    if v.fixes and v.fixes != "1da177e4c3f41524e886b7f1b8a0c1fc7321cac2":
        entry["fixes"] = v.fixes[:12]
    entry["cve"] = record.cve
    if v.introduced:
        entry["introduced"] = list(v.introduced)
    stable = [b.release for b in v.stable if b.release.count(".") == 2]
    if stable:
        entry["stable"] = stable
    commits = {b.release: b.commit for b in v.stable if b.commit and b.release.count(".") == 2}
    if commits:
        entry["stable_commits"] = commits
    if v.affected_ranges:
        entry["affected_ranges"] = [{"from": r.start, "below": r.below} for r in v.affected_ranges]
    if v.unlisted in ("affected", "unaffected"):
        entry["unlisted"] = v.unlisted
    entry["verified_by"] = [record.url, f"https://git.kernel.org/linus/{v.fix_commit}"]
    return entry


def _chain(stack: Sequence[str], site: int, mentioned: Sequence[str]) -> List[str]:
    """The site and one characteristic frame: below a site that is itself a
    GSO/GRO/offload/tunnel function, the next such frame (or the site alone); below
    any other site, the first such frame, or failing one the next distinctive frame.
    Where the skb came from (tun, AF_PACKET, a protocol sender) is never part of it."""
    s = stack[site]
    evidence = set(evidence_positions(stack))
    named = {i for i, f in enumerate(stack) if f in mentioned and is_distinctive(f) and not is_origin(f)}
    marked = evidence | named
    below = [i for i in range(site + 1, min(len(stack), site + 1 + _CHAIN_DEPTH)) if stack[i] != s]
    if site in marked:
        nxt = next((i for i in below[:4] if i in marked and is_distinctive(stack[i])), None)
        return [s] if nxt is None else [s, stack[nxt]]
    deeper = next((i for i in below if i in marked and not HELPER.match(stack[i])), None)
    if deeper is None:
        deeper = next((i for i in below[:4] if is_distinctive(stack[i]) and not is_origin(stack[i])), None)
    return [s] if deeper is None else [s, stack[deeper]]


def _supporting(
    report: CrashReport, stack: Sequence[str], site: int, chain: Sequence[str], mentioned: Sequence[str]
) -> List[Dict[str, Any]]:
    """Evidence that tells this class from others at the same site without ruling out
    the same bug reached another way: the panic kind family, the BUG/WARN file, the
    skb_put/skb_push bound, and deeper GSO/GRO/offload/tunnel frames (or frames the fix
    message names). Where the skb came from (tun, AF_PACKET, a NIC driver's poll) is
    left out: a real crash of the same bug arrives some other way, and a supporting
    frame that is absent counts against the class."""
    sup: List[Dict[str, Any]] = []
    kind = report.panic.kind
    if kind in _KIND_FAMILY:
        fam = list(_KIND_FAMILY[kind])
        sup.append(
            {"panic_kind": fam if len(fam) > 1 else fam[0], "weight": 1, "why": f"the record's crash: {kind.value}"}
        )
    if report.panic.bug_file:
        sup.append(
            {"bug_file": re.escape(report.panic.bug_file) + "$", "weight": 1, "why": "the BUG/WARN the record quotes"}
        )
    headline = report.panic.message or ""
    m = re.search(r"skb_(under|over)_panic", headline)
    if m:
        sup.append({"message": m.group(0), "weight": 1, "why": "the skb_put/skb_push bound the record's crash hit"})
    start = stack.index(chain[-1], site) + 1 if chain[-1] in stack[site:] else site + 1
    evidence = set(evidence_positions(stack))
    deeper = [
        stack[i]
        for i in range(start, min(len(stack), start + _CHAIN_DEPTH))
        if stack[i] not in chain
        and is_distinctive(stack[i])
        and not is_origin(stack[i])
        and (i in evidence or stack[i] in mentioned)
    ]
    for f in list(dict.fromkeys(deeper))[:_MAX_ORIGIN]:
        sup.append(
            {"frames": [frame_pattern(f)], "weight": 1, "why": "deeper in the record's trace, on the class's path"}
        )
    if len(chain) == 1 and len(stack) <= site + 1:
        # The record quotes only the crash site: the functions its fix names are the
        # best hint of the path below it.
        named = [f for f in mentioned if f not in stack and trace_evidence([f]) and not is_origin(f)]
        for f in named[:_MAX_ORIGIN]:
            sup.append({"frames": [frame_pattern(f)], "weight": 1, "why": "a function the fix's message names"})
    return sup


def propose(
    record: CveRecord,
    scope: Scope,
    report: CrashReport,
    stack: Sequence[str],
    hubs: Collection[str] = frozenset(),
) -> Any:
    """A Proposal, or Rejected with the reason the record cannot make a signature.

    ``hubs``: functions many records' traces run through (gsotriage.cve.corpus.hubs):
    a crash there says little about which class it is, so the class's characteristic
    frame must be seen before it is named."""
    fix = fix_entry(record)
    if fix is None:
        return Rejected("no mainline fix commit in the record")
    if not stack:
        return Rejected("no crash trace in the record")
    site = site_index(stack)
    if site is None:
        return Rejected("the trace names no crash site beyond generic helpers and plumbing")
    detector = detector_report(report)
    if detector is not None:
        return Rejected(detector)
    if re.search(
        r"stack-out-of-bounds|stack guard page|stack overflow", report.panic.message or "", re.I
    ) and re.search(r"recursion|stack overflow", record.message, re.I):
        return Rejected("a kernel stack overflow: its crash site is wherever the stack ran out")
    mentioned = mentioned_functions(record.message)
    chain = _chain(stack, site, mentioned)
    # The site decides when it is itself a GSO/GRO/offload/tunnel function that few
    # crashes share; else it is where the bug surfaced, and only the characteristic
    # frame below it names the class.
    site_decides = bool(trace_evidence([chain[0]])) and chain[0] not in hubs
    if len(chain) == 1 and not site_decides:
        why = "many records' traces run through it" if chain[0] in hubs else "it is no GSO/GRO/offload/tunnel function"
        return Rejected(f"only the crash site {chain[0]} is named, and {why}")
    site_clause = {"crash_site": frame_pattern(chain[0])}
    required: List[Dict[str, Any]] = []
    if site_decides:
        required.append({**site_clause, "why": "where the record's crash happened (generic helpers looked through)"})
    if len(chain) > 1:
        required.append(
            {
                "frames": [frame_pattern(f) for f in chain],
                "why": "the class's characteristic frames in the record's trace",
            }
        )
    supporting = _supporting(report, stack, site, chain, mentioned)
    if not site_decides:
        supporting.insert(0, {**site_clause, "weight": 1, "why": "where the record's crash surfaced"})
    prose = _prose(record.message)
    summary = _clip(prose[0], 600) if prose else record.title
    mechanism = "\n\n".join(textwrap.fill(p, 100) for p in prose[:4]) or record.title
    kind = report.panic.kind.value if report.panic.kind else "crash"
    sig_id = signature_id(record)
    doc: Dict[str, Any] = {
        "id": sig_id,
        "title": f"{record.title} ({record.cve})",
        "summary": summary,
        "mechanism": _clip(mechanism, 2500) + "\n",
        "maturity": "mined",
        "severity": _SEVERITY.get(kind, "medium"),
        "tags": ["mined", "cve", scope.subsystem],
        "references": [
            {"url": record.url, "title": f"{record.cve} (kernel CNA record)"},
            {"url": f"https://git.kernel.org/linus/{fix['commit']}", "title": f"fix: {record.title}"},
        ],
        "fixed_by": [fix],
        "unverified": [
            "mined from the CVE record by `gsotriage signatures import-cve`; not reviewed by a person: "
            "the clauses come from the one trace the fix's message quotes"
        ],
        "remediation": {"upgrade": _upgrade(fix)},
        "match": {"required": required, "supporting": supporting},
    }
    return Proposal(sig_id, doc, f"{record.cve}.txt", record.description, chain[0], tuple(chain))


def _upgrade(fix: Dict[str, Any]) -> str:
    stable = fix.get("stable") or []
    text = f"a kernel with {fix['commit'][:12]} (upstream {fix['first_release']}"
    if stable:
        text += "; stable " + ", ".join(stable)
    return text + ")"


def required_key(p: Proposal) -> str:
    """Proposals with the same key cannot be told apart by what they require."""
    return repr(p.doc["match"]["required"])


def combine(members: Sequence[Proposal], cves: Sequence[str], subjects: Sequence[str]) -> Proposal:
    """One signature for records whose traces require the same thing (the same site
    and chain): a crash there cannot say which of their fixes it needs, so the class
    names them all, and each record's trace is a positive case of it."""
    first = members[0]
    fixes = [f for m in members for f in m.doc["fixed_by"]]
    supporting: List[Dict[str, Any]] = []
    for m in members:
        for clause in m.doc["match"]["supporting"]:
            if clause not in supporting:
                supporting.append(clause)
    labels = "; ".join(f"{c}: {t}" for c, t in zip(cves, subjects))
    chain = " <- ".join(first.chain)
    doc: Dict[str, Any] = {
        **first.doc,
        "title": f"crash at {chain}, {len(members)} fixes ({', '.join(cves)})",
        "summary": _clip(
            f"Crashes at {chain} that the records of {len(members)} different fixes quote; the trace alone does not "
            f"tell them apart. {labels}",
            600,
        ),
        "mechanism": "\n\n".join(f"{c}:\n{m.doc['mechanism'].strip()}" for c, m in zip(cves, members)) + "\n",
        "references": [r for m in members for r in m.doc["references"]],
        "fixed_by": fixes,
        "remediation": {"upgrade": "; ".join(_upgrade(f) for f in fixes)},
        "match": {"required": first.doc["match"]["required"], "supporting": supporting},
        "unverified": [
            *first.doc["unverified"],
            "several fixes share this crash site and chain: which one this crash needs is not decided by the trace",
        ],
    }
    return Proposal(first.sig_id, doc, first.case_name, first.case_text, first.site, first.chain)
