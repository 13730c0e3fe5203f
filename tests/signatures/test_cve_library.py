"""The library at size: no cross-fire, no GSO root cause on real non-GSO networking crashes,
every mined class backed by its record (fix, per-branch data, real positive, real look-alike)."""

from __future__ import annotations

import json

import pytest

from gsotriage.analysis.detect import detect
from gsotriage.analysis.load import load_report
from gsotriage.cve.counting import class_counts, counted
from gsotriage.cve.crossfire import cross_fire
from gsotriage.cve.external import EXTERNAL_CASES, load_external
from gsotriage.match.engine import diagnose
from gsotriage.match.loader import load_library
from tests.conftest import CASES, SIGNATURES

LIB = load_library([SIGNATURES])
MINED = [s for s in LIB.signatures if s.maturity == "mined"]
INDEX = json.loads((CASES / "cve" / "index.json").read_text())
NON_GSO = [e for e in INDEX if e["role"].startswith("non-GSO negative")]


def test_no_cross_fire():
    """Every positive case of every signature against the whole library: no other signature
    wins untied where this one fully matched, and no mined class wins on what it shares."""
    fired, _ties, _ = cross_fire(LIB.signatures)
    assert fired == []


@pytest.mark.parametrize("entry", NON_GSO, ids=[e["cve"] for e in NON_GSO])
def test_non_gso_networking_crash_gets_no_gso_root_cause(entry):
    """Real crashes of netfilter, xfrm, bridge, driver and other networking fixes (CVE records)."""
    report = load_report(detect(str(CASES / "cve" / entry["file"])))
    top = diagnose(report, LIB.signatures).top
    assert top is None or not top.specific, f"{entry['cve']}: {top.signature.id if top else None}"


def test_enough_real_negatives_of_each_family():
    families = {e["role"] for e in NON_GSO}
    assert {"non-GSO negative (netfilter)", "non-GSO negative (xfrm)", "non-GSO negative (bridge)"} <= families
    assert any("driver" in f for f in families)


@pytest.mark.parametrize("sig", MINED, ids=[s.id for s in MINED])
def test_mined_class_is_backed_by_its_record(sig):
    assert counted(sig)
    for fix in sig.fixed_by:
        assert fix.cve and fix.first_release and fix.unlisted in ("affected", "unaffected")
        assert any("vulns.git" in u for u in fix.verified_by)
    positive = ("match", "partial", "match-or-partial")
    positives = [t for t in sig.tests if t.provenance == "real" and t.expect in positive]
    assert positives and all(t.top for t in positives)  # each record's trace names this class, untied
    assert any(t.provenance == "real" and t.expect in ("ruled-out", "not-top") for t in sig.tests)
    required = [spec.clause.kind for spec in sig.clauses if spec.required]
    assert set(required) <= {"crash_site", "frames"} and required


def test_external_trace_index_is_valid_and_complete():
    """cases/cve-traces/: the index loads, every vendored trace is listed and used as a
    real positive case with its published source, every searched record says how."""
    ext = load_external(SIGNATURES)
    folder = SIGNATURES / EXTERNAL_CASES
    assert {p.name for p in folder.glob("*.txt")} == {t.file for t in ext.traces.values()}
    used = {(t.input, t.source) for s in LIB.signatures for t in s.tests if t.provenance == "real"}
    for t in ext.traces.values():
        assert (t.case_input, t.source) in used, f"{t.cve}: its trace is no signature's real case"
    assert ext.searched and all(n.why for n in ext.searched.values())
    assert all(n.queries for n in ext.searched.values() if n.result == "not-found")


def test_counts():
    c = class_counts(LIB.signatures)
    assert c.counted == sum(1 for s in LIB.signatures if counted(s))
    assert c.mined == len(MINED) and c.counted > c.mined
    assert all(s not in c.missing for s in (m.id for m in MINED))
