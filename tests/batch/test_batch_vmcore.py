"""Batch over the real vmcores built by fixtures/vmcores/build: same verdict as analyze, one input per dump."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.batch.helpers import read_jsonl, run_cli
from tests.vmcore.manifests import SKIP_REASON, cache_dir, discover, require

pytestmark = pytest.mark.vmcore


def _dumps():
    """(dump, vmlinux) per scenario, from the factory's manifests."""
    found = []
    for man in discover():
        dump = next((man.file(k) for k in ("kdump_makedumpfile", "kdump_qemu", "elf") if man.file(k)), None)
        vml = man.file("vmlinux")
        if dump and vml:
            found.append((Path(dump), Path(vml)))
    return found


def test_batch_on_real_vmcores_matches_analyze(tmp_path):
    dumps = [(d, v) for d, v in _dumps() if d.exists() and v.exists()]
    if not dumps:
        msg = f"{SKIP_REASON} (looked under {cache_dir()})"
        if require():
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
