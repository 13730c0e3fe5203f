"""Property tests of the signature loader (issue 15): whatever a signature file holds, loading it
returns a signature or errors with a line (never raises, never hangs), and any pattern either
compiles for the linear-time engine or is refused with a PatternError."""

from __future__ import annotations

import time

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gsotriage.match.clauses import build_clause
from gsotriage.match.loader import load_signature_file
from gsotriage.match.regex import Pattern, PatternError
from gsotriage.model import CrashReport, Panic, Source
from tests.conftest import SIGNATURES

REAL = [p.read_bytes() for p in sorted(SIGNATURES.glob("*.yaml"))]
SETTINGS = settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30))
docs = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=12), inner, max_size=5)),
    max_leaves=40,
)


def _load(tmp_path, data: bytes):
    path = tmp_path / "fuzzed.yaml"
    path.write_bytes(data)
    t0 = time.monotonic()
    sig, errors = load_signature_file(path)
    assert time.monotonic() - t0 < 5
    assert (sig is None) == bool(errors)
    for e in errors:
        assert e.line is None or e.line >= 1
        assert str(e).startswith(str(path))
    return sig, errors


@SETTINGS
@given(st.binary(max_size=2048))
def test_any_bytes_load_or_fail_with_errors(tmp_path_factory, data):
    _load(tmp_path_factory.mktemp("sig"), data)


@SETTINGS
@given(docs)
def test_any_yaml_document_loads_or_fails_with_errors(tmp_path_factory, doc):
    _load(tmp_path_factory.mktemp("sig"), yaml.safe_dump(doc).encode())


@SETTINGS
@given(st.sampled_from(REAL), st.data())
def test_mutated_real_signatures_load_or_fail_with_errors(tmp_path_factory, real, data):
    buf = bytearray(real)
    for _ in range(data.draw(st.integers(1, 5))):
        pos = data.draw(st.integers(0, len(buf)))
        buf[pos : pos + data.draw(st.integers(0, 40))] = data.draw(
            st.one_of(st.binary(max_size=20), st.sampled_from([b"&a ", b"*a", b"<<: *a\n", b"\t", b"re:(a+)+$", b"\0"]))
        )
    _load(tmp_path_factory.mktemp("sig"), bytes(buf))


@SETTINGS
@given(st.text(max_size=40), st.text(max_size=2000))
def test_any_pattern_compiles_linearly_or_is_refused(pattern, subject):
    try:
        clause = build_clause({"bug_file": pattern})
    except PatternError:
        return
    report = CrashReport(source=Source("console"), panic=Panic(bug_file=subject or "x"))
    t0 = time.monotonic()
    clause.evaluate(report)
    assert time.monotonic() - t0 < 0.5


def test_pattern_refusal_is_a_value_error_with_the_pattern():
    try:
        Pattern("(a)\\1")
    except PatternError as exc:
        assert isinstance(exc, ValueError) and "(a)\\1" in str(exc)
    else:
        raise AssertionError("a backreference compiled")
