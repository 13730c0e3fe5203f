"""Real kernel CNA records vendored for the importer tests (tests/cve/data/records/SOURCES.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gsotriage.cve.corpus import Analysed, analyse
from gsotriage.cve.records import CveRecord, read_record

RECORDS = Path(__file__).with_name("data") / "records"
SCOPE_RECORDS = Path(__file__).with_name("data") / "scope-records"  # scope decisions only (its SOURCES.md)


def record(cve: str) -> CveRecord:
    path = RECORDS / f"{cve}.json"
    rec = read_record(path if path.exists() else SCOPE_RECORDS / f"{cve}.json")
    assert rec is not None
    return rec


def analysed(cve: str) -> Analysed:
    return analyse(record(cve))


@pytest.fixture
def records_dir() -> Path:
    return RECORDS
