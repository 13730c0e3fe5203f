"""Shared fixtures. Vmcore tests are marked `vmcore`; see tests/vmcore/conftest.py."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SIGNATURES = ROOT / "signatures"
CASES = SIGNATURES / "cases"
SEED = CASES / "calico-11424-seed-github-issue.txt"
CONSOLE_61 = CASES / "debian-6.1-cloud-skb_segment-null-console.txt"


@pytest.fixture(scope="session", autouse=True)
def _isolated_profiles(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Per-build profiles (gsotriage.collect.profile) go to a temporary dir, never the user's cache."""
    import os

    if "GSOTRIAGE_PROFILE_DIR" not in os.environ:
        os.environ["GSOTRIAGE_PROFILE_DIR"] = str(tmp_path_factory.mktemp("profiles"))


@pytest.fixture(scope="session")
def library():
    from gsotriage.match.loader import load_library

    lib = load_library([SIGNATURES])
    assert not lib.errors, [str(e) for e in lib.errors]
    return lib
