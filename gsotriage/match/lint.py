"""Lint rules over valid signatures (validation proper is the schema's job)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence

from gsotriage.match.signature import NEGATIVE, POSITIVE, Signature

__all__ = ["LintIssue", "lint_library", "lint_signature"]


@dataclass(frozen=True)
class LintIssue:
    path: Optional[str]
    signature: str
    severity: str  # error | warning
    message: str

    def __str__(self) -> str:
        return f"{self.path or self.signature}: {self.severity}: {self.signature}: {self.message}"


_SITE_ONLY = {"exception_function", "panic_kind"}


def lint_signature(sig: Signature) -> List[LintIssue]:
    issues: List[LintIssue] = []

    def add(sev: str, msg: str) -> None:
        issues.append(LintIssue(sig.path, sig.id, sev, msg))

    if not any(t.expect in POSITIVE for t in sig.tests):
        add("error", "no positive test case")
    if not any(t.expect in NEGATIVE for t in sig.tests):
        add("error", "no negative test case")
    if sig.maturity == "stable" and not any(
        t.provenance in ("real", "factory") and t.expect in POSITIVE for t in sig.tests
    ):
        add("error", "maturity stable needs a real positive (verbatim public output or a factory dump)")
    if not sig.generic and all(spec.clause.kind in _SITE_ONLY for spec in sig.clauses):
        add("warning", "no distinguishing clause beyond the crash site: this does not count as a crash class")
    seen = set()
    for spec in sig.clauses:
        text = spec.clause.describe()
        if text in seen:
            add("error", f"clause '{text}' appears twice: its evidence would be counted twice")
        seen.add(text)
    if sig.fixed_by and sig.maturity != "experimental" and any(not f.first_release for f in sig.fixed_by):
        add("warning", "a fix without first_release cannot tell whether a kernel is fixed")
    if not sig.references and not sig.generic:
        add("warning", "no references")
    return issues


def lint_library(sigs: Sequence[Signature]) -> List[LintIssue]:
    out: List[LintIssue] = []
    for s in sigs:
        out += lint_signature(s)
    return out
