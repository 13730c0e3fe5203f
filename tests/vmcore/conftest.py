"""Vmcore fixtures: manifests written by fixtures/vmcores/build.

Tests skip (reason "no vmcore fixtures: run fixtures/vmcores/build") when none are
found, unless GSOTRIAGE_REQUIRE_VMCORES=1, which turns the skip into a failure.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from manifests import SKIP_REASON, Manifest, discover, require


def _dump_cases() -> List[tuple]:
    cases = []
    for m in discover():
        for form, path in m.dumps().items():
            cases.append(pytest.param((m, form, path), id=f"{m.name}:{form}"))
    return cases


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "dump_case" in metafunc.fixturenames:
        cases = _dump_cases()
        if not cases:
            cases = [pytest.param((None, None, None), id="no-manifests")]
        metafunc.parametrize("dump_case", cases, indirect=True)
    if "manifest" in metafunc.fixturenames:
        ms = [pytest.param(m, id=m.name) for m in discover()] or [pytest.param(None, id="no-manifests")]
        metafunc.parametrize("manifest", ms, indirect=True)


def _missing() -> None:
    if require():
        pytest.fail(f"GSOTRIAGE_REQUIRE_VMCORES=1 but {SKIP_REASON}")
    pytest.skip(SKIP_REASON)


@pytest.fixture(scope="session")
def manifests() -> List[Manifest]:
    found = discover()
    if not found:
        _missing()
    return found


@pytest.fixture
def dump_case(request: pytest.FixtureRequest) -> tuple:
    if request.param[0] is None:
        _missing()
    return request.param


@pytest.fixture
def manifest(request: pytest.FixtureRequest) -> Manifest:
    if request.param is None:
        _missing()
    return request.param
