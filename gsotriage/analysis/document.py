"""The JSON document of one analysis: the versioned contract (``--format json``,
batch result lines, history records), documented in docs/json-schema.md.

Built once per analysis by the core; every formatter, the batch writer and the
history store consume it. Schema 1.x only ever adds fields; renaming or removing
one needs 2.0. A frozen v1 sample in tests/render/ fails when a v1 field disappears.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from gsotriage import __version__
from gsotriage.match.engine import RULED_OUT, Diagnosis, Evidence, FixVerdict, Verdict
from gsotriage.match.exposure import exposure
from gsotriage.match.loader import Library
from gsotriage.model import report_to_dict

__all__ = ["SCHEMA_VERSION", "build_document", "compact_document", "verdict_to_dict"]

SCHEMA_VERSION = "1.0"


def _evidence(e: Evidence) -> Dict[str, Any]:
    return {
        "clause": e.clause,
        "kind": e.kind,
        "required": e.required,
        "result": e.result.value,
        "expected": e.expected,
        "observed": e.observed,
        "weight": e.weight,
        "why": e.why,
        "background": e.background,
        "contribution": e.contribution,
    }


def _fix(f: FixVerdict) -> Dict[str, Any]:
    return {
        "commit": f.fix.commit,
        "subject": f.fix.subject,
        "first_release": f.fix.first_release,
        "fixes": f.fix.fixes,
        "cve": f.fix.cve,
        "stable": list(f.fix.stable),
        "this_kernel": f.status.state,
        "basis": f.status.basis,
    }


def verdict_to_dict(v: Verdict, *, full: bool = True) -> Dict[str, Any]:
    """One verdict. ``full=False`` (ruled-out classes) keeps the contradicting
    evidence only and leaves the signature's prose to the library (same digest)."""
    sig = v.signature
    out: Dict[str, Any] = {
        "signature": sig.id,
        "title": sig.title,
        "status": v.status,
        "score": v.score,
        "log_score": round(v.log_score, 4),
        "support": v.support,
        "tie": v.tie,
        "generic": sig.generic,
        "maturity": sig.maturity,
        "severity": sig.severity,
        "tags": list(sig.tags),
        "evidence": [_evidence(e) for e in (v.evidence if full else v.contradicted_by)],
        "contradicted_by": [e.clause for e in v.contradicted_by],
        "would_confirm": [e.clause for e in v.unknown_required],
        "fixed_by": [_fix(f) for f in v.fixes],
        "references": [{"url": r.url, "title": r.title} for r in sig.references] if full else [],
    }
    if full:
        out.update(
            {
                "summary": sig.summary,
                "confirm_with_vmcore": sig.confirm_with_vmcore,
                "remediation": {
                    "upgrade": sig.remediation.upgrade,
                    "workarounds": [
                        {"command": w.command, "cost": w.cost, "note": w.note} for w in sig.remediation.workarounds
                    ],
                },
                "unverified": list(sig.unverified),
            }
        )
    return out


def _summary(diag: Diagnosis, exit_code: int) -> Dict[str, Any]:
    top = diag.top
    amb = diag.ambiguity
    summary: Dict[str, Any] = {
        # No single cause is presented when the evidence cannot choose.
        "root_cause": top.signature.id if top and amb is None else None,
        "status": diag.status,
        "specific": diag.specific_root_cause,
        "tie": bool(top and top.tie),
        "score": top.score if top else None,
        "exit_code": exit_code,
    }
    if diag.withheld is not None:
        summary["withheld"] = diag.withheld
    if amb is not None:
        summary["candidates"] = [
            {
                "signature": v.signature.id,
                "status": v.status,
                "score": v.score,
                "fixed_by": [f.fix.commit for f in v.fixes],
                "lacks": [e.clause for e in v.unknown_required],
            }
            for v in amb.candidates
        ]
        summary["deciders"] = [
            {"between": list(d.between), "observables": list(d.observables), "how": list(d.how)} for d in amb.deciders
        ]
    return summary


def build_document(
    diag: Diagnosis, library: Library, *, input_kind: str, input_path: Optional[str], exit_code: int
) -> Dict[str, Any]:
    report = report_to_dict(diag.report)
    report["bucket"] = diag.bucket
    verdicts: List[Dict[str, Any]] = [verdict_to_dict(v, full=v.status != RULED_OUT) for v in diag.verdicts]
    doc: Dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "gsotriage", "version": __version__},
        "signatures": {"digest": library.digest, "count": len(library.signatures)},
        "input": {
            "kind": input_kind,
            "path": input_path,
            "format": diag.report.source.format,
            "degraded": diag.report.source.degraded,
        },
        "report": report,
        "summary": _summary(diag, exit_code),
        "verdicts": verdicts,
    }
    if diag.report.live:
        # Schema 1.x addition, live reports only: fix status and reachability per signature.
        doc["exposure"] = exposure(diag)
    return doc


_COMPACT_TEXT = 200  # characters kept of an evidence's observed/expected text
_COMPACT_FULL = 3  # candidates that keep the signature's prose (summary, remediation, references)


def _short(text: Any) -> Any:
    if isinstance(text, str) and len(text) > _COMPACT_TEXT:
        return text[: _COMPACT_TEXT - 3] + "..."
    return text


def compact_document(document: Dict[str, Any]) -> Dict[str, Any]:
    """The form batch results and the history store keep (``compact: true``). Every
    verdict is still listed: the best candidates with their evidence (observed texts
    cut), the other candidates by id, score and what they lack, a ruled-out one by
    id and what ruled it out. The signatures' prose is in the library its digest
    names."""
    doc = dict(document)
    verdicts: List[Dict[str, Any]] = []
    candidates = 0
    for v in document.get("verdicts", []):
        if v.get("status") == "ruled-out":
            # The first contradiction is enough to say why; the library has the clause.
            first = v.get("contradicted_by", [])[:1]
            verdicts.append(
                {"signature": v["signature"], "status": v["status"], "contradicted_by": [c[:80] for c in first]}
            )
            continue
        brief = {
            "signature": v["signature"],
            "status": v["status"],
            "score": v.get("score", 0.0),
            "generic": v.get("generic"),
        }
        if candidates < _COMPACT_FULL:
            brief.update(
                {
                    "log_score": v.get("log_score"),
                    "tie": v.get("tie"),
                    "evidence": [
                        {
                            "clause": _short(e.get("clause")),
                            "required": e.get("required"),
                            "result": e.get("result"),
                            "observed": _short(e.get("observed")),
                            "contribution": e.get("contribution"),
                        }
                        for e in v.get("evidence", [])
                    ],
                    "would_confirm": v.get("would_confirm", []),
                    "fixed_by": [
                        {"commit": f.get("commit"), "cve": f.get("cve"), "this_kernel": f.get("this_kernel")}
                        for f in v.get("fixed_by", [])
                    ],
                }
            )
            candidates += 1
        else:
            brief["would_confirm"] = [_short(c) for c in v.get("would_confirm", [])]
            brief["fixed_by"] = [f.get("commit") for f in v.get("fixed_by", [])]
        verdicts.append(brief)
    doc["verdicts"] = verdicts
    doc["compact"] = True
    return doc
