"""``gsotriage signatures import-cve``: CVE records in, signature files out.

The whole import is built in a staging copy of the signature directory and
checked there (every proposal against its own trace, its nearest real
look-alike, cross-fire over the whole library) before anything is copied back:
files that did not change are not touched, and a dry run copies nothing.

Per in-scope record, in this order:
1. a person's signature already names its fix commit -> the record's per-branch
   fix data goes into it, and its trace becomes a positive case if it accepts it;
2. otherwise a proposal from the record's trace (or the reason there is none);
3. proposals that require exactly the same site and chain become one signature
   naming all their fixes; a site-only proposal where longer-chained classes are
   known is dropped (it would claim all their crashes);
4. a generated file a person has edited keeps its content; only its fix data is
   refreshed.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple, Union

import yaml

from gsotriage.cve.corpus import RECORD_CASES, Analysed, analyse, hubs
from gsotriage.cve.crossfire import cross_fire
from gsotriage.cve.external import EXTERNAL_CASES, ExternalIndex, ExternalIndexError, load_external
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
from gsotriage.cve.propose import Proposal, Rejected, combine, fix_entry, propose, required_key
from gsotriage.cve.records import read_records
from gsotriage.cve.staging import Staging
from gsotriage.cve.summary import KEPT_EDITED, MERGED, PROPOSED, REJECTED, ImportSummary, Outcome
from gsotriage.match.engine import MATCH, PARTIAL, RULED_OUT, diagnose, evaluate_signature
from gsotriage.match.loader import load_library
from gsotriage.match.signature import Signature

__all__ = ["CASES_SUBDIR", "ImportFailed", "run_import"]

CASES_SUBDIR = RECORD_CASES

Group = Tuple[List[Analysed], Proposal]


class ImportFailed(Exception):
    """The import cannot run at all (no records, an invalid existing library)."""


def _read_text(p: Path) -> str:
    return p.read_text(encoding="utf-8")


def _write_case(stage: Staging, a: Analysed) -> None:
    """The record's description as its case file; an external trace is vendored by hand
    under cases/cve-traces/ and never written by the import."""
    if a.external is None:
        stage.write(CASES_SUBDIR / f"{a.record.cve}.txt", a.record.description)


def _library(root: Path) -> Tuple[Signature, ...]:
    lib = load_library([root])
    if lib.errors:
        raise ImportFailed("signature library invalid: " + "; ".join(str(e) for e in lib.errors[:5]))
    return lib.signatures


def _fixed_by(path: Path) -> List[Dict[str, Any]]:
    data = yaml.safe_load(_read_text(path))
    return list(data.get("fixed_by") or []) if isinstance(data, dict) else []


def _edited(path: Path) -> bool:
    """A person's file: hand-written, or generated and changed since."""
    text = _read_text(path)
    stamp = generated_digest(text)
    return stamp is None or stamp != body_digest(text)


def _refresh_fix(path: Path, entry: Dict[str, Any]) -> str:
    """``path``'s text with the record's fix data merged into its fixed_by block."""
    return replace_block(_read_text(path), "fixed_by", fixed_by_block(merge_fix(_fixed_by(path), entry)))


def _merge_hand_written(stage: Staging, sig: Signature, a: Analysed, entry: Dict[str, Any]) -> str:
    """The record's fix data into a person's signature; its trace as a positive case
    when the signature accepts it. Returns the outcome detail."""
    path = Path(sig.path or "")
    text = _refresh_fix(path, entry)
    detail = "fix data from the record"
    if a.has_trace:
        verdict = evaluate_signature(sig, a.report)
        case = a.case_input
        whose = "the record's trace" if a.external is None else f"the record's {a.external.kind} trace"
        if verdict.status == RULED_OUT:
            why = "; ".join(e.clause for e in verdict.contradicted_by)
            detail += f"; the signature rules out {whose} ({why})"
        elif case not in text:
            _write_case(stage, a)
            test = {
                "name": f"{a.record.cve.lower()}-{'record' if a.external is None else 'external'}-trace",
                "input": case,
                "expect": "match-or-partial",
                "provenance": "real",
                "source": a.case_source,
            }
            text = append_test(text, test)
            detail += f"; {whose} added as a positive case ({verdict.status})"
    path.write_text(text, encoding="utf-8")
    return detail


def _site_names(sig: Signature) -> List[str]:
    """The plain function names a signature's required site clauses start with."""
    names: List[str] = []
    for spec in sig.clauses:
        if not spec.required or spec.clause.kind not in ("exception_function", "crash_site", "frames"):
            continue
        patterns = getattr(spec.clause, "patterns", [])
        for pat in patterns[:1] if spec.clause.kind == "frames" else patterns:
            names += [name for _, name, _ in pat.alternatives if name]
    return names


def _site_only_conflicts(groups: Sequence[Group], library: Sequence[Signature]) -> Dict[str, str]:
    """Site-only groups where classes with a longer chain (or a person's signature)
    are known at the same site: beside those, a site-only class would claim every
    other crash there, so it is not made (id -> reason)."""
    chained: Counter[str] = Counter()
    for _, p in groups:
        if len(p.chain) > 1:
            chained[p.site] += 1
    for sig in library:
        if not sig.generic and "mined" not in sig.tags:
            for name in set(_site_names(sig)):
                chained[name] += 1
    return {
        p.sig_id: f"only the crash site {p.site} is named, where {chained[p.site]} other class(es) are known"
        for _, p in groups
        if len(p.chain) == 1 and chained[p.site]
    }


def _group(proposals: Sequence[Tuple[Analysed, Proposal]]) -> List[Group]:
    by_key: Dict[str, List[Tuple[Analysed, Proposal]]] = defaultdict(list)
    for a, p in proposals:
        by_key[required_key(p)].append((a, p))
    groups: List[Group] = []
    for items in by_key.values():
        items.sort(key=lambda ap: _cve_key(ap[0].record.cve))
        members = [a for a, _ in items]
        if len(items) == 1:
            groups.append((members, items[0][1]))
        else:
            props = [p for _, p in items]
            groups.append((members, combine(props, [a.record.cve for a in members], [a.record.title for a in members])))
    return sorted(groups, key=lambda g: g[1].sig_id)


def _cve_key(cve: str) -> Tuple[int, int]:
    _, year, num = cve.split("-")
    return int(year), int(num)


def _positive_test(status: str, top: bool, a: Analysed, name: str) -> Dict[str, Any]:
    test: Dict[str, Any] = {
        "name": name,
        "input": a.case_input,
        "expect": status if status in (MATCH, PARTIAL) else "match-or-partial",
    }
    if top:
        test["top"] = True
    test.update({"provenance": "real", "source": a.case_source})
    return test


def _negative_test(neg: Analysed, expect: str) -> Dict[str, Any]:
    return {
        "name": f"look-alike-{neg.record.cve.lower()}",
        "input": neg.case_input,
        "expect": expect,
        "provenance": "real",
        "source": neg.case_source,
    }


def _entry(a: Analysed, role: str) -> Dict[str, str]:
    return {"file": f"{a.record.cve}.txt", "cve": a.record.cve, "url": a.record.url, "role": role}


_BEGIN = "<!-- begin: CVE record cases, generated by `gsotriage signatures import-cve` -->"
_END = "<!-- end: CVE record cases -->"


def _write_index(stage: Staging, entries: List[Dict[str, str]], external: ExternalIndex) -> None:
    """``cases/cve/index.json`` (each file's record and role) and the provenance table in
    ``cases/SOURCES.md`` (a generated section between markers; the rest of the file is kept),
    with a row for every trace vendored under ``cases/cve-traces/``."""
    entries = sorted({e["file"]: e for e in entries}.values(), key=lambda e: e["file"])
    stage.write(CASES_SUBDIR / "index.json", json.dumps(entries, indent=1) + "\n")
    rows = [
        _BEGIN,
        "",
        "Each `cve/CVE-*.txt` file is the `descriptions[0].value` of the kernel CNA's CVE record verbatim (the fix",
        "commit's message, often quoting the crash it fixed); `cve/index.json` lists the same with each file's role.",
        "",
        "| file | provenance | source |",
        "|---|---|---|",
    ]
    rows += [f"| cve/{e['file']} | real (CVE record description; {e['role']}) | {e['url']} |" for e in entries]
    if external.traces:
        rows += [
            "",
            f"Each `{EXTERNAL_CASES.name}/CVE-*.txt` file is the crash of a record that quotes none, found",
            f"elsewhere and vendored verbatim (crash report part only); `{EXTERNAL_CASES.name}/index.yaml` says",
            "how each was tied to its record, and lists the records searched without finding one.",
            "",
            "| file | provenance | source |",
            "|---|---|---|",
        ]
        for t in sorted(external.traces.values(), key=lambda t: t.file):
            why = f"{t.kind} trace of {t.cve}; matched by {t.matched_by}"
            rows.append(f"| {EXTERNAL_CASES.name}/{t.file} | real ({why}) | {t.source} |")
    rows.append(_END)
    sources = stage.root / "cases" / "SOURCES.md"
    text = sources.read_text(encoding="utf-8") if sources.exists() else "# Provenance of the signature test inputs\n"
    if _BEGIN in text and _END in text:
        text = text[: text.index(_BEGIN)] + "\n".join(rows) + text[text.index(_END) + len(_END) :]
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(rows) + "\n"
    stage.write(Path("cases") / "SOURCES.md", text)


def run_import(
    paths: Sequence[Union[str, Path]],
    signatures_dir: Path,
    *,
    dry_run: bool = False,
    per_category: int = 8,
) -> ImportSummary:
    """Import CVE records into ``signatures_dir``. Raises ImportFailed when no kernel
    record could be read or the existing library is invalid."""
    t0 = time.perf_counter()
    summary = ImportSummary(dry_run=dry_run)
    res = read_records(paths)
    summary.read_seconds = time.perf_counter() - t0
    summary.files, summary.records, summary.other = res.files, len(res.records), res.other
    summary.problems = list(res.problems)
    if not res.records:
        why = f"; {res.problems[0][0]}: {res.problems[0][1]}" if res.problems else ""
        raise ImportFailed(
            f"no kernel CVE records found in {', '.join(map(str, paths))} ({res.files} file(s) read){why}"
        )
    try:
        external = load_external(signatures_dir)
    except ExternalIndexError as exc:
        raise ImportFailed(f"signature library invalid: {exc}") from None
    analysed = [analyse(r, external.traces.get(r.cve)) for r in res.records if _maybe_networking(r.program_files)]
    stage = Staging(signatures_dir, CASES_SUBDIR)
    try:
        _Import(stage, analysed, summary, external).run(per_category)
        summary.written = stage.sync(dry_run, owned=CASES_SUBDIR)
    finally:
        stage.close()
    summary.total_seconds = time.perf_counter() - t0
    return summary


def _maybe_networking(files: Sequence[str]) -> bool:
    return any(
        f.startswith(("net/", "drivers/net/", "include/net/", "include/linux/", "include/uapi/linux/")) for f in files
    )


class _Import:
    def __init__(
        self, stage: Staging, analysed: List[Analysed], summary: ImportSummary, external: ExternalIndex
    ) -> None:
        self.stage = stage
        self.analysed = analysed
        self.summary = summary
        self.external = external
        self.outcomes: Dict[str, Outcome] = {}
        self.index: List[Dict[str, str]] = []

    def outcome(self, a: Analysed, action: str, detail: str = "", sig: Optional[str] = None) -> None:
        self.outcomes[a.record.cve] = Outcome(
            a.record.cve,
            a.scope.subsystem,
            action,
            detail,
            sig,
            a.has_trace,
            a.trace_hint,
            a.trace_source,
            a.external.kind if a.external is not None else None,
        )

    def case(self, a: Analysed, role: str) -> None:
        """``a``'s case file and its index entry (an external trace is already vendored
        and indexed in cases/cve-traces/)."""
        if a.external is None:
            _write_case(self.stage, a)
            self.index.append(_entry(a, role))

    def run(self, per_category: int) -> None:
        library = _library(self.stage.root)
        groups = self._proposals(library)
        editable = self._write_groups(groups)
        self._finish_groups(groups, editable)
        negatives = non_gso_set(self.analysed, per_category)
        for cat, a in negatives:
            self.case(a, f"non-GSO negative ({cat})")
        self.summary.negatives = len(negatives)
        _write_index(self.stage, self.index, self.external)
        named = {o.signature for o in self.outcomes.values()}
        for sig in _library(self.stage.root):
            if "mined" not in sig.tags or sig.id in named or not sig.path:
                continue
            if _edited(Path(sig.path)):
                self.summary.stale.append(sig.id)  # a person's now: kept
            else:
                self.stage.remove(Path(sig.path).name)  # generated, unedited, no record proposes it any more
        final = _library(self.stage.root)
        self._prune_cases(final)
        self.summary.cross_fire, self.summary.ties, self.summary.ambiguous = cross_fire(final)
        self.summary.outcomes = sorted(self.outcomes.values(), key=lambda o: _cve_key(o.cve))
        self._external_summary()

    def _external_summary(self) -> None:
        """How the external traces were used, and which trace-less in-scope records the
        index does not mention yet (nobody has looked for their crash)."""
        s, ext = self.summary, self.external
        s.external = ext.counts()
        used = {o.cve for o in s.outcomes if o.trace_source == "external"}
        s.external_unused = sorted(set(ext.traces) - used, key=_cve_key)
        s.no_trace_unlisted = [
            o.cve
            for o in s.outcomes
            if o.action == REJECTED and not o.trace and o.cve not in ext.traces and o.cve not in ext.searched
        ]

    def _prune_cases(self, library: Sequence[Signature]) -> None:
        """Case files no signature and no index entry refers to any more (a record the
        importer now rejects) leave the import's folder."""
        used = {e["file"] for e in self.index}
        prefix = CASES_SUBDIR.as_posix() + "/"  # not cases/cve-traces/
        for sig in library:
            used |= {Path(t.input).name for t in sig.tests if t.input and t.input.startswith(prefix)}
        for p in (self.stage.root / CASES_SUBDIR).glob("CVE-*.txt"):
            if p.name not in used:
                p.unlink()

    def _proposals(self, library: Sequence[Signature]) -> List[Group]:
        by_commit: Dict[str, Signature] = {}
        for sig in library:
            for f in sig.fixed_by:
                by_commit.setdefault(f.commit[:12], sig)
        proposals: List[Tuple[Analysed, Proposal]] = []
        common = hubs([a for a in self.analysed if a.networking])
        for a in self.analysed:
            entry = fix_entry(a.record)
            owner = by_commit.get(entry["commit"][:12]) if entry else None
            if owner is not None and not Path(owner.path or "").exists():
                owner = None  # a generated file of several fixes, removed for another of them above
            if entry and owner is not None and generated_digest(_read_text(Path(owner.path or ""))) is None:
                # A person's signature names this fix: in scope or not, the record's data is the fix's.
                self.outcome(a, MERGED, _merge_hand_written(self.stage, owner, a, entry), owner.id)
                if a.external is None and (self.stage.root / CASES_SUBDIR / f"{a.record.cve}.txt").exists():
                    self.index.append(_entry(a, f"positive for {owner.id}"))
                continue
            if not a.scope.in_scope:
                continue
            p = propose(a.record, a.scope, a.report, a.stack, common)
            if isinstance(p, Rejected):
                if entry and owner is not None and _edited(Path(owner.path or "")):
                    Path(owner.path or "").write_text(_refresh_fix(Path(owner.path or ""), entry), encoding="utf-8")
                    self.outcome(a, KEPT_EDITED, f"fix data refreshed; {p.reason}", owner.id)
                elif owner is not None:
                    self.stage.remove(Path(owner.path or "").name)
                    self.outcome(a, REJECTED, f"{p.reason}; its earlier generated file {owner.id} removed")
                else:
                    self.outcome(a, REJECTED, p.reason)
                continue
            if owner is not None and owner.id != p.sig_id:  # keep the id a generated file already has
                p = Proposal(owner.id, {**p.doc, "id": owner.id}, p.case_name, p.case_text, p.site, p.chain)
            proposals.append((a, p))
        groups = _group(proposals)
        conflicts = _site_only_conflicts(groups, library)
        kept = []
        for members, p in groups:
            if p.sig_id in conflicts:
                for a in members:
                    self.outcome(a, REJECTED, conflicts[p.sig_id])
            else:
                kept.append((members, p))
        return kept

    def _write_groups(self, groups: Sequence[Group]) -> Set[str]:
        """Write each group's file (tests completed later); the ids the importer may
        (re)generate, as opposed to files a person edited."""
        editable: Set[str] = set()
        for members, p in groups:
            for a in members:
                self.case(a, f"positive for {p.sig_id}")
            path = self.stage.root / f"{p.sig_id}.yaml"
            if path.exists():
                if _edited(path):
                    for entry in p.doc["fixed_by"]:
                        path.write_text(_refresh_fix(path, entry), encoding="utf-8")
                    for a in members:
                        self.outcome(a, KEPT_EDITED, "edited by a person: fix data refreshed, the rest kept", p.sig_id)
                    continue
            tests = [_positive_test(MATCH, False, a, f"cve-record-trace-{a.record.cve.lower()}") for a in members]
            self.stage.write(
                f"{p.sig_id}.yaml", render_signature({**p.doc, "tests": [*tests, _PLACEHOLDER]}, members[0].record.cve)
            )
            editable.add(p.sig_id)
            for a in members:
                self.outcome(
                    a,
                    PROPOSED,
                    " <- ".join(p.chain) + (f" (one of {len(members)} fixes)" if len(members) > 1 else ""),
                    p.sig_id,
                )
        return editable

    def _finish_groups(self, groups: Sequence[Group], editable: Set[str]) -> None:
        """Each generated signature's tests: its records' traces (expecting what the
        whole library gives, ``top`` where it wins untied) and its nearest real look-alike."""
        library = _library(self.stage.root)
        by_id = {s.id: s for s in library}
        candidates = [a for a in self.analysed if a.stack and (a.scope.in_scope or a.networking)]
        for members, p in groups:
            if p.sig_id not in editable:
                continue
            sig = by_id[p.sig_id]
            tests = []
            for a in members:
                diag = diagnose(a.report, library)
                mine = next(v for v in diag.verdicts if v.signature.id == sig.id)
                top = diag.top is not None and diag.top.signature.id == sig.id and not mine.tie and not diag.ambiguity
                tests.append(_positive_test(mine.status, top, a, f"cve-record-trace-{a.record.cve.lower()}"))
            neg = nearest_negative(sig, members, candidates, library)
            if neg is not None:
                self.case(neg[0], f"look-alike negative for {p.sig_id}")
                tests.append(_negative_test(*neg))
            else:  # too few records were imported to offer a real look-alike
                tests.append(_DRIVER_XMIT_NEGATIVE)
            self.stage.write(f"{p.sig_id}.yaml", render_signature({**p.doc, "tests": tests}, members[0].record.cve))


# The classic look-alike, for an import too small to offer a real one: a driver's NULL
# dereference under dev_hard_start_xmit (no GSO/GRO frame, another crash site).
_DRIVER_XMIT_NEGATIVE: Dict[str, Any] = {
    "name": "driver-xmit-null-deref",
    "expect": "ruled-out",
    "provenance": "reconstructed",
    "report": {
        "panic": {"kind": "null-deref", "function": "e1000_xmit_frame", "fault_address": "0x10"},
        "frames": [
            {"function": "dev_hard_start_xmit"},
            {"function": "sch_direct_xmit"},
            {"function": "__dev_queue_xmit"},
        ],
    },
}

# Replaced by the nearest real look-alike once the whole library is loaded.
_PLACEHOLDER: Dict[str, Any] = {
    "name": "placeholder",
    "expect": "ruled-out",
    "provenance": "reconstructed",
    "report": {"panic": {"kind": "oom"}},
}
