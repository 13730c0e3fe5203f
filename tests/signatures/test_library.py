"""Every built-in signature runs its own positive and negative cases; a signature
without both fails the meta-test. Cases live in the signature files so that
`gsotriage signatures test` and this suite run exactly the same checks."""

from __future__ import annotations

import pytest

from gsotriage.analysis.selftest import NEGATIVE, POSITIVE, run_signature_tests
from gsotriage.match.lint import lint_library
from gsotriage.match.loader import load_library
from tests.conftest import SIGNATURES

LIB = load_library([SIGNATURES])
CASES = [(s.id, t.name) for s in LIB.signatures for t in s.tests]


def test_library_loads_without_errors():
    assert [str(e) for e in LIB.errors] == []


@pytest.mark.parametrize("sig_id", [s.id for s in LIB.signatures])
def test_signature_has_positive_and_negative_cases(sig_id):
    sig = LIB.get(sig_id)
    assert sig is not None
    assert any(t.expect in POSITIVE for t in sig.tests), f"{sig_id}: no positive case"
    assert any(t.expect in NEGATIVE for t in sig.tests), f"{sig_id}: no negative case"


@pytest.mark.parametrize("sig_id,case", CASES, ids=[f"{a}::{b}" for a, b in CASES])
def test_signature_case(sig_id, case):
    sig = LIB.get(sig_id)
    assert sig is not None
    results = [r for r in run_signature_tests(LIB.signatures, [sig_id]) if r.case == case]
    assert len(results) == 1
    r = results[0]
    assert r.ok, f"expected {r.expect}, got {r.got}: {r.detail}"


def test_lint_has_no_errors():
    errors = [str(i) for i in lint_library(LIB.signatures) if i.severity == "error"]
    assert errors == []


def test_stable_signatures_have_real_positives():
    for sig in LIB.signatures:
        if sig.maturity == "stable":
            assert any(t.provenance in ("real", "factory") and t.expect in POSITIVE for t in sig.tests), sig.id


def test_counted_gso_classes_have_a_distinguishing_clause():
    site_only = {"exception_function", "panic_kind"}
    for sig in LIB.signatures:
        if sig.generic:
            continue
        kinds = {spec.clause.kind for spec in sig.clauses if spec.required}
        assert kinds - site_only, f"{sig.id} only names the crash site"
