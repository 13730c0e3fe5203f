"""External traces: a record that quotes no crash takes the same bug's trace from cases/cve-traces/.

The end-to-end case is built from a real record whose description quotes its crash
(CVE-2024-46763, fou GRO): the record is cut before its trace, and the cut-off trace
is vendored as the external one, with the fix commit (whose message carries it) as
its source. The import must give the same class as from the whole record, with the
case pointing at the external file.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from gsotriage.analysis.selftest import run_signature_tests
from gsotriage.cve.external import INDEX, ExternalIndexError, load_external
from gsotriage.cve.importer import ImportFailed, run_import
from gsotriage.cve.summary import PROPOSED
from gsotriage.match.loader import load_library
from tests.conftest import SIGNATURES
from tests.cve.conftest import RECORDS

CVE = "CVE-2024-46763"
MARK = "[0]:\n"


def _library(tmp: Path) -> Path:
    lib = tmp / "signatures"
    shutil.copytree(SIGNATURES, lib, ignore=shutil.ignore_patterns("cve-*.yaml", "cve-traces"))
    return lib


def _index(lib: Path, doc: dict) -> None:
    path = lib / INDEX
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def _split_record(tmp: Path) -> tuple[Path, str, str]:
    """A copy of the record with its quoted trace cut off; the trace; the fix's URL."""
    doc = json.loads((RECORDS / f"{CVE}.json").read_text())
    desc = doc["containers"]["cna"]["descriptions"][0]["value"]
    head, trace = desc.split(MARK, 1)
    doc["containers"]["cna"]["descriptions"][0]["value"] = head.rstrip() + "\n"
    out = tmp / "records"
    out.mkdir()
    (out / f"{CVE}.json").write_text(json.dumps(doc))
    fix = next(
        v["lessThan"]
        for a in doc["containers"]["cna"]["affected"]
        for v in a.get("versions", [])
        if v.get("versionType") == "git" and "lessThan" in v
    )
    return out, trace, f"https://git.kernel.org/linus/{fix}"


def _vendor(lib: Path, trace: str, source: str) -> None:
    folder = lib / INDEX.parent
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{CVE}.txt").write_text(trace)
    _index(
        lib,
        {
            "traces": [
                {
                    "cve": CVE,
                    "file": f"{CVE}.txt",
                    "source": source,
                    "kind": "patch-thread",
                    "matched_by": "the fix commit's own message (the record was cut before its trace for this test)",
                }
            ]
        },
    )


@pytest.fixture(scope="module")
def whole_and_split(tmp_path_factory):
    whole = _library(tmp_path_factory.mktemp("whole"))
    run_import([RECORDS / f"{CVE}.json"], whole)
    tmp = tmp_path_factory.mktemp("split")
    records, trace, source = _split_record(tmp)
    lib = _library(tmp)
    _vendor(lib, trace, source)
    summary = run_import([records], lib)
    return whole, lib, summary, source


def _mined(lib: Path) -> dict:
    (path,) = lib.glob("cve-2024-46763-*.yaml")
    return yaml.safe_load(path.read_text())


def test_the_cut_record_alone_gives_no_class(tmp_path: Path):
    records, _, _ = _split_record(tmp_path)
    lib = _library(tmp_path)
    s = run_import([records], lib)
    (o,) = s.outcomes
    assert o.trace is False and o.trace_source == ""
    assert s.no_trace_unlisted == [CVE]  # nobody looked for its crash yet


def test_external_trace_gives_the_same_class(whole_and_split):
    whole, lib, summary, _ = whole_and_split
    (o,) = summary.outcomes
    assert o.action == PROPOSED and o.trace_source == "external" and o.external_kind == "patch-thread"
    assert _mined(lib)["match"] == _mined(whole)["match"]
    assert summary.external_used() == {"patch-thread": 1} and summary.no_trace_unlisted == []


def test_case_points_at_the_vendored_trace(whole_and_split):
    _, lib, _, source = whole_and_split
    pos = [t for t in _mined(lib)["tests"] if t["name"].startswith("cve-record-trace")]
    assert pos and pos[0]["input"] == f"cases/cve-traces/{CVE}.txt"
    assert pos[0]["source"] == source and pos[0]["provenance"] == "real"
    assert not (lib / "cases" / "cve" / f"{CVE}.txt").exists()  # the import writes no copy
    assert f"cve-traces/{CVE}.txt | real (patch-thread trace of {CVE}" in (lib / "cases" / "SOURCES.md").read_text()
    library = load_library([lib])
    assert [str(e) for e in library.errors] == []
    assert [r for r in run_signature_tests(library.signatures) if not r.ok] == []


def test_the_records_own_trace_wins(tmp_path: Path):
    lib = _library(tmp_path)
    _vendor(lib, "BUG: kernel NULL pointer dereference, address: 0000000000000008\n", "https://example.org/x")
    s = run_import([RECORDS / f"{CVE}.json"], lib)
    (o,) = s.outcomes
    assert o.trace_source == "record" and s.external_unused == [CVE]


def test_index_validation(tmp_path: Path):
    lib = tmp_path / "signatures"
    assert load_external(lib).traces == {}
    (lib / INDEX.parent).mkdir(parents=True)
    (lib / INDEX.parent / "a.txt").write_text("BUG: x\n")
    good = {"cve": CVE, "file": "a.txt", "source": "https://x.org/a", "kind": "syzbot", "matched_by": "hash"}
    bad = [
        ({"traces": [{**good, "file": "missing.txt"}]}, "does not exist"),
        ({"traces": [{**good, "kind": "blog"}]}, "kind 'blog'"),
        ({"traces": [{**good, "source": "somewhere"}]}, "not a URL"),
        ({"traces": [{**good, "matched_by": ""}]}, "matched_by"),
        ({"traces": [good, good]}, "twice"),
        ({"searched": [{"cve": CVE, "result": "not-found", "why": "x"}]}, "queries"),
        ({"searched": [{"cve": "CVE-1", "result": "not-found", "why": "x", "queries": ["q"]}]}, "not a CVE id"),
        ({"trace": []}, "unknown key"),
    ]
    for doc, why in bad:
        _index(lib, doc)
        with pytest.raises(ExternalIndexError, match=why):
            load_external(lib)
    _index(lib, {"traces": [good], "searched": [{"cve": "CVE-2024-0001", "result": "not-searched", "why": "no crash"}]})
    idx = load_external(lib)
    assert idx.counts() == {"found": 1, "found_by_kind": {"syzbot": 1}, "not_found": 0, "not_searched": 1}


def test_a_broken_index_stops_the_import(tmp_path: Path):
    lib = _library(tmp_path)
    _index(lib, {"traces": [{"cve": CVE}]})
    with pytest.raises(ImportFailed, match=r"library invalid: .*index\.yaml"):
        run_import([RECORDS / f"{CVE}.json"], lib)
