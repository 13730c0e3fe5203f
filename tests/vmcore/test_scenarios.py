"""End-to-end on the factory's real dumps: every scenario x dump form.

The report must give the scenario's class, the ground-truth shinfo, and the
same frames as crash(8) ``bt`` (module frames left out of the comparison), and
the console log of the same scenario must agree with it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any, Dict, List, Optional

import pytest

from gsotriage.model import CrashReport, report_from_dict

pytestmark = pytest.mark.vmcore


def _analyze(target: str, *args: str, env: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "gsotriage", "analyze", target, "--format", "json", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )
    assert proc.returncode in (0, 1, 2), f"exit {proc.returncode}: {proc.stderr[-2000:]}"
    out: Dict[str, Any] = json.loads(proc.stdout)
    return out


def _top(doc: Dict[str, Any]) -> Optional[str]:
    verdicts = doc.get("verdicts") or []
    return verdicts[0].get("signature") if verdicts else None


def _check_class(expect: Dict[str, Any], top: Optional[str], partial_ok: bool = False) -> None:
    cls = expect.get("class")
    if cls:
        assert top == cls, f"top verdict {top!r}, expected {cls!r}"
    else:
        assert top not in (expect.get("not_class") or []), f"top verdict {top!r} is excluded"
        assert top is None or not top.startswith("gso-"), f"negative scenario matched a GSO class {top!r}"


def _below_exception(report: CrashReport) -> List[str]:
    """Function names below the exception, as crash's bt lists them: no inline, '?' or module frames."""
    return [
        f.function.split(".", 1)[0]
        for f in report.frames
        if f.context.value != "exception" and not f.questionable and not f.inline and not f.module
    ]


def _crash_frames(path: str) -> List[str]:
    from gsotriage.parse import parse_text

    with open(path, encoding="utf-8", errors="replace") as f:
        return _below_exception(parse_text(f.read(), path=path))


def _vmlinux(manifest: Any) -> str:
    vmlinux = manifest.file("vmlinux")
    if not vmlinux:
        pytest.skip(f"{manifest.name}: vmlinux missing")
    return str(vmlinux)


def test_dump(dump_case: tuple) -> None:
    manifest, _form, path = dump_case
    args = ["--vmlinux", _vmlinux(manifest)]
    ko = manifest.file("module_ko")
    if ko:
        args += ["--debuginfo", os.path.dirname(ko)]
    doc = _analyze(path, *args)
    report = report_from_dict(doc["report"])
    assert not report.source.degraded
    expect = manifest.expect
    _check_class(expect, _top(doc))
    if expect.get("panic_kind"):
        assert report.panic.kind is not None and report.panic.kind.value == expect["panic_kind"]
    if expect.get("exception_function"):
        assert (report.panic.function or "").split(".", 1)[0] == expect["exception_function"]
    gt = manifest.ground_truth
    if gt.get("skb") and int(str(gt["skb"]), 16):
        assert report.skbs, "no skb found"
        skb = report.skbs[0]
        assert skb.address == int(str(gt["skb"]), 16), f"subject skb {skb.origin}"
        for key in ("gso_size", "gso_segs", "gso_type", "nr_frags", "frag_list", "frag_list_count"):
            if key not in gt:
                continue
            want = gt[key]
            if isinstance(want, str):
                want = int(want, 16)
            assert getattr(skb.shinfo, key) == want, f"shinfo.{key}"
        if "shinfo" in gt:
            assert skb.shinfo.shinfo_address == int(str(gt["shinfo"]), 16)
        assert skb.shinfo.gso_type_table == "dump-enum"
    bt = manifest.file("crash", "bt")
    if bt:
        want_frames = _crash_frames(bt)
        if want_frames:
            assert _below_exception(report) == want_frames
    assert report.frames_complete


def test_console_agrees(manifest: Any) -> None:
    console = manifest.file("console")
    dumps = manifest.dumps()
    if not console or not dumps:
        pytest.skip(f"{manifest.name}: no console log or no dump (a probe scenario)")
    text_doc = _analyze(console)
    _form, path = sorted(dumps.items())[0]
    dump_doc = _analyze(path, "--vmlinux", _vmlinux(manifest))
    assert _top(text_doc) == _top(dump_doc)
    text_frames = _below_exception(report_from_dict(text_doc["report"]))
    dump_frames = _below_exception(report_from_dict(dump_doc["report"]))
    assert text_frames == dump_frames


def test_degraded_without_debuginfo(manifest: Any, tmp_path: Any) -> None:
    dumps = manifest.dumps()
    if not dumps:
        pytest.skip(f"{manifest.name}: no dump (a probe scenario)")
    path = dumps.get("kdump_makedumpfile") or sorted(dumps.values())[0]
    doc = _analyze(path, "--debuginfo", str(tmp_path), env={"GSOTRIAGE_NO_STANDARD_DEBUGINFO": "1"})
    report = report_from_dict(doc["report"])
    assert report.source.degraded
    assert report.notes and "DEGRADED" in report.notes[0]
    release = manifest.data.get("kernel", {}).get("release") or ""
    assert f"linux-image-{release}-dbg" in report.notes[0]
    assert not report.skbs
    assert report.net is None or (report.net.devices is None and report.net.bpf_programs is None)
    console = manifest.file("console")
    if console and manifest.expect.get("panic"):
        assert _top(doc) == _top(_analyze(console))
        expect = manifest.expect
        _check_class(expect, _top(doc))
