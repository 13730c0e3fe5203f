"""gsotriage regress: golden expectations, regressions on a changed signature, --update, JUnit XML."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import xmlschema
import yaml

from tests.batch.helpers import copy_signatures, run_cli
from tests.conftest import CASES, SEED

XSD = Path(__file__).parent / "resources" / "junit.xsd"
SEED_ID = "gso-tunnel-tcp-metadata-geometry-mismatch"
MSS = CASES / "syzbot-skb_segment-mss-overflow-console.txt"


@pytest.fixture()
def golden(tmp_path):
    g = tmp_path / "golden"
    (g / "cases").mkdir(parents=True)
    shutil.copy(SEED, g / "cases" / "seed.txt")
    shutil.copy(MSS, g / "cases" / "mss.txt")
    (g / "cases" / "noise.txt").write_text("[    1.000000] Linux version 6.1.0 (gcc) #1 SMP\n[    2.0] eth0: link up\n")
    exp = g / "expect.yaml"
    exp.write_text(
        "# golden set\n"
        "- input: cases/seed.txt\n"
        "  expect: {root_cause: " + SEED_ID + ", status: match}\n"
        "- input: cases/mss.txt\n"
        "  expect: {root_cause: gso-partial-mss-overflow-gso-by-frags}\n"
        "- input: cases/noise.txt\n"
        "  expect: {root_cause: null}\n"
    )
    return g


def _validate(path: Path) -> None:
    xmlschema.XMLSchema(str(XSD)).validate(str(path))


def test_passes_then_fails_on_a_changed_signature_then_update(tmp_path, golden):
    p = run_cli(tmp_path, "regress", str(golden / "expect.yaml"), "--junit", "ok.xml", "-j", "2")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "3 entries: 3 as expected" in p.stdout
    _validate(tmp_path / "ok.xml")

    sigs = copy_signatures(tmp_path / "sigs")
    f = sigs / f"{SEED_ID}.yaml"
    text = f.read_text()
    assert "    - exception_function: skb_segment\n" in text
    f.write_text(
        text.replace("    - exception_function: skb_segment\n", "    - exception_function: skb_segment_list\n")
    )
    args = ["regress", str(golden / "expect.yaml"), "--signatures", str(sigs), "-j", "2"]
    p = run_cli(tmp_path, *args, "--junit", "bad.xml")
    assert p.returncode == 6, p.stdout + p.stderr
    assert "REGRESS  cases/seed.txt: expected " + SEED_ID in p.stdout
    _validate(tmp_path / "bad.xml")
    xml = (tmp_path / "bad.xml").read_text()
    assert 'failures="1"' in xml and 'type="regression"' in xml and 'errors="0"' in xml

    p = run_cli(tmp_path, *args, "--update")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "comments are not preserved" in p.stdout
    updated = yaml.safe_load((golden / "expect.yaml").read_text())
    assert [e["input"] for e in updated] == ["cases/seed.txt", "cases/mss.txt", "cases/noise.txt"]
    assert updated[0]["expect"]["root_cause"] != SEED_ID
    assert updated[1]["expect"]["root_cause"] == "gso-partial-mss-overflow-gso-by-frags"
    assert updated[1]["expect"]["status"] in ("match", "partial")  # the status is written out too
    assert updated[2]["expect"] == {"root_cause": None}
    p = run_cli(tmp_path, *args)
    assert p.returncode == 0, p.stdout + p.stderr


def test_improvements_do_not_fail_and_errors_exit_3(tmp_path, golden):
    exp = golden / "expect.yaml"
    exp.write_text(
        "- input: cases/seed.txt\n  expect: {root_cause: null}\n"
        "- input: cases/mss.txt\n  expect: {root_cause: gso-partial-mss-overflow-gso-by-frags, status: partial}\n"
    )
    p = run_cli(tmp_path, "regress", str(exp), "-j", "1")
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.count("IMPROVED") == 1 and "IMPROVED cases/seed.txt: expected no specific" in p.stdout
    exp.write_text(exp.read_text() + "- input: cases/missing.txt\n  expect: {root_cause: null}\n")
    p = run_cli(tmp_path, "regress", str(exp), "-j", "1", "--junit", "e.xml")
    assert p.returncode == 3, p.stdout + p.stderr
    assert "ERROR    cases/missing.txt: input-error" in p.stdout
    _validate(tmp_path / "e.xml")
    assert 'errors="1"' in (tmp_path / "e.xml").read_text()


def test_status_downgrade_is_a_regression(tmp_path, golden):
    exp = golden / "expect.yaml"
    exp.write_text("- input: cases/seed.txt\n  expect: {root_cause: " + SEED_ID + ", status: match}\n")
    # A real downgrade needs a signature edit that weakens evidence; the comparison itself is pure.
    from gsotriage.batch.regress import Entry, compare
    from gsotriage.batch.runner import Outcome, Task

    entry = Entry("x", "x", None, None, SEED_ID, "match")
    doc = {"summary": {"root_cause": SEED_ID, "status": "partial", "specific": True}}
    c = compare(entry, Outcome(Task(0, "x"), "ok", 0.1, 1, document=doc))
    assert c.outcome == "regression" and "downgraded" in c.message
    doc = {"summary": {"root_cause": "generic-null-deref", "status": "match", "specific": False}}
    c = compare(entry, Outcome(Task(0, "x"), "ok", 0.1, 1, document=doc))
    assert c.outcome == "regression" and "got generic-null-deref" in c.message


@pytest.mark.parametrize(
    "content, msg",
    [
        ("input: x\n", "YAML list"),
        ("- expect: {root_cause: null}\n", "needs 'input"),
        ("- input: x\n  expect: {root_cause: a, status: maybe}\n", "match or partial"),
        ("- input: x\n  expekt: {}\n", "unknown key"),
        ("- input: [\n", "not valid YAML"),
    ],
)
def test_malformed_expectations_are_usage_errors(tmp_path, content, msg):
    exp = tmp_path / "e.yaml"
    exp.write_text(content)
    p = run_cli(tmp_path, "regress", str(exp))
    assert p.returncode == 2 and msg in p.stderr and "Traceback" not in p.stderr


def test_the_xsd_rejects_what_ci_would_reject(tmp_path):
    bad = tmp_path / "bad.xml"
    bad.write_text(
        '<testsuites><testsuite name="s" tests="1" failures="0" errors="0"><testcase name="c"/>'
        "</testsuite></testsuites>"
    )  # testcase without classname/time
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        _validate(bad)
