"""``gsotriage signatures import-cve``: CVE records in, signature files out.

The whole import is built in a staging copy of the signature directory, checked
there (every proposal's own trace, its nearest real look-alike, cross-fire over
the whole library), and only then copied back: files that did not change are
not touched, and ``dry_run`` copies nothing.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import yaml

from gsotriage.cve.corpus import Analysed, analyse
from gsotriage.cve.merge import (
    append_test,
    body_digest,
    fixed_by_block,
    generated_digest,
    merge_fix,
    render_signature,
    replace_block,
)
from gsotriage.cve.negatives import nearest_negative, non_gso_set
from gsotriage.cve.propose import Proposal, Rejected, fix_entry, propose
from gsotriage.cve.records import read_records
from gsotriage.cve.summary import KEPT_EDITED, MERGED, PROPOSED, REJECTED, CrossFire, ImportSummary, Outcome
from gsotriage.match.engine import MATCH, PARTIAL, RULED_OUT, diagnose, evaluate_signature
from gsotriage.match.loader import load_library
from gsotriage.match.selftest import POSITIVE, load_case_report
from gsotriage.match.signature import Signature

__all__ = ["CASES_SUBDIR", "ImportError_", "cross_fire", "run_import"]

CASES_SUBDIR = Path("cases") / "cve"


class ImportError_(Exception):  # noqa: N801 - the builtin name is taken
    """The import cannot run at all (no records, an invalid existing library)."""


def _read_text(p: Path) -> str:
    return p.read_text(encoding="utf-8")


def _case_input(cve: str) -> str:
    return f"{CASES_SUBDIR.as_posix()}/{cve}.txt"


class _Staging:
    """A copy of the signature directory that the import edits."""

    def __init__(self, source: Path) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="gsotriage-import-")
        self.root = Path(self._tmp.name) / "signatures"
        if source.is_dir():
            shutil.copytree(source, self.root)
        else:
            self.root.mkdir(parents=True)
        (self.root / CASES_SUBDIR).mkdir(parents=True, exist_ok=True)
        self.source = source

    def write(self, rel: Union[str, Path], text: str) -> None:
        p = self.root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")

    def sync(self, dry_run: bool) -> List[str]:
        """Copy new or changed files back; the list of them."""
        changed: List[str] = []
        for p in sorted(self.root.rglob("*")):
            if not p.is_file():
                continue
            rel = p.relative_to(self.root)
            dest = self.source / rel
            data = p.read_bytes()
            if dest.is_file() and dest.read_bytes() == data:
                continue
            changed.append(str(dest))
            if not dry_run:
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(data)
        return changed

    def close(self) -> None:
        self._tmp.cleanup()


def _library(root: Path) -> Tuple[Signature, ...]:
    lib = load_library([root])
    if lib.errors:
        raise ImportError_("signature library invalid: " + "; ".join(str(e) for e in lib.errors[:5]))
    return lib.signatures


def _doc(path: Path) -> Dict[str, Any]:
    data = yaml.safe_load(_read_text(path))
    return data if isinstance(data, dict) else {}


def _merge_hand_written(stage: _Staging, sig: Signature, a: Analysed, entry: Dict[str, Any]) -> str:
    """The record's fix data into a person's signature; its trace as a positive case
    when the signature accepts it. Returns the outcome detail."""
    path = Path(sig.path or "")
    text = _read_text(path)
    text = replace_block(text, "fixed_by", fixed_by_block(merge_fix(_doc(path).get("fixed_by") or [], entry)))
    detail = "fix data from the record"
    if a.has_trace:
        status = evaluate_signature(sig, a.report).status
        case = _case_input(a.record.cve)
        if status == RULED_OUT:
            why = "; ".join(e.clause for e in evaluate_signature(sig, a.report).contradicted_by)
            detail += f"; the signature rules out the record's trace ({why})"
        elif case not in text:
            stage.write(CASES_SUBDIR / f"{a.record.cve}.txt", a.record.description)
            test = {
                "name": f"{a.record.cve.lower()}-record-trace",
                "input": case,
                "expect": "match-or-partial",
                "provenance": "real",
                "source": a.record.url,
            }
            text = append_test(text, test)
            detail += f"; the record's trace added as a positive case ({status})"
    path.write_text(text, encoding="utf-8")
    return detail


def _site_names(sig: Signature) -> List[str]:
    """The plain function names a signature's required site clauses start with."""
    names: List[str] = []
    for spec in sig.clauses:
        if not spec.required or spec.clause.kind not in ("exception_function", "frames"):
            continue
        patterns = getattr(spec.clause, "patterns", [])
        for pat in patterns[:1] if spec.clause.kind == "frames" else patterns:
            names += [name for _, name, _ in pat.alternatives if name]
    return names


def _site_only_conflicts(proposals: Sequence[Tuple[Analysed, Proposal]], library: Sequence[Signature]) -> Dict[str, str]:
    """Proposals whose trace names only a crash site that other classes share: they
    could never be told apart from those, so they are not made (id -> reason)."""
    sites: Counter[str] = Counter()
    for _, p in proposals:
        sites[p.site] += 1
    for sig in library:
        if not sig.generic and "mined" not in sig.tags:
            for name in set(_site_names(sig)):
                sites[name] += 1
    out = {}
    for _, p in proposals:
        if len(p.chain) == 1 and sites[p.site] > 1:
            out[p.sig_id] = f"only the crash site {p.site} is named, and {sites[p.site] - 1} other class(es) share it"
    return out


def _positive_test(diag_top: Optional[str], tie: bool, status: str, a: Analysed, sig_id: str) -> Dict[str, Any]:
    test: Dict[str, Any] = {
        "name": "cve-record-trace",
        "input": _case_input(a.record.cve),
        "expect": status if status in (MATCH, PARTIAL) else "match-or-partial",
    }
    if diag_top == sig_id and not tie:
        test["top"] = True
    test.update({"provenance": "real", "source": a.record.url})
    return test


def _negative_test(neg: Analysed, expect: str) -> Dict[str, Any]:
    return {
        "name": f"look-alike-{neg.record.cve.lower()}",
        "input": _case_input(neg.record.cve),
        "expect": expect,
        "provenance": "real",
        "source": neg.record.url,
    }


def cross_fire(library: Sequence[Signature]) -> Tuple[List[CrossFire], int]:
    """Every signature's positive cases against the whole library: the cases whose
    top verdict is another signature (not tied with this one, not its refinement)."""
    fired: List[CrossFire] = []
    ties = 0
    for sig in library:
        for case in sig.tests:
            if case.expect not in POSITIVE:
                continue
            try:
                report = load_case_report(sig, case)
            except Exception:  # noqa: S112 - a broken case is the self-test's to report
                continue
            diag = diagnose(report, library)
            top = diag.top
            if top is None or top.signature.id == sig.id:
                continue
            mine = next(v for v in diag.verdicts if v.signature.id == sig.id)
            related = sig.refines == top.signature.id or top.signature.refines == sig.id
            if mine.tie and mine.rank_key == top.rank_key:
                ties += 1
                continue
            if related or top.signature.generic:
                continue
            fired.append(CrossFire(sig.id, case.name, top.signature.id, top.tie))
    return fired, ties


def _index(stage: _Staging, entries: List[Dict[str, str]]) -> None:
    entries = sorted({e["file"]: e for e in entries}.values(), key=lambda e: e["file"])
    stage.write(CASES_SUBDIR / "index.json", json.dumps(entries, indent=1) + "\n")
    rows = [
        "# Provenance of the CVE record cases",
        "",
        "Generated by `gsotriage signatures import-cve`. Each file is the `descriptions[0].value` of the",
        "kernel CNA's CVE record verbatim (the fix commit's message, often quoting the crash it fixed).",
        "",
        "| file | record | role |",
        "|---|---|---|",
    ]
    rows += [f"| {e['file']} | {e['url']} | {e['role']} |" for e in entries]
    stage.write(CASES_SUBDIR / "SOURCES.md", "\n".join(rows) + "\n")


def run_import(
    paths: Sequence[Union[str, Path]],
    signatures_dir: Path,
    *,
    dry_run: bool = False,
    per_category: int = 8,
) -> ImportSummary:
    """Import CVE records into ``signatures_dir``. Raises ImportError_ when no kernel
    record could be read or the existing library is invalid."""
    t0 = time.perf_counter()
    summary = ImportSummary(dry_run=dry_run)
    res = read_records(paths)
    summary.read_seconds = time.perf_counter() - t0
    summary.files, summary.records, summary.other = res.files, len(res.records), res.other
    summary.problems = list(res.problems)
    if not res.records:
        raise ImportError_(f"no kernel CVE records found in {', '.join(map(str, paths))} ({res.files} file(s) read)")
    analysed = [analyse(r) for r in res.records if _maybe_networking(r.program_files)]
    stage = _Staging(signatures_dir)
    try:
        _import(stage, analysed, summary, per_category)
        summary.written = stage.sync(dry_run)
    finally:
        stage.close()
    summary.total_seconds = time.perf_counter() - t0
    return summary


def _maybe_networking(files: Sequence[str]) -> bool:
    return any(f.startswith(("net/", "drivers/net/", "include/net/", "include/linux/", "include/uapi/linux/")) for f in files)


def _import(stage: _Staging, analysed: List[Analysed], summary: ImportSummary, per_category: int) -> None:
    library = _library(stage.root)
    by_commit: Dict[str, Signature] = {}
    for sig in library:
        for f in sig.fixed_by:
            by_commit.setdefault(f.commit[:12], sig)
    in_scope = [a for a in analysed if a.scope.in_scope]
    proposals: List[Tuple[Analysed, Proposal]] = []
    outcomes: Dict[str, Outcome] = {}

    def outcome(a: Analysed, action: str, detail: str = "", sig: Optional[str] = None) -> None:
        outcomes[a.record.cve] = Outcome(
            a.record.cve, a.scope.subsystem, action, detail, sig, a.has_trace, a.trace_hint
        )

    index: List[Dict[str, str]] = []
    for a in in_scope:
        entry = fix_entry(a.record)
        owner = by_commit.get(entry["commit"][:12]) if entry else None
        if entry and owner is not None and generated_digest(_read_text(Path(owner.path or ""))) is None:
            outcome(a, MERGED, _merge_hand_written(stage, owner, a, entry), owner.id)
            if (stage.root / CASES_SUBDIR / f"{a.record.cve}.txt").exists():
                index.append(_entry(a, f"positive for {owner.id}"))
            continue
        p = propose(a.record, a.scope, a.report, a.stack)
        if isinstance(p, Rejected):
            if entry and owner is not None:
                _refresh_fix(Path(owner.path or ""), entry)
                outcome(a, KEPT_EDITED, f"fix data refreshed; {p.reason}", owner.id)
            else:
                outcome(a, REJECTED, p.reason)
            continue
        if owner is not None and owner.id != p.sig_id:
            p = Proposal(owner.id, {**p.doc, "id": owner.id}, p.case_name, p.case_text, p.site, p.chain)
        proposals.append((a, p))
    conflicts = _site_only_conflicts(proposals, library)
    kept: List[Tuple[Analysed, Proposal]] = []
    for a, p in proposals:
        if p.sig_id in conflicts:
            outcome(a, REJECTED, conflicts[p.sig_id])
        else:
            kept.append((a, p))
    editable = _write_proposals(stage, kept, outcome)
    library = _library(stage.root)
    by_id = {s.id: s for s in library}
    candidates = [a for a in analysed if a.stack and (a.scope.in_scope or a.networking)]
    for a, p in kept:
        index.append(_entry(a, f"positive for {p.sig_id}"))
        if p.sig_id not in editable:
            continue
        sig = by_id[p.sig_id]
        diag = diagnose(a.report, library)
        mine = next(v for v in diag.verdicts if v.signature.id == sig.id)
        top = diag.top.signature.id if diag.top else None
        tests = [_positive_test(top, mine.tie, mine.status, a, sig.id)]
        neg = nearest_negative(sig, a, candidates, library)
        if neg is not None:
            stage.write(CASES_SUBDIR / f"{neg[0].record.cve}.txt", neg[0].record.description)
            index.append(_entry(neg[0], f"look-alike negative for {p.sig_id}"))
            tests.append(_negative_test(*neg))
        doc = {**p.doc, "tests": tests}
        stage.write(f"{p.sig_id}.yaml", render_signature(doc, a.record.cve))
    negatives = non_gso_set(analysed, per_category)
    for cat, a in negatives:
        stage.write(CASES_SUBDIR / f"{a.record.cve}.txt", a.record.description)
        index.append(_entry(a, f"non-GSO negative ({cat})"))
    summary.negatives = len(negatives)
    _index(stage, index)
    final = _library(stage.root)
    summary.cross_fire, summary.ties = cross_fire(final)
    proposed_ids = {p.sig_id for _, p in kept}
    summary.stale = sorted(
        s.id for s in final if "mined" in s.tags and s.id not in proposed_ids and s.id not in {o.signature for o in outcomes.values()}
    )
    summary.outcomes = sorted(outcomes.values(), key=lambda o: o.cve)


def _entry(a: Analysed, role: str) -> Dict[str, str]:
    return {"file": f"{a.record.cve}.txt", "cve": a.record.cve, "url": a.record.url, "role": role}


def _refresh_fix(path: Path, entry: Dict[str, Any]) -> None:
    text = _read_text(path)
    path.write_text(
        replace_block(text, "fixed_by", fixed_by_block(merge_fix(_doc(path).get("fixed_by") or [], entry))),
        encoding="utf-8",
    )


def _write_proposals(stage: _Staging, kept: Sequence[Tuple[Analysed, Proposal]], outcome: Any) -> set:
    """Write each proposal (positive case only for now); the ids whose file the importer
    may (re)generate, as opposed to files a person edited."""
    editable = set()
    for a, p in kept:
        stage.write(CASES_SUBDIR / p.case_name, p.case_text)
        path = stage.root / f"{p.sig_id}.yaml"
        if path.exists():
            text = _read_text(path)
            stamp = generated_digest(text)
            if stamp is None or stamp != body_digest(text):
                _refresh_fix(path, p.doc["fixed_by"][0])
                outcome(a, KEPT_EDITED, "edited by a person: fix data refreshed, the rest kept", p.sig_id)
                continue
        doc = {**p.doc, "tests": [_positive_test(None, False, MATCH, a, p.sig_id), _placeholder_negative(a)]}
        stage.write(f"{p.sig_id}.yaml", render_signature(doc, a.record.cve))
        editable.add(p.sig_id)
        outcome(a, PROPOSED, " <- ".join(p.chain), p.sig_id)
    return editable


def _placeholder_negative(a: Analysed) -> Dict[str, Any]:
    # Replaced by the nearest real look-alike once the whole library is loaded.
    return {"name": "placeholder", "expect": "ruled-out", "provenance": "reconstructed", "report": {"panic": {"kind": "oom"}}}
