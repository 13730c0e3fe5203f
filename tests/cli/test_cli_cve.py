"""Command line: signatures import-cve, signatures list counts, analyze --kernel-changelog."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from gsotriage.cli import run
from gsotriage.errors import Exit
from tests.conftest import SEED, SIGNATURES
from tests.cve.conftest import RECORDS

CHANGELOGS = Path(__file__).resolve().parents[1] / "data" / "changelog"


def test_import_cve_json_summary(tmp_path: Path, capsys):
    lib = tmp_path / "signatures"
    shutil.copytree(SIGNATURES, lib, ignore=shutil.ignore_patterns("cve-*.yaml"))
    code = run(
        ["signatures", "import-cve", str(RECORDS / "CVE-2024-46763.json"), "--into", str(lib), "--format", "json"]
    )
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["records"] == 1 and doc["proposed"] == 1 and doc["cross_fire"] == []
    assert (lib / "cve-2024-46763-fou-fix-null-ptr-deref-in-gro.yaml").exists()


def test_import_cve_errors(tmp_path: Path, capsys):
    assert run(["signatures", "import-cve", str(tmp_path), "--into", str(tmp_path)]) == Exit.BAD_INPUT
    assert "no kernel CVE records" in capsys.readouterr().err
    bad = tmp_path / "lib"
    bad.mkdir()
    (bad / "x.yaml").write_text("id: [\n")
    assert run(["signatures", "import-cve", str(RECORDS), "--into", str(bad)]) == Exit.BAD_SIGNATURES


def test_list_counts_classes(capsys):
    assert run(["signatures", "list", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    counts = doc["counts"]
    assert counts["counted"] == sum(1 for s in doc["signatures"] if s["counted"])
    assert counts["classes"] >= counts["counted"] > 0


def test_kernel_changelog_option(capsys):
    code = run(["analyze", str(SEED), "--kernel-changelog", str(CHANGELOGS / "rhel-9.4-kernel.changelog-excerpt.txt")])
    assert code == Exit.ROOT_CAUSE
    assert run(["analyze", str(SEED), "--kernel-changelog", str(SEED)]) == Exit.BAD_INPUT
    assert "not a kernel changelog" in capsys.readouterr().err
    assert run(["analyze", str(SEED), "--kernel-changelog", "/nonexistent/changelog"]) == Exit.BAD_INPUT
