"""The JSON contract v1 is frozen: a field of the committed sample that disappears
or changes type breaks this test. New fields may be added (schema 1.x)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Set, Tuple

from gsotriage.model import report_from_dict, report_to_dict
from tests.conftest import SEED

SAMPLE = Path(__file__).with_name("v1-sample.json")

# The fields the v1 contract promises by name (docs/json-schema.md).
PROMISED = [
    "schema_version",
    "tool.version",
    "signatures.digest",
    "input.kind",
    "report.kernel.release",
    "report.kernel.version",
    "report.panic.kind",
    "report.panic.message",
    "report.panic.function",
    "report.frames[].function",
    "report.frames[].offset",
    "report.frames[].module",
    "report.skbs[].address",
    "report.skbs[].origin",
    "report.skbs[].shinfo.gso_size",
    "report.skbs[].shinfo.gso_segs",
    "report.skbs[].shinfo.gso_type",
    "report.skbs[].shinfo.gso_type_flags",
    "report.skbs[].shinfo.gso_type_table",
    "report.skbs[].shinfo.frag_list",
    "report.skbs[].shinfo.nr_frags",
    "report.notes",
    "report.bucket",
    "verdicts[].signature",
    "verdicts[].title",
    "verdicts[].status",
    "verdicts[].score",
    "verdicts[].tags",
    "verdicts[].evidence",
    "verdicts[].fixed_by",
    "verdicts[].references",
]


def paths(doc: Any, prefix: str = "") -> Set[Tuple[str, str]]:
    out: Set[Tuple[str, str]] = set()
    if isinstance(doc, dict):
        for k, v in doc.items():
            p = f"{prefix}.{k}" if prefix else k
            out.add((p, type(v).__name__ if v is not None else "null"))
            out |= paths(v, p)
    elif isinstance(doc, list):
        for item in doc:
            out |= paths(item, prefix + "[]")
    return out


def current() -> Dict[str, Any]:
    p = subprocess.run(
        [sys.executable, "-m", "gsotriage", "analyze", str(SEED), "--format", "json"], capture_output=True
    )
    return json.loads(p.stdout)


def test_no_v1_field_disappears_or_changes_type():
    frozen = paths(json.loads(SAMPLE.read_text()))
    now = paths(current())
    now_names = {p for p, _ in now}
    missing = sorted(p for p, _ in frozen if p not in now_names)
    assert missing == [], f"v1 fields removed: {missing}"
    frozen_types: Dict[str, Set[str]] = {}
    for p, t in frozen:
        frozen_types.setdefault(p, set()).add(t)
    for p, t in now:
        if p in frozen_types and t != "null" and "null" not in frozen_types[p]:
            assert t in frozen_types[p], f"{p} changed type to {t} (was {frozen_types[p]})"


def test_promised_fields_are_present():
    names = {p for p, _ in paths(current())}
    assert [p for p in PROMISED if p not in names] == []


def test_schema_version_is_1x_and_addresses_are_hex_strings():
    doc = current()
    assert doc["schema_version"].startswith("1.")
    sh = doc["report"]["skbs"][0]["shinfo"]
    assert sh["frag_list"] == "0x0"  # observed NULL
    assert doc["report"]["panic"]["fault_address"] is None  # not observed


def test_report_round_trips_through_json():
    doc = current()["report"]
    doc.pop("bucket")
    report = report_from_dict(doc)
    assert report_to_dict(report) == doc
