"""Golden expectations: a YAML list of inputs and the root cause each must get.

Entries: ``{input: path (relative to the YAML file), vmlinux: optional, expect: {root_cause: id | null,
status: match | partial (optional)}}``. ``root_cause: null`` means "no specific root cause".
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import yaml

from gsotriage.batch.runner import Outcome

__all__ = [
    "Comparison",
    "Entry",
    "ExpectationsError",
    "compare",
    "dump_expectations",
    "load_expectations",
]

_STATUS_RANK = {"match": 2, "partial": 1}
_ENTRY_KEYS = {"input", "vmlinux", "expect"}
_EXPECT_KEYS = {"root_cause", "status"}


class ExpectationsError(Exception):
    """The expectations file is missing or malformed (a usage error); the message says where."""


@dataclass(frozen=True)
class Entry:
    input: str  # as written in the file
    path: str  # resolved against the file's folder
    vmlinux: Optional[str]  # as written
    vmlinux_path: Optional[str]
    root_cause: Optional[str]
    status: Optional[str]

    @property
    def name(self) -> str:
        return self.input


@dataclass(frozen=True)
class Comparison:
    entry: Entry
    outcome: str  # match | regression | improvement | error
    got_root_cause: Optional[str]
    got_status: Optional[str]
    message: str
    seconds: float
    got_specific: bool = False


def _resolve(base: str, p: str) -> str:
    return p if os.path.isabs(p) else os.path.normpath(os.path.join(base, p))


def load_expectations(path: str) -> List[Entry]:
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except OSError as exc:
        raise ExpectationsError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ExpectationsError(f"{path}: not valid YAML: {exc}".replace("\n", " ")) from None
    if data is None:
        data = []
    if not isinstance(data, list):
        raise ExpectationsError(f"{path}: expected a YAML list of entries (- input: ..., expect: ...)")
    base = os.path.dirname(os.path.abspath(path))
    entries: List[Entry] = []
    for i, item in enumerate(data, 1):
        where = f"{path}: entry {i}"
        if not isinstance(item, dict) or not isinstance(item.get("input"), str):
            raise ExpectationsError(f"{where}: needs 'input: <path>'")
        unknown = set(item) - _ENTRY_KEYS
        if unknown:
            raise ExpectationsError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        expect = item.get("expect") or {}
        if not isinstance(expect, dict) or set(expect) - _EXPECT_KEYS:
            raise ExpectationsError(f"{where}: 'expect' takes root_cause (an id or null) and optional status")
        rc = expect.get("root_cause")
        status = expect.get("status")
        if rc is not None and not isinstance(rc, str):
            raise ExpectationsError(f"{where}: expect.root_cause must be a signature id or null")
        if status is not None and status not in _STATUS_RANK:
            raise ExpectationsError(f"{where}: expect.status must be match or partial, not {status!r}")
        vml = item.get("vmlinux")
        if vml is not None and not isinstance(vml, str):
            raise ExpectationsError(f"{where}: vmlinux must be a path")
        entries.append(
            Entry(item["input"], _resolve(base, item["input"]), vml, _resolve(base, vml) if vml else None, rc, status)
        )
    return entries


def _got(outcome: Outcome) -> Tuple[Optional[str], Optional[str], bool]:
    summary = (outcome.document or {}).get("summary") or {}
    return summary.get("root_cause"), summary.get("status"), bool(summary.get("specific"))


def compare(entry: Entry, outcome: Outcome) -> Comparison:
    if outcome.status != "ok":
        return Comparison(entry, "error", None, None, f"{outcome.status}: {outcome.error}", outcome.seconds)
    root, status, specific = _got(outcome)
    specific_root = root if specific else None

    def result(kind: str, msg: str) -> Comparison:
        return Comparison(entry, kind, root, status, msg, outcome.seconds, specific)

    if entry.root_cause is None:
        if specific_root is None:
            return result("match", "no specific root cause, as expected")
        return result("improvement", f"expected no specific root cause, got {specific_root} ({status})")
    if root != entry.root_cause:
        got = f"{root} ({status})" if root else "none"
        return result("regression", f"expected {entry.root_cause}, got {got}")
    want = _STATUS_RANK.get(entry.status or "", 0)
    have = _STATUS_RANK.get(status or "", 0)
    if entry.status and have < want:
        return result("regression", f"{root}: status downgraded from {entry.status} to {status}")
    if entry.status and have > want:
        return result("improvement", f"{root}: status upgraded from {entry.status} to {status}")
    return result("match", f"{root} ({status}), as expected")


def _updated(c: Comparison) -> Dict[str, Any]:
    e = c.entry
    item: Dict[str, Any] = {"input": e.input}
    if e.vmlinux:
        item["vmlinux"] = e.vmlinux
    if c.outcome == "error":  # nothing new learnt: keep what was expected
        rc, status = e.root_cause, e.status
    elif c.got_root_cause is not None and (c.got_specific or c.got_root_cause == e.root_cause):
        rc, status = c.got_root_cause, c.got_status  # an expected generic id stays when it still wins
    else:
        rc, status = None, None
    expect: Dict[str, Any] = {"root_cause": rc}
    if rc is not None and status:
        expect["status"] = status
    item["expect"] = expect
    return item


def dump_expectations(results: Sequence[Comparison]) -> str:
    """The expectations rewritten from current results (order and input paths kept; comments are not)."""
    header = "# Rewritten by 'gsotriage regress --update' (comments are not preserved).\n"
    return header + yaml.safe_dump([_updated(c) for c in results], sort_keys=False, default_flow_style=False)
