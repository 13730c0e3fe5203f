"""Strict signature loading: every defect is reported with file:line and never dropped silently."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gsotriage.match.lint import lint_signature
from gsotriage.match.loader import load_library, load_signature_file, schema_json
from tests.conftest import ROOT, SIGNATURES

MINIMAL = """\
id: {id}
title: t
summary: s
mechanism: m
maturity: experimental
severity: low
tags: [gso]
match:
  required:
    - exception_function: skb_segment
tests:
  - {{name: p, expect: match, provenance: reconstructed, report: {{panic: {{function: skb_segment}}}}}}
  - {{name: n, expect: ruled-out, provenance: reconstructed, report: {{panic: {{function: other}}}}}}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / f"{name}.yaml"
    p.write_text(text)
    return p


def test_minimal_signature_loads(tmp_path):
    sig, errors = load_signature_file(write(tmp_path, "ok-sig", MINIMAL.format(id="ok-sig")))
    assert errors == []
    assert sig is not None and sig.id == "ok-sig" and sig.clauses[0].required


def test_duplicate_key_is_an_error_with_its_line(tmp_path):
    text = MINIMAL.format(id="dup").replace("severity: low\n", "severity: low\nseverity: high\n")
    sig, errors = load_signature_file(write(tmp_path, "dup", text))
    assert sig is None
    assert errors[0].line == 7 and "duplicate key 'severity'" in errors[0].message


def test_unknown_key_is_an_error_with_its_line(tmp_path):
    text = MINIMAL.format(id="unk").replace("tags: [gso]\n", "tags: [gso]\nfixd_by: []\n")
    sig, errors = load_signature_file(write(tmp_path, "unk", text))
    assert sig is None
    assert errors[0].line == 8 and "fixd_by" in errors[0].message


def test_misspelled_clause_kind_is_reported_at_the_clause(tmp_path):
    text = MINIMAL.format(id="badclause").replace("exception_function: skb_segment", "exception_functon: skb_segment")
    sig, errors = load_signature_file(write(tmp_path, "badclause", text))
    assert sig is None
    assert errors[0].line == 10


def test_malformed_yaml_reports_line(tmp_path):
    text = MINIMAL.format(id="bad").replace("summary: s", "summary: [unclosed")
    sig, errors = load_signature_file(write(tmp_path, "bad", text))
    assert sig is None and errors[0].line is not None and errors[0].message.startswith("YAML")


def test_id_must_match_file_name(tmp_path):
    sig, errors = load_signature_file(write(tmp_path, "other-name", MINIMAL.format(id="some-id")))
    assert sig is None and "file name" in errors[0].message


def test_yaml_merge_keys_may_override(tmp_path):
    case = "{name: m, expect: not-top, provenance: reconstructed, report: {<<: {panic: {function: a}}, frames: []}}"
    text = MINIMAL.format(id="merge") + f"  - {case}\n"
    sig, errors = load_signature_file(write(tmp_path, "merge", text))
    assert errors == [] and sig is not None and len(sig.tests) == 3


def test_broken_file_does_not_drop_silently_from_the_library(tmp_path):
    write(tmp_path, "good", MINIMAL.format(id="good"))
    write(tmp_path, "broken", "id: broken\n: :\n")
    lib = load_library([tmp_path])
    assert [s.id for s in lib.signatures] == ["good"]
    assert len(lib.errors) == 1 and "broken.yaml" in lib.errors[0].path


def test_builtin_library_is_valid(library):
    assert len(library.signatures) >= 10


def test_schema_file_in_repo_is_up_to_date():
    shipped = (ROOT / "gsotriage" / "schemas" / "signature.schema.json").read_text()
    assert json.loads(shipped) == json.loads(schema_json()), (
        "run: gsotriage signatures schema -o gsotriage/schemas/signature.schema.json"
    )


@pytest.mark.parametrize("path", sorted(SIGNATURES.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_builtin_file_points_editors_at_the_schema(path):
    assert path.read_text().startswith("# yaml-language-server: $schema=../gsotriage/schemas/signature.schema.json")


def _one_good_signature(tmp_path: Path, monkeypatch) -> tuple:
    """A library directory holding one valid signature, with a private cache directory."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    d = tmp_path / "sigs"
    d.mkdir()
    return d, write(d, "good", MINIMAL.format(id="good"))


def test_a_validated_library_is_revalidated_when_any_byte_changes(tmp_path, monkeypatch):
    d, f = _one_good_signature(tmp_path, monkeypatch)
    first = load_library([d])
    assert first.errors == () and list((tmp_path / "cache" / "gsotriage" / "validated-signatures").iterdir())
    assert load_library([d]).errors == ()  # cached verdict: same bytes
    f.write_text(f.read_text().replace("severity: low", "severity: loud"))
    again = load_library([d])
    assert again.digest != first.digest
    assert len(again.errors) == 1 and "severity" in again.errors[0].message


def _shape(lib) -> tuple:
    """What a library says, clause by clause (clause objects compare by identity)."""
    return (
        lib.digest,
        lib.paths,
        lib.errors,
        tuple(
            (
                s.id,
                s.title,
                s.refines,
                s.fixed_by,
                tuple((c.clause.describe(), c.required, c.weight) for c in s.clauses),
            )
            for s in lib.signatures
        ),
    )


def _parsed(tmp_path: Path) -> list:
    where = tmp_path / "cache" / "gsotriage" / "parsed-signatures"
    return sorted(where.iterdir()) if where.is_dir() else []


def test_a_library_that_loaded_cleanly_is_reused_parsed_until_a_byte_changes(tmp_path, monkeypatch):
    import gsotriage.match.loader as loader

    d, f = _one_good_signature(tmp_path, monkeypatch)
    first = load_library([d])
    assert first.errors == () and len(_parsed(tmp_path)) == 1
    # The second load parses nothing: the pickled library comes back equal.
    real = loader.parse_signature
    monkeypatch.setattr(loader, "parse_signature", lambda *a, **k: pytest.fail("parsed again"))
    again = load_library([d])
    assert (
        _shape(again) == _shape(first)
        and again.signatures[0].clauses[0].clause.describe() == "exception in skb_segment"
    )
    # Any byte of any file makes another key: parsed (and validated) again.
    monkeypatch.setattr(loader, "parse_signature", real)
    f.write_text(f.read_text().replace("severity: low", "severity: loud"))
    bad = load_library([d])
    assert len(bad.errors) == 1 and "severity" in bad.errors[0].message
    assert len(_parsed(tmp_path)) == 1  # a library with errors is never kept


def test_a_damaged_parsed_library_is_parsed_again_and_the_cache_can_be_turned_off(tmp_path, monkeypatch):
    import gsotriage.match.loader as loader

    d, _f = _one_good_signature(tmp_path, monkeypatch)
    first = load_library([d])
    (kept,) = _parsed(tmp_path)
    kept.write_bytes(kept.read_bytes()[:40])  # truncated
    assert _shape(load_library([d])) == _shape(first)
    monkeypatch.setenv("GSOTRIAGE_LIBRARY_CACHE", "0")
    for p in _parsed(tmp_path):
        p.unlink()
    assert _shape(load_library([d])) == _shape(first) and _parsed(tmp_path) == []
    # A parsed library anybody else could have written is not loaded (a pickle runs code).
    monkeypatch.delenv("GSOTRIAGE_LIBRARY_CACHE")
    load_library([d])
    (kept,) = _parsed(tmp_path)
    kept.parent.chmod(0o777)
    monkeypatch.setattr(loader, "parse_signature", lambda *a, **k: pytest.fail("parsed: the shared pickle was refused"))
    with pytest.raises(pytest.fail.Exception, match="the shared pickle was refused"):
        load_library([d])


def test_the_builtin_library_matches_the_same_from_its_parsed_copy(tmp_path, monkeypatch):
    from gsotriage.analysis import analyze_path
    from tests.conftest import CASES

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    fresh = load_library()
    cached = load_library()
    assert _parsed(tmp_path) and _shape(cached) == _shape(fresh) and cached is not fresh
    case = str(CASES / "reconstructed-rhel8-seed-vmcore-dmesg.txt")
    docs = [analyze_path(case, lib).document for lib in (fresh, cached)]
    for doc in docs:
        doc.pop("tool", None)
    assert docs[0] == docs[1]


def test_the_parsed_cache_keeps_only_the_newest_libraries(tmp_path, monkeypatch):
    import gsotriage.match.loader as loader

    d, f = _one_good_signature(tmp_path, monkeypatch)
    for i in range(loader._PARSED_KEPT + 3):  # a signature author editing the file in place
        f.write_text(MINIMAL.format(id="good").replace("title: t", f"title: t{i}"))
        assert load_library([d]).errors == ()
    assert len(_parsed(tmp_path)) == loader._PARSED_KEPT


def test_lint_flags_a_clause_stated_twice_in_one_signature(tmp_path):
    """udp-fraglist-partial-pull-skb-segment listed ``panic_kind: bug`` as required and again as
    supporting, so a BUG counted twice for it (+2.3 and +1.2 log-odds) and it outranked a rival
    on CVE-2024-35884's two-frame trace by that much more."""
    text = MINIMAL.format(id="twice").replace(
        "    - exception_function: skb_segment\n",
        "    - exception_function: skb_segment\n    - panic_kind: bug\n  supporting:\n    - panic_kind: bug\n",
    )
    sig, errors = load_signature_file(write(tmp_path, "twice", text))
    assert errors == [] and sig is not None
    issues = [i for i in lint_signature(sig) if i.severity == "error"]
    assert len(issues) == 1 and "'panic kind bug' appears twice" in issues[0].message
