"""Run the test cases that signatures carry (``gsotriage signatures test``).

A case is a whole analysis of a real or reconstructed input, so this lives in the
analysis core, above the matcher and the parsers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from gsotriage.errors import InputError
from gsotriage.match.engine import MATCH, PARTIAL, RULED_OUT, diagnose
from gsotriage.match.signature import NEGATIVE, POSITIVE, Signature, SignatureTest
from gsotriage.match.untrusted import confine_input
from gsotriage.model import CrashReport, report_from_dict

from .detect import detect
from .load import load_report

__all__ = ["NEGATIVE", "POSITIVE", "CaseResult", "load_case_report", "run_signature_tests"]


@dataclass(frozen=True)
class CaseResult:
    signature: str
    case: str
    expect: str
    ok: bool
    got: str
    detail: str
    provenance: str


def load_case_report(sig: Signature, case: SignatureTest) -> CrashReport:
    if case.report is not None:
        data: Dict[str, Any] = {"source": {"kind": "inline", "path": f"{sig.id}:{case.name}"}, "frames_complete": True}
        data.update(case.report)
        return report_from_dict(data)
    assert case.input is not None and sig.path is not None
    # Checked when the library loaded, and again now: the files may have changed since.
    why = confine_input(Path(sig.path), case.input)
    if why is not None:
        raise InputError(why)
    path = str((Path(sig.path).parent / case.input).resolve())
    return load_report(detect(path))


def _ok(expect: str, status: str, is_top: bool, must_top: bool) -> bool:
    if expect == "not-top":
        return not is_top
    if expect == "match-or-partial":
        good = status in (MATCH, PARTIAL)
    else:
        good = status == expect
    return good and (is_top or not must_top)


def run_signature_tests(library: Sequence[Signature], only: Optional[Sequence[str]] = None) -> List[CaseResult]:
    results: List[CaseResult] = []
    for sig in library:
        if only and sig.id not in only:
            continue
        for case in sig.tests:
            try:
                report = load_case_report(sig, case)
            except Exception as exc:  # a broken case is a failed case, not a crash of the runner
                results.append(CaseResult(sig.id, case.name, case.expect, False, "error", str(exc), case.provenance))
                continue
            diag = diagnose(report, library)
            verdict = next(v for v in diag.verdicts if v.signature.id == sig.id)
            is_top = diag.top is not None and diag.top.signature.id == sig.id
            ok = _ok(case.expect, verdict.status, is_top, case.top)
            top_id = diag.top.signature.id if diag.top else "none"
            detail = f"top={top_id}"
            if verdict.status == RULED_OUT:
                detail += "; contradicted by " + ", ".join(e.clause for e in verdict.contradicted_by)
            results.append(
                CaseResult(
                    sig.id,
                    case.name,
                    case.expect,
                    ok,
                    verdict.status + (" (top)" if is_top else ""),
                    detail,
                    case.provenance,
                )
            )
    return results
