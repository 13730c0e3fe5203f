"""tests/collect: unit tests run anywhere; the ones marked ``vmcore`` use the factory's dumps."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "vmcore"))

from manifests import SKIP_REASON, Manifest, discover, require


@pytest.fixture(scope="session")
def seed_manifest() -> Manifest:
    """The first manifest with a makedumpfile kdump and a vmlinux."""
    for m in discover():
        if m.file("kdump_makedumpfile") and m.file("vmlinux") and m.expect.get("panic"):
            return m
    if require():
        pytest.fail(f"GSOTRIAGE_REQUIRE_VMCORES=1 but {SKIP_REASON}")
    pytest.skip(SKIP_REASON)
