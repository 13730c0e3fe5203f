"""Live analysis (QMP guest, /proc/kcore) and the runbook, on the vmcore factory's cache.

Same skip/require rules as tests/vmcore (see live_support.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from live_support import SERIES, Kernel, factory_kernel


@pytest.fixture(scope="session")
def kernel61() -> Kernel:
    return factory_kernel(SERIES)
