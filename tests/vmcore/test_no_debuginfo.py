"""Without any debuginfo, every factory dump gives what the full-debuginfo report gave.

The reference is the report the factory recorded with the vmlinux
(``report-full-<form>.json``, fixtures/vmcores/factory/fullreport.py). The
debuginfo-free run gets an empty ``--debuginfo`` directory, the standard places
turned off and a fresh profile directory, so nothing but the dump itself is read:
symbols from kallsyms, types from the kernel's BTF, unwinding from its ORC tables.
Compared: the crash site, the non-inline frames, the subject skb and its shinfo,
the top verdict. A second run of the same build then uses the per-build profile
the first one wrote, and must agree too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest
from manifests import factory_cli, known_gap

from gsotriage.match.engine import diagnose
from gsotriage.model import CrashReport, report_from_dict

pytestmark = pytest.mark.vmcore

_RERECORD = "re-record with: fixtures/vmcores/build --record-reports"


def _run(target: str, env: Dict[str, str], *args: str) -> Dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "gsotriage", "analyze", target, "--format", "json", "--no-progress", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=False,
    )
    assert proc.returncode in (0, 1, 7), f"exit {proc.returncode}: {proc.stderr[-2000:]}"
    out: Dict[str, Any] = json.loads(proc.stdout)
    return out


def _full(manifest: Any, form: str) -> Dict[str, Any]:
    files = manifest.data.get("files", {})
    name = (files.get("report_full") or {}).get(form)
    path = manifest.path.parent / name if name else None
    if path is not None and files.get("report_full_key") != factory_cli().fullreport.report_key():
        # Written by another checkout's collector: comparing with it would judge that one.
        path = None
    if path is None or not path.exists():
        if os.environ.get("GSOTRIAGE_REQUIRE_VMCORES") == "1":
            pytest.fail(f"{manifest.name}:{form}: no recorded full report of this checkout's collector; {_RERECORD}")
        pytest.skip(f"{manifest.name}:{form}: no recorded full report of this checkout's collector; {_RERECORD}")
    with open(path, encoding="utf-8") as f:
        doc: Dict[str, Any] = json.load(f)
    return doc


def _site(r: CrashReport) -> Tuple[Any, ...]:
    return (r.panic.kind, r.panic.function, r.panic.offset, r.panic.module, r.panic.cpu, r.panic.pid)


def _frames(r: CrashReport) -> List[Tuple[Any, ...]]:
    return [(f.address, f.module, f.context) for f in r.frames if not f.inline]


def _same_names(full: CrashReport, got: CrashReport) -> List[str]:
    """Frames named differently. kallsyms names a pc after the nearest symbol below it; the ELF
    symtab (DWARF runs) after the sized function containing it. At an assembler label inside a
    function (``entry_SYSCALL_64_after_hwframe`` inside ``entry_SYSCALL_64``) both are right:
    the kernel's own traces print the kallsyms name. Anything else must match exactly."""
    bad = []
    for a, b in zip([f for f in full.frames if not f.inline], got.frames):
        if (a.function, a.offset) == (b.function, b.offset):
            continue
        if None not in (a.offset, a.size, b.offset, a.address):
            start_a = a.address - a.offset
            start_b = (b.address or 0) - (b.offset or 0)
            if start_a < start_b < start_a + a.size:
                continue
        bad.append(f"{a.function}+{a.offset} vs {b.function}+{b.offset}")
    return bad


def _top(doc: Dict[str, Any]) -> Optional[Tuple[Any, Any]]:
    verdicts = doc.get("verdicts") or []
    return (verdicts[0].get("signature"), verdicts[0].get("status")) if verdicts else None


def _top_now(full_doc: Dict[str, Any], library: Any) -> Optional[Tuple[Any, Any]]:
    """The recorded full report's top verdict under today's signatures and engine: the
    reference is what the full collector read, the judge is the current matcher."""
    diag = diagnose(report_from_dict(full_doc["report"]), library.signatures)
    top = diag.verdicts[0] if diag.verdicts else None
    return (top.signature.id, top.status) if top else None


def _same(full_doc: Dict[str, Any], doc: Dict[str, Any], what: str, library: Any, top: bool = True) -> None:
    full = report_from_dict(full_doc["report"])
    got = report_from_dict(doc["report"])
    assert not got.source.degraded, f"{what}: degraded: {got.notes[:1]}"
    assert _site(got) == _site(full), f"{what}: crash site"
    assert _frames(got) == _frames(full), f"{what}: frames"
    assert not _same_names(full, got), f"{what}: frame names {_same_names(full, got)}"
    assert got.frames_complete == full.frames_complete, f"{what}: frames_complete"
    assert bool(got.skbs) == bool(full.skbs), f"{what}: skbs found {len(got.skbs)} vs {len(full.skbs)}"
    if full.skbs:
        a, b = full.skbs[0], got.skbs[0]
        assert b.address == a.address, f"{what}: subject skb {b.origin} vs {a.origin}"
        assert b.shinfo == a.shinfo, f"{what}: shinfo"
        assert b.clone_partners == a.clone_partners, f"{what}: clone partners"
        assert {s.address for s in got.skbs} >= {s.address for s in full.skbs}, f"{what}: skbs the full run found"
    if top:
        assert _top(doc) == _top_now(full_doc, library), f"{what}: top verdict"
    # Net context is read through BTF the same way.
    assert (got.net and got.net.devices) == (full.net and full.net.devices), f"{what}: net devices"
    assert got.modules == full.modules, f"{what}: modules"
    sources = [n for n in got.notes if n.startswith("sources: ")]
    assert sources and "kallsyms" in sources[0] and "BTF" in sources[0] and "ORC" in sources[0], got.notes
    assert "UNKNOWN" in sources[0]
    assert not any(f.source for f in got.frames), "source lines without DWARF?"


def test_no_debuginfo_equals_full(dump_case: tuple, tmp_path: Path, library: Any) -> None:
    manifest, form, path = dump_case
    full_doc = _full(manifest, form)
    empty = tmp_path / "no-debuginfo"
    empty.mkdir()
    profiles = tmp_path / "profiles"
    env = {"GSOTRIAGE_NO_STANDARD_DEBUGINFO": "1", "GSOTRIAGE_PROFILE_DIR": str(profiles)}
    cold = _run(path, env, "--debuginfo", str(empty))
    _same(full_doc, cold, "no debuginfo (cold)", library, top=False)
    assert any("per-build profile written" in n for n in cold["report"]["notes"]), cold["report"]["notes"]
    warm = _run(path, env, "--debuginfo", str(empty))
    assert any("per-build profile" in n and "used" in n for n in warm["report"]["notes"]), warm["report"]["notes"]
    _same(full_doc, warm, "no debuginfo (warm profile)", library, top=False)

    def tops() -> None:
        reference = _top_now(full_doc, library)
        assert _top(cold) == reference, f"no debuginfo (cold): top verdict {_top(cold)} vs {reference}"
        assert _top(warm) == reference, f"no debuginfo (warm profile): top verdict {_top(warm)} vs {reference}"

    # Last: a scenario may declare this a known engine gap (a strict expected failure).
    known_gap(manifest, "no_debuginfo_top", tops)


def test_profile_from_dwarf_run_loads_no_dwarf(manifests: List[Any], tmp_path: Path, library: Any) -> None:
    """A DWARF run writes the profile; a later run that could find the same vmlinux loads none."""
    m = next((m for m in manifests if m.file("kdump_makedumpfile") and m.file("vmlinux")), None)
    if m is None:
        pytest.skip("no makedumpfile dump with a vmlinux")
    path = str(m.file("kdump_makedumpfile"))
    full_doc = _full(m, "kdump_makedumpfile")
    dbg = tmp_path / "dbg"
    dbg.mkdir()
    os.symlink(str(m.file("vmlinux")), dbg / "vmlinux")
    env = {"GSOTRIAGE_NO_STANDARD_DEBUGINFO": "1", "GSOTRIAGE_PROFILE_DIR": str(tmp_path / "profiles")}
    first = _run(path, env, "--debuginfo", str(dbg))
    assert not any(n.startswith("sources: ") for n in first["report"]["notes"]), "first run must use DWARF"
    written = [n for n in first["report"]["notes"] if "per-build profile written" in n]
    assert written, first["report"]["notes"]
    meta = json.loads(next((tmp_path / "profiles").glob("*/profile.json")).read_text())
    assert meta["written_by"] == "dwarf" and meta["globals"].get("init_uts_ns") == "struct uts_namespace"
    second = _run(path, env, "--debuginfo", str(dbg))
    _same(full_doc, second, "warm profile from a DWARF run", library)
    # The first run that used the profile completed it: its kallsyms and BTF lookups. The next
    # run reads no kallsyms from the dump and reports the same.
    profile_dir = next((tmp_path / "profiles").glob("*/"))
    meta = json.loads((profile_dir / "profile.json").read_text())
    assert (profile_dir / "kallsyms.bin").is_file() and meta["kallsyms"]["size"] > 0
    assert meta["btf_memo"]["types"].get("struct sk_buff"), sorted(meta["btf_memo"]["types"])[:5]
    third = _run(path, env, "--debuginfo", str(dbg))
    sources = next(n for n in third["report"]["notes"] if n.startswith("sources: "))
    assert "symbols: kallsyms (per-build profile)" in sources, sources
    _same(full_doc, third, "warm profile with its kallsyms", library)


def test_profile_dir_read_only(manifests: List[Any], tmp_path: Path) -> None:
    """A profile directory that cannot be written is a note, not a failure."""
    m = next((m for m in manifests if m.file("kdump_makedumpfile")), None)
    if m is None:
        pytest.skip("no makedumpfile dump")
    ro = tmp_path / "ro"
    ro.mkdir()
    (ro / "x").write_text("")
    os.chmod(ro, 0o555)
    env = {
        "GSOTRIAGE_NO_STANDARD_DEBUGINFO": "1",
        "GSOTRIAGE_PROFILE_DIR": f"{ro / 'sub'}",
        "GSOTRIAGE_NO_DEBUGINFO": "1",
    }
    if os.geteuid() == 0:
        env["GSOTRIAGE_PROFILE_DIR"] = "/proc/gsotriage-profiles"  # unwritable even for root
    doc = _run(str(m.file("kdump_makedumpfile")), env)
    assert any("per-build profile not written" in n for n in doc["report"]["notes"]), doc["report"]["notes"]
    assert doc["report"]["skbs"] or not _full(m, "kdump_makedumpfile")["report"]["skbs"]
