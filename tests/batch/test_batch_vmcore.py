"""Batch over the real vmcores built by fixtures/vmcores/build: same verdict as analyze, one input per dump."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.batch.helpers import read_jsonl, run_cli

pytestmark = pytest.mark.vmcore


def _cache() -> Path:
    env = os.environ.get("GSOTRIAGE_VMCORE_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / "gsotriage" / "vmcores"


def _dumps():
    found = []
    for man in sorted(_cache().glob("*/*/manifest.json")):
        m = json.loads(man.read_text())
        files = m.get("files") or {}
        dump = next((files[k] for k in ("kdump_makedumpfile", "kdump_qemu", "elf") if files.get(k)), None)
        vml = files.get("vmlinux")
        if dump and vml:
            vml_path = Path(vml) if os.path.isabs(vml) else man.parent / vml
            found.append((man.parent / dump, vml_path))
    return found


def test_batch_on_real_vmcores_matches_analyze(tmp_path):
    dumps = [(d, v) for d, v in _dumps() if d.exists() and v.exists()]
    if not dumps:
        msg = f"no vmcores under {_cache()} (build them with fixtures/vmcores/build)"
        if os.environ.get("GSOTRIAGE_REQUIRE_VMCORES") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    by_vmlinux = {}
    for d, v in dumps:
        by_vmlinux.setdefault(v, []).append(d)
    vmlinux, group = next(iter(by_vmlinux.items()))
    group = group[:3]
    p = run_cli(
        tmp_path,
        "batch",
        *map(str, group),
        "--vmlinux",
        str(vmlinux),
        "-o",
        "r.jsonl",
        "--no-record",
        "-j",
        "2",
        timeout=900,
    )
    assert p.returncode in (0, 1), p.stderr
    lines = {x["batch"]["input"]: x for x in read_jsonl(tmp_path / "r.jsonl")}
    assert len(lines) == len(group)
    for dump in group:
        a = run_cli(tmp_path, "analyze", str(dump), "--vmlinux", str(vmlinux), "--format", "json", timeout=600)
        line = lines[str(dump)]
        if a.returncode == 3:
            assert line["batch"]["status"] == "input-error"
            continue
        assert line["batch"]["status"] == "ok", line["batch"]
        assert {k: v for k, v in line.items() if k != "batch"}["summary"] == json.loads(a.stdout)["summary"]
