"""Real crash traces found outside a CVE record, for records that quote none.

Most kernel CNA records of GSO/GRO fixes quote no crash: the fix commit's message
describes the bug in prose, and the crash (a syzbot report, a user's oops on a
mailing list or bug tracker) lives elsewhere. A person who finds that crash vendors
the crash-report part verbatim under ``signatures/cases/cve-traces/<CVE>.txt`` and
records it in ``signatures/cases/cve-traces/index.yaml``::

    traces:            # used by import-cve as the record's positive case
      - cve: CVE-2024-0000
        file: CVE-2024-0000.txt
        source: https://syzkaller.appspot.com/bug?extid=...
        kind: syzbot
        matched_by: the syzbot hash the fix names (Reported-by: syzbot+...)
    searched:          # records looked for without finding a trace, or not looked for
      - cve: CVE-2024-0001
        result: not-found          # or not-searched
        why: ...                   # where it was looked for / why not
        queries: ["pages: ...", "issues: ..."]

The import uses an external trace only when the record's own description has none
the parser reads (the record's own quote always wins), with provenance ``real`` and
the external source as the case's source. ``matched_by`` must say how the trace was
tied to the record: the same syzbot hash, the same fix commit, the patch's own thread.
A trace of a look-alike crash of another bug must never be listed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Tuple

import yaml

__all__ = [
    "EXTERNAL_CASES",
    "INDEX",
    "KINDS",
    "ExternalIndex",
    "ExternalIndexError",
    "ExternalTrace",
    "SearchNote",
    "load_external",
]

EXTERNAL_CASES = Path("cases") / "cve-traces"
INDEX = EXTERNAL_CASES / "index.yaml"

# Where a trace can come from.
KINDS = ("syzbot", "patch-thread", "mailing-list", "bug-tracker", "github-issue", "vendor-advisory")
RESULTS = ("not-found", "not-searched")

_CVE = re.compile(r"^CVE-\d{4}-\d{4,}$")
_URL = re.compile(r"^https?://\S+$")


class ExternalIndexError(ValueError):
    """The external-trace index is malformed (the message names the entry and field)."""


@dataclass(frozen=True)
class ExternalTrace:
    """A record's crash, vendored from another public source."""

    cve: str
    file: str  # file name under cases/cve-traces/
    source: str  # where the trace was published
    kind: str  # one of KINDS
    matched_by: str  # how it was tied to the record
    text: str  # the vendored crash report, verbatim

    @property
    def case_input(self) -> str:
        """The path a signature's test names (relative to the signature directory)."""
        return f"{EXTERNAL_CASES.as_posix()}/{self.file}"


@dataclass(frozen=True)
class SearchNote:
    """A record looked for without finding a trace (``not-found``), or not looked for
    (``not-searched``: e.g. its message describes no observed crash)."""

    cve: str
    result: str
    why: str
    queries: Tuple[str, ...] = ()


@dataclass
class ExternalIndex:
    traces: Dict[str, ExternalTrace] = field(default_factory=dict)
    searched: Dict[str, SearchNote] = field(default_factory=dict)

    def counts(self) -> Dict[str, Any]:
        kinds: Dict[str, int] = {}
        for t in self.traces.values():
            kinds[t.kind] = kinds.get(t.kind, 0) + 1
        results = [n.result for n in self.searched.values()]
        return {
            "found": len(self.traces),
            "found_by_kind": dict(sorted(kinds.items())),
            "not_found": results.count("not-found"),
            "not_searched": results.count("not-searched"),
        }


def _text(entry: Mapping[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ExternalIndexError(f"{where}: '{key}' must be a non-empty string")
    return value.strip()


def _cve(entry: Mapping[str, Any], where: str) -> str:
    cve = _text(entry, "cve", where)
    if not _CVE.match(cve):
        raise ExternalIndexError(f"{where}: {cve!r} is not a CVE id")
    return cve


def _trace(entry: Mapping[str, Any], folder: Path, where: str) -> ExternalTrace:
    cve = _cve(entry, where)
    name = _text(entry, "file", where)
    if "/" in name or name.startswith("."):
        raise ExternalIndexError(f"{where}: file {name!r} must be a plain name in {EXTERNAL_CASES.as_posix()}/")
    path = folder / name
    if not path.is_file():
        raise ExternalIndexError(f"{where}: {EXTERNAL_CASES.as_posix()}/{name} does not exist")
    text = path.read_text(encoding="utf-8")
    if not text.strip():
        raise ExternalIndexError(f"{where}: {EXTERNAL_CASES.as_posix()}/{name} is empty")
    source = _text(entry, "source", where)
    if not _URL.match(source):
        raise ExternalIndexError(f"{where}: source {source!r} is not a URL")
    kind = _text(entry, "kind", where)
    if kind not in KINDS:
        raise ExternalIndexError(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}")
    return ExternalTrace(cve, name, source, kind, _text(entry, "matched_by", where), text)


def _note(entry: Mapping[str, Any], where: str) -> SearchNote:
    cve = _cve(entry, where)
    result = _text(entry, "result", where)
    if result not in RESULTS:
        raise ExternalIndexError(f"{where}: result {result!r} is not one of {', '.join(RESULTS)}")
    queries = entry.get("queries") or []
    if not isinstance(queries, list) or not all(isinstance(q, str) for q in queries):
        raise ExternalIndexError(f"{where}: 'queries' must be a list of strings")
    if result == "not-found" and not queries:
        raise ExternalIndexError(f"{where}: a record searched without result must list its queries")
    return SearchNote(cve, result, _text(entry, "why", where), tuple(queries))


def _entries(doc: Mapping[str, Any], key: str) -> List[Mapping[str, Any]]:
    items = doc.get(key) or []
    if not isinstance(items, list) or not all(isinstance(e, Mapping) for e in items):
        raise ExternalIndexError(f"{INDEX.as_posix()}: '{key}' must be a list of mappings")
    return items


def load_external(signatures_dir: Path) -> ExternalIndex:
    """The external-trace index of a signature directory (empty when it has none).
    Raises ExternalIndexError on a malformed index."""
    path = signatures_dir / INDEX
    if not path.is_file():
        return ExternalIndex()
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ExternalIndexError(f"{INDEX.as_posix()}: not YAML ({exc})") from None
    if not isinstance(doc, Mapping):
        raise ExternalIndexError(f"{INDEX.as_posix()}: must be a mapping with 'traces' and 'searched'")
    unknown = set(doc) - {"traces", "searched"}
    if unknown:
        raise ExternalIndexError(f"{INDEX.as_posix()}: unknown key(s) {', '.join(sorted(unknown))}")
    index = ExternalIndex()
    folder = path.parent
    for i, entry in enumerate(_entries(doc, "traces")):
        t = _trace(entry, folder, f"{INDEX.as_posix()}: traces[{i}]")
        if t.cve in index.traces:
            raise ExternalIndexError(f"{INDEX.as_posix()}: {t.cve} is listed twice under 'traces'")
        index.traces[t.cve] = t
    for i, entry in enumerate(_entries(doc, "searched")):
        n = _note(entry, f"{INDEX.as_posix()}: searched[{i}]")
        if n.cve in index.searched or n.cve in index.traces:
            raise ExternalIndexError(f"{INDEX.as_posix()}: {n.cve} is listed twice")
        index.searched[n.cve] = n
    return index
