"""The import end to end, on vendored real records, into a copy of the hand-written library."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from gsotriage.analysis.selftest import run_signature_tests
from gsotriage.cve.crossfire import cross_fire
from gsotriage.cve.importer import ImportFailed, run_import
from gsotriage.cve.summary import KEPT_EDITED, MERGED, PROPOSED, REJECTED
from gsotriage.match.lint import lint_library
from gsotriage.match.loader import load_library
from tests.conftest import SIGNATURES
from tests.cve.conftest import RECORDS

FOU = "cve-2024-46763-fou-fix-null-ptr-deref-in-gro.yaml"


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """The built-in library without its mined files, then one import of the vendored records."""
    lib = tmp_path_factory.mktemp("lib") / "signatures"
    shutil.copytree(SIGNATURES, lib, ignore=shutil.ignore_patterns("cve-*.yaml"))
    summary = run_import([RECORDS], lib)
    return lib, summary


def test_outcomes(imported):
    _, s = imported
    actions = {o.cve: o.action for o in s.outcomes}
    assert actions["CVE-2024-46763"] == PROPOSED
    assert actions["CVE-2022-49691"] == actions["CVE-2023-53053"] == PROPOSED
    assert actions["CVE-2024-35884"] == MERGED  # udp-gro-nontunnel-gso-in-tunnel-socket names 3d010c8031e3
    assert actions["CVE-2024-43897"] == MERGED  # virtio-net-hdr-bad-csum-offset-checksum-help-warn names 89add40066f9
    assert actions["CVE-2023-53109"] == REJECTED and actions["CVE-2026-23276"] == REJECTED
    assert "CVE-2023-52784" not in actions  # bonding: out of scope
    assert s.records == 13 and s.records_per_second > 0


def test_written_library_is_valid_and_passes_its_own_tests(imported):
    lib_dir, s = imported
    lib = load_library([lib_dir])
    assert [str(e) for e in lib.errors] == []
    assert not [i for i in lint_library(lib.signatures) if i.severity == "error"]
    failed = [r for r in run_signature_tests(lib.signatures) if not r.ok]
    assert failed == []
    assert cross_fire(lib.signatures)[0] == [] and s.cross_fire == []


def test_mined_file_and_its_cases(imported):
    lib_dir, _ = imported
    doc = yaml.safe_load((lib_dir / FOU).read_text())
    assert doc["maturity"] == "mined"
    pos = [t for t in doc["tests"] if t["expect"] in ("match", "partial", "match-or-partial")]
    neg = [t for t in doc["tests"] if t["expect"] in ("ruled-out", "not-top")]
    assert pos[0]["provenance"] == "real" and pos[0]["input"] == "cases/cve/CVE-2024-46763.txt"
    assert neg and neg[0]["provenance"] == "real"
    case = lib_dir / "cases" / "cve" / "CVE-2024-46763.txt"
    record = json.loads((RECORDS / "CVE-2024-46763.json").read_text())
    assert case.read_text() == record["containers"]["cna"]["descriptions"][0]["value"]  # verbatim
    assert "cve/CVE-2024-46763.txt" in (lib_dir / "cases" / "SOURCES.md").read_text()


def test_hand_written_signature_keeps_its_clauses(imported):
    lib_dir, _ = imported
    name = "udp-gro-nontunnel-gso-in-tunnel-socket.yaml"
    before, after = yaml.safe_load((SIGNATURES / name).read_text()), yaml.safe_load((lib_dir / name).read_text())
    assert after["match"] == before["match"]
    fix = after["fixed_by"][0]
    assert fix["introduced"] == ["5.6"] and fix["unlisted"] == "affected"
    assert fix["stable_commits"]["6.1.85"].startswith("d1224508")
    assert fix["subject"] == before["fixed_by"][0]["subject"]
    assert any(t["input"] == "cases/cve/CVE-2024-35884.txt" for t in after["tests"] if "input" in t)


def test_rerun_changes_nothing(imported):
    lib_dir, _ = imported
    assert run_import([RECORDS], lib_dir).written == []


def test_edits_survive_and_fix_data_updates(imported, tmp_path: Path):
    lib_dir, _ = imported
    lib = tmp_path / "signatures"
    shutil.copytree(lib_dir, lib)
    fou = lib / FOU
    fou.write_text(fou.read_text().replace("maturity: mined", "maturity: test"))  # a reviewer's edit
    records = tmp_path / "records"
    shutil.copytree(RECORDS, records)
    rec = records / "CVE-2024-46763.json"
    rec.write_text(rec.read_text().replace('"version": "6.1.110"', '"version": "6.1.111"'))  # a newer checkout
    s = run_import([records], lib)
    assert {o.cve: o.action for o in s.outcomes}["CVE-2024-46763"] == KEPT_EDITED
    doc = yaml.safe_load(fou.read_text())
    assert doc["maturity"] == "test"
    assert "6.1.111" in doc["fixed_by"][0]["stable"] and "6.1.110" not in doc["fixed_by"][0]["stable"]


def test_dry_run_writes_nothing(tmp_path: Path):
    lib = tmp_path / "signatures"
    shutil.copytree(SIGNATURES, lib, ignore=shutil.ignore_patterns("cve-*.yaml"))
    before = sorted(p.relative_to(lib) for p in lib.rglob("*"))
    s = run_import([RECORDS / "CVE-2024-46763.json"], lib, dry_run=True)
    assert s.written and sorted(p.relative_to(lib) for p in lib.rglob("*")) == before


def test_no_records_and_broken_library_fail_clearly(tmp_path: Path):
    with pytest.raises(ImportFailed, match="no kernel CVE records"):
        run_import([tmp_path], tmp_path)
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "broken.yaml").write_text("id: [unclosed\n")
    with pytest.raises(ImportFailed, match="library invalid"):
        run_import([RECORDS / "CVE-2024-46763.json"], lib)
