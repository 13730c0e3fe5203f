"""The JSON document of one analysis: the versioned contract (``--format json``,
batch result lines, history records), documented in docs/json-schema.md.

Built once per analysis by the core; every formatter, the batch writer and the
history store consume it. Schema 1.x only ever adds fields; renaming or removing
one needs 2.0. A frozen v1 sample in tests/render/ fails when a v1 field disappears.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from gsotriage import __version__
from gsotriage.match.engine import Diagnosis, Verdict
from gsotriage.match.exposure import exposure
from gsotriage.match.loader import Library
from gsotriage.model import report_to_dict

__all__ = ["SCHEMA_VERSION", "build_document", "verdict_to_dict"]

SCHEMA_VERSION = "1.0"


def verdict_to_dict(v: Verdict) -> Dict[str, Any]:
    sig = v.signature
    return {
        "signature": sig.id,
        "title": sig.title,
        "status": v.status,
        "score": v.score,
        "support": v.support,
        "tie": v.tie,
        "generic": sig.generic,
        "maturity": sig.maturity,
        "severity": sig.severity,
        "tags": list(sig.tags),
        "summary": sig.summary,
        "evidence": [
            {
                "clause": e.clause,
                "kind": e.kind,
                "required": e.required,
                "result": e.result.value,
                "expected": e.expected,
                "observed": e.observed,
                "weight": e.weight,
                "why": e.why,
            }
            for e in v.evidence
        ],
        "contradicted_by": [e.clause for e in v.contradicted_by],
        "would_confirm": [e.clause for e in v.unknown_required],
        "confirm_with_vmcore": sig.confirm_with_vmcore,
        "fixed_by": [
            {
                "commit": f.fix.commit,
                "subject": f.fix.subject,
                "first_release": f.fix.first_release,
                "fixes": f.fix.fixes,
                "cve": f.fix.cve,
                "stable": list(f.fix.stable),
                "this_kernel": f.status.state,
                "basis": f.status.basis,
            }
            for f in v.fixes
        ],
        "remediation": {
            "upgrade": sig.remediation.upgrade,
            "workarounds": [
                {"command": w.command, "cost": w.cost, "note": w.note} for w in sig.remediation.workarounds
            ],
        },
        "unverified": list(sig.unverified),
        "references": [{"url": r.url, "title": r.title} for r in sig.references],
    }


def build_document(
    diag: Diagnosis, library: Library, *, input_kind: str, input_path: Optional[str], exit_code: int
) -> Dict[str, Any]:
    report = report_to_dict(diag.report)
    report["bucket"] = diag.bucket
    top = diag.top
    verdicts: List[Dict[str, Any]] = [verdict_to_dict(v) for v in diag.verdicts]
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
        "summary": {
            "root_cause": top.signature.id if top else None,
            "status": top.status if top else None,
            "specific": diag.specific_root_cause,
            "tie": bool(top and top.tie),
            "exit_code": exit_code,
        },
        "verdicts": verdicts,
    }
    if diag.report.live:
        # Schema 1.x addition, live reports only: fix status and reachability per signature.
        doc["exposure"] = exposure(diag)
    return doc
