"""Reading CVE JSON 5 records: the fix, its per-branch releases and commits, stable-only ranges."""

from __future__ import annotations

import json
from pathlib import Path

from gsotriage.cve.records import AffectedRange, BranchFix, RecordError, read_dyad, read_record, read_records
from tests.cve.conftest import RECORDS, record


def test_fix_and_branches_of_a_record():
    v = record("CVE-2024-35884").versions
    assert v.fix_commit == "3d010c8031e39f5fa1e8b13ada77e0321091011f"
    assert v.fixed_upstream == "6.9"
    assert v.introduced == ("5.6",)
    assert v.fixes == "9fd1ff5d2ac7181844735806b0a703c942365291"
    assert v.unlisted == "affected"
    assert BranchFix("6.1.85", "d12245080cb259d82b34699f6cd4ec11bdb688bd") in v.stable
    assert [b.release for b in v.stable] == ["5.10.215", "5.15.154", "6.1.85", "6.6.26", "6.8.5"]


def test_branch_commits_agree_with_the_vulns_dyad_file():
    """The JSON pairs fix commits with releases by order; the .dyad states the pairs."""
    for cve in ("CVE-2024-35884", "CVE-2024-43897"):
        dyad = read_dyad((RECORDS / f"{cve}.dyad").read_text())
        v = record(cve).versions
        for b in v.stable:
            assert dyad[b.release] == b.commit, (cve, b)


def test_stable_only_ranges_become_fixes_and_ranges():
    """CVE-2025-38124: the bug was backported into 6.1/6.6 and fixed there; 6.10/6.11 never got the fix."""
    v = record("CVE-2025-38124").versions
    assert AffectedRange("6.1.113", "6.1.142") in v.affected_ranges
    assert AffectedRange("6.10.14", "6.11") in v.affected_ranges
    assert "6.1.142" in [b.release for b in v.stable]


def test_fix_made_in_the_merge_window_that_introduced_the_bug_needs_the_dyad(tmp_path: Path):
    """CVE-2024-43897: no released mainline kernel was affected, so the JSON has no mainline
    release; the .dyad beside it pairs 89add40066f9 with 6.11. Without it: no mainline fix."""
    v = record("CVE-2024-43897").versions
    assert (v.fixed_upstream, v.fix_commit) == ("6.11", "89add40066f9ed9abe5f7f886fe5789ff7e0c50e")
    alone = tmp_path / "CVE-2024-43897.json"
    alone.write_bytes((RECORDS / "CVE-2024-43897.json").read_bytes())
    rec = read_record(alone)
    assert rec is not None and rec.versions.fix_commit is None and rec.versions.unlisted == "unaffected"


def test_message_and_url():
    rec = record("CVE-2024-46763")
    assert rec.title == "fou: Fix null-ptr-deref in GRO."
    assert rec.description.startswith("In the Linux kernel, the following vulnerability has been resolved:")
    assert rec.message.startswith("fou: Fix null-ptr-deref in GRO.")
    assert rec.url.endswith("/cve/published/2024/CVE-2024-46763.json")
    assert "net/ipv4/fou_core.c" in rec.program_files


def test_read_records_walks_a_tree_and_reports_bad_files(tmp_path: Path):
    tree = tmp_path / "cve" / "published" / "2024"
    tree.mkdir(parents=True)
    (tree / "CVE-2024-35884.json").write_bytes((RECORDS / "CVE-2024-35884.json").read_bytes())
    truncated = (RECORDS / "CVE-2024-46763.json").read_bytes()[:3000]  # a kernel record cut short
    (tree / "CVE-2024-99999.json").write_bytes(truncated)
    other = json.loads((RECORDS / "CVE-2024-46763.json").read_text())
    other["cveMetadata"]["assignerOrgId"] = "00000000-0000-0000-0000-000000000000"
    other["containers"]["cna"]["providerMetadata"]["orgId"] = "00000000-0000-0000-0000-000000000000"
    (tree / "CVE-2024-99998.json").write_text(json.dumps(other), encoding="utf-8")  # another CNA (cvelistV5)
    testing = tmp_path / "cve" / "testing"
    testing.mkdir()
    (testing / "CVE-2024-46763.json").write_bytes((RECORDS / "CVE-2024-46763.json").read_bytes())
    res = read_records([tmp_path])
    assert [r.cve for r in res.records] == ["CVE-2024-35884"]
    assert res.files == 3 and res.other == 1
    assert res.problems == ((str(tree / "CVE-2024-99999.json"), res.problems[0][1]),)
    assert "JSON" in res.problems[0][1]


def test_a_named_file_that_is_no_record_is_a_problem_not_an_exception(tmp_path: Path):
    f = tmp_path / "CVE-2024-1.json"
    f.write_text("{}", encoding="utf-8")
    res = read_records([f])
    assert not res.records and "not a CVE JSON 5 record" in res.problems[0][1]
    try:
        read_record(f)
    except RecordError as exc:
        assert "CVE_RECORD" in str(exc)
    else:
        raise AssertionError("read_record accepted a non-record")
