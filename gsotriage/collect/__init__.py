"""The drgn collector: the only subpackage that imports drgn (lazily).

``collect()`` turns a dump, the live kernel or a QMP socket into the same
CrashReport the text parsers produce.
"""

from __future__ import annotations

from typing import Any, Callable, List, Optional

from gsotriage.model import CrashReport

__all__ = ["collect"]


def collect(
    kind: Any,
    *,
    vmlinux: Optional[str] = None,
    debuginfo: Optional[List[str]] = None,
    progress: Optional[Callable[[str], None]] = None,
) -> CrashReport:
    from gsotriage.inputs import InputError

    raise InputError(f"{kind.path}: {kind.kind} input needs the drgn collector, which is not built yet")
