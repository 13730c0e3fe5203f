"""Discovery of the vmcore factory's manifests (shared by tests/vmcore and tests/collect)."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import pytest

REPO = Path(__file__).resolve().parents[2]
SKIP_REASON = "no vmcore fixtures: run fixtures/vmcores/build"
DUMP_FORMS = ("elf", "kdump_qemu", "kdump_makedumpfile")
CHANGED = "changed"
# The checks a scenario's expect.engine_gap may name (tests/vmcore/test_scenarios.py,
# tests/vmcore/test_no_debuginfo.py).
GAP_CHECKS = ("dump_class", "console_agrees", "degraded_agrees", "no_debuginfo_top")


@dataclass(frozen=True)
class Manifest:
    path: Path
    data: Dict[str, Any]

    @property
    def name(self) -> str:
        return f"{self.data.get('kernel', {}).get('release', '?')}/{self.data.get('scenario', self.path.parent.name)}"

    @property
    def expect(self) -> Dict[str, Any]:
        return dict(self.data.get("expect") or {})

    @property
    def ground_truth(self) -> Dict[str, Any]:
        return dict(self.data.get("ground_truth") or {})

    def at_crash(self, key: str) -> Any:
        """The value the dump must show for a GROUND_TRUTH field: the module prints
        the skb at segmentation/receive entry, ``expect.at_crash`` names what the
        kernel rewrote before the crash site (a value, or CHANGED)."""
        rewritten = self.expect.get("at_crash") or {}
        return rewritten.get(key, self.ground_truth.get(key))

    def engine_gap(self, check: str) -> Optional[str]:
        """The reason a check is a known engine gap for this dump, or None.

        ``expect.engine_gap`` is one entry or a list of entries, each with the
        ``checks`` it covers, the ``reason`` and optionally the kernel ``series``
        it applies to."""
        gaps = self.expect.get("engine_gap") or []
        series = self.data.get("kernel", {}).get("series")
        for gap in gaps if isinstance(gaps, list) else [gaps]:
            if gap.get("series") and series not in gap["series"]:
                continue
            if check in (gap.get("checks") or []):
                return str(gap["reason"])
        return None

    def file(self, key: str, sub: Optional[str] = None) -> Optional[str]:
        files = self.data.get("files") or {}
        value = files.get(key)
        if sub is not None:
            value = value.get(sub) if isinstance(value, dict) else None
        if not value:
            return None
        p = Path(value)
        if not p.is_absolute():
            p = self.path.parent / p
        return str(p) if p.exists() else None

    def dumps(self) -> Dict[str, str]:
        return {form: p for form in DUMP_FORMS if (p := self.file(form))}


def factory_cli() -> Any:
    """The checkout's own vmcore factory (fixtures/vmcores/factory, stdlib only)."""
    root = str(REPO / "fixtures" / "vmcores")
    if root not in sys.path:
        sys.path.insert(0, root)
    import factory.cli

    return factory.cli


def staleness(data: Dict[str, Any]) -> Optional[str]:
    """Why a manifest was not built from this checkout's scenario and module sources, or None.

    The fixture cache is shared by every checkout on a machine (CI's clean clone, worktrees):
    a dump built from another module source or for a scenario this checkout does not define
    is not this checkout's evidence."""
    cli = factory_cli()
    name = data.get("scenario")
    if name not in cli.SCENARIOS:
        return f"scenario {name!r} is not defined by this checkout"
    kinfo = data.get("kernel") or {}
    try:
        key = cli.source_key(kinfo, name)
    except (KeyError, TypeError):
        return "manifest without kernel release/package version"
    if (data.get("build") or {}).get("source_key") != key:
        return "built from other module/scenario sources (run fixtures/vmcores/build)"
    return None


def discover(*, stale: bool = False) -> List[Manifest]:
    """The cache's manifests built from this checkout's sources (``stale=True``: only the others)."""
    roots = [cache_dir(), REPO / "fixtures" / "vmcores"]
    found: List[Manifest] = []
    for root in roots:
        if not root.is_dir():
            continue
        for mpath in sorted(root.glob("*/*/manifest.json")):
            try:
                data = json.loads(mpath.read_text())
            except (OSError, ValueError):
                continue
            if (staleness(data) is not None) == stale:
                found.append(Manifest(mpath, data))
    return found


def known_gap(manifest: Manifest, check: str, run: Callable[[], None]) -> None:
    """Run one check; when the scenario declares it a known engine gap
    (``expect.engine_gap``), it must fail (a strict xfail), and the test fails as
    soon as it passes, so that the entry is removed with the fix."""
    assert check in GAP_CHECKS, check
    reason = manifest.engine_gap(check)
    if reason is None:
        run()
        return
    try:
        run()
    except AssertionError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        pytest.xfail(f"known engine gap ({check}): {reason} | now: {first}")
    pytest.fail(f"{manifest.name}: '{check}' passes now: remove it from expect.engine_gap ({reason})")


def cache_dir() -> Path:
    env = os.environ.get("GSOTRIAGE_VMCORE_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / "gsotriage" / "vmcores"


def require() -> bool:
    return os.environ.get("GSOTRIAGE_REQUIRE_VMCORES") == "1"
