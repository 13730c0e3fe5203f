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
from typing import Any, Dict, List, Optional, Sequence

import pytest
from manifests import CHANGED, known_gap

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
    assert proc.returncode in (0, 1, 2, 7), f"exit {proc.returncode}: {proc.stderr[-2000:]}"
    out: Dict[str, Any] = json.loads(proc.stdout)
    return out


def _top(doc: Dict[str, Any]) -> Optional[str]:
    verdicts = doc.get("verdicts") or []
    return verdicts[0].get("signature") if verdicts else None


def _check_class(expect: Dict[str, Any], doc: Dict[str, Any]) -> None:
    """The dump must name the scenario's class; a negative must get no specific root cause."""
    top = _top(doc)
    cls = expect.get("class")
    if cls:
        assert top == cls, f"top verdict {top!r}, expected {cls!r}"
        assert doc["summary"]["specific"] == (not cls.startswith("generic-")) and not doc["summary"]["tie"]
    else:
        assert top not in (expect.get("not_class") or []), f"top verdict {top!r} is excluded"
        assert not doc["summary"]["specific"], f"negative scenario named a specific root cause {top!r}"


def _verdict(doc: Dict[str, Any], sig: Optional[str]) -> Dict[str, Any]:
    return next((v for v in doc["verdicts"] if v["signature"] == sig), {})


_TEXT_BLIND = ("shinfo.", "gso_type", "frag_list", "data_len", "skb ", "BPF programs", "net device", "cloned")


def _blind(clause: str) -> bool:
    """Evidence a console log cannot show (the skb and the kernel's configuration)."""
    return any(k in clause for k in _TEXT_BLIND)


# Clause wording of the skb fields a scenario's expect.at_crash may declare rewritten.
_FIELD_CLAUSES = {
    "gso_type": "gso_type",
    "gso_size": "shinfo.gso_size",
    "gso_segs": "shinfo.gso_segs",
    "frag_list": "shinfo.frag_list",
    "cloned": "cloned",
}


def _rewritten(manifest: Any) -> List[str]:
    """Clause words of the fields the kernel rewrote between segmentation entry and the crash site."""
    return [_FIELD_CLAUSES[k] for k in (manifest.expect.get("at_crash") or {}) if k in _FIELD_CLAUSES]


def _text_agrees(text_doc: Dict[str, Any], dump_doc: Dict[str, Any], rewritten: Sequence[str] = ()) -> None:
    """A console log (or the dmesg of a dump without debuginfo) agrees with the dump
    when it names the same top verdict, or when it cannot see what separates the
    candidates: then its top verdict is only partial, and the dump's class is one
    of its partial candidates whose missing evidence is exactly what text cannot
    show (skb fields, shinfo, BPF programs, devices).

    A dump is never less specific than its console: when it rules out the
    console's candidate only on fields the kernel rewrote before the crash site
    (``rewritten``, from the scenario's expect.at_crash), it judged segmentation-
    entry clauses on crash-time values."""
    text_top, dump_top = _top(text_doc), _top(dump_doc)
    if text_top == dump_top:
        return
    if not dump_doc["summary"]["specific"]:
        # Nothing specific in the dump. The text may still hold a partial candidate,
        # but only one that the dump rules out on evidence text cannot show.
        if text_doc["summary"]["specific"]:
            assert text_doc["summary"]["status"] == "partial", f"text fully matches {text_top!r}, the dump nothing"
            against = _verdict(dump_doc, text_top).get("contradicted_by", [])
            seen = [c for c in against if not _blind(c)]
            assert not seen, f"text names {text_top!r} although it shows what rules it out: {seen}"
            stale = [c for c in against if any(w in c for w in rewritten)]
            assert not against or stale != against, (
                f"the dump is less specific than its console ({text_top!r}): it rules it out only on "
                f"fields rewritten before the crash site: {stale}"
            )
        return
    # The dump may be more specific than the text: a text whose top verdict is
    # generic (its specific candidates only partial, or held down by a fix the
    # kernel carries) leaves the choice to the evidence only a dump has.
    assert not text_doc["summary"]["specific"] or text_doc["summary"]["status"] in ("partial", "ambiguous"), (
        f"text top {text_top!r} is a full match, dump says {dump_top!r}"
    )
    if text_doc["summary"]["status"] == "ambiguous":
        # The text could not choose; the dump did, and chose one of the text's candidates.
        candidates = [c["signature"] for c in text_doc["summary"]["candidates"]]
        assert dump_top in candidates, f"dump names {dump_top!r}, not among the text's candidates {candidates}"
    mine = _verdict(text_doc, dump_top)
    assert mine.get("status") == "partial", (
        f"text rules out the dump's class {dump_top!r}: {mine.get('contradicted_by')}"
    )
    blind = [c for c in mine["would_confirm"] if not any(k in c for k in _TEXT_BLIND)]
    assert not blind, f"text leaves {dump_top!r} open on evidence text can show: {blind}"


_ENTRY = frozenset({"do_syscall_64", "entry_SYSCALL_64", "entry_SYSCALL_64_after_hwframe", "ret_from_fork"})
# Hardware interrupt entries: below them lies the interrupted task.
_IRQ_ENTRY = frozenset({"sysvec_apic_timer_interrupt", "asm_sysvec_apic_timer_interrupt", "common_interrupt", "do_IRQ"})
# The softirq loop: softirqs raised in task context run on the IRQ stack from
# local_bh_enable() -> do_softirq() (do_softirq_own_stack), and crash 8.0's bt
# lists do_softirq twice and skips the task frames below it.
_SOFTIRQ_ENTRY = frozenset({"handle_softirqs", "__do_softirq"})


def _to_entry(names: List[str]) -> List[str]:
    """Up to the kernel entry. Below a system call crash(8) lists stale return
    addresses as frames (it has no '?' marker), drgn's ORC unwinder does not; and
    below a hardware interrupt or a softirq run on the IRQ stack crash 8.0 loses
    the interrupted (or calling) task (it prints "[exception RIP: unknown or
    invalid address]" or repeats do_softirq), so the comparison stops at the
    interrupt entry or the softirq loop (test_dump checks separately that drgn
    reaches the task)."""
    for i, name in enumerate(names):
        if name in _ENTRY or name in _SOFTIRQ_ENTRY:
            return names[: i + 1]
        if name in _IRQ_ENTRY:
            return names[:i]
    return names


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
        report = parse_text(f.read(), path=path)
    names = _below_exception(report)
    # crash(8) sometimes lists the faulting function again right below its
    # "[exception RIP: ...]" line: a stale return address of its stack scan.
    if names and report.panic.function and names[0] == report.panic.function.split(".", 1)[0]:
        names = names[1:]
    return names


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
    if expect.get("panic_kind"):
        assert report.panic.kind is not None and report.panic.kind.value == expect["panic_kind"]
    if expect.get("exception_function"):
        assert (report.panic.function or "").split(".", 1)[0] == expect["exception_function"]
    gt = manifest.ground_truth
    if gt.get("skb") and int(str(gt["skb"]), 16):
        assert report.skbs, "no skb found"
        skb = report.skbs[0]
        assert skb.address == int(str(gt["skb"]), 16), f"subject skb {skb.origin}"
        for key in ("gso_size", "gso_segs", "gso_type", "nr_frags", "frag_list", "frag_list_count", "shinfo"):
            if key not in gt:
                continue
            seen = skb.shinfo.shinfo_address if key == "shinfo" else getattr(skb.shinfo, key)
            want = manifest.at_crash(key)
            if want == CHANGED:
                assert seen != int(str(gt[key]), 16), f"shinfo.{key}: the entry value, expected the kernel's rewrite"
                continue
            if isinstance(want, str):
                want = int(want, 16)
            assert seen == want, f"shinfo.{key}"
        assert skb.shinfo.gso_type_table == "dump-enum"
        if "cloned" in gt:
            assert int(skb.cloned) == manifest.at_crash("cloned"), "skb.cloned"
    if expect.get("stack_context"):
        # The crash ran in softirq context on the IRQ stack: the unwind must cross back into the task.
        below = [f for f in report.frames if f.context.value != "exception"]
        assert below and below[0].context.value == expect["stack_context"], [f.context.value for f in below]
        assert any(f.context.value == "task" for f in below), "the interrupted task's frames are missing"
    bt = manifest.file("crash", "bt")
    if bt:
        want_frames = _crash_frames(bt)
        if want_frames:
            assert _to_entry(_below_exception(report)) == _to_entry(want_frames)
    assert report.frames_complete
    known_gap(manifest, "dump_class", lambda: _check_class(expect, doc))


def test_console_agrees(manifest: Any) -> None:
    console = manifest.file("console")
    dumps = manifest.dumps()
    if not console or not dumps:
        pytest.skip(f"{manifest.name}: no console log or no dump (a probe scenario)")
    text_doc = _analyze(console)
    _form, path = sorted(dumps.items())[0]
    dump_doc = _analyze(path, "--vmlinux", _vmlinux(manifest))
    text_frames = _below_exception(report_from_dict(text_doc["report"]))
    dump_frames = _below_exception(report_from_dict(dump_doc["report"]))
    assert _to_entry(text_frames) == _to_entry(dump_frames)
    known_gap(manifest, "console_agrees", lambda: _text_agrees(text_doc, dump_doc, _rewritten(manifest)))


def test_degraded_without_debuginfo(manifest: Any, tmp_path: Any) -> None:
    dumps = manifest.dumps()
    if not dumps:
        pytest.skip(f"{manifest.name}: no dump (a probe scenario)")
    path = dumps.get("kdump_makedumpfile") or sorted(dumps.values())[0]
    # The kernel-log-only fallback (kernels without BTF or VMCOREINFO kallsyms); the
    # debuginfo-free analysis these dumps allow is tested in test_no_debuginfo.py.
    env = {"GSOTRIAGE_NO_STANDARD_DEBUGINFO": "1", "GSOTRIAGE_FROM_DUMP": "0"}
    doc = _analyze(path, "--debuginfo", str(tmp_path), env=env)
    report = report_from_dict(doc["report"])
    assert report.source.degraded
    assert report.notes and "DEGRADED" in report.notes[0]
    release = manifest.data.get("kernel", {}).get("release") or ""
    assert f"linux-image-{release}-dbg" in report.notes[0]
    assert all(skb.address is None for skb in report.skbs), "skbs read from memory without debug info?"
    assert report.net is None or (report.net.devices is None and report.net.bpf_programs is None)
    console = manifest.file("console")
    if console and manifest.expect.get("panic"):
        assert _top(doc) == _top(_analyze(console))
        full = _analyze(path, "--vmlinux", _vmlinux(manifest))
        known_gap(manifest, "degraded_agrees", lambda: _text_agrees(doc, full, _rewritten(manifest)))


def test_every_scenario_is_built_from_this_checkout(manifests: List[Any]) -> None:
    """The checks above judge only dumps built from this checkout's sources; a scenario whose dump
    is missing or was built from other sources (another checkout sharing the cache) would leave
    its checks silently out, so it fails here instead."""
    from manifests import factory_cli

    cli = factory_cli()
    built = {(m.data["kernel"]["series"], m.data["scenario"]) for m in manifests}
    series = sorted({s for s, _ in built})
    want = {(s, name) for s in series for name, spec in cli.SCENARIOS.items() if s not in (spec.get("not_on") or {})}
    assert not want - built, f"not built from this checkout (run fixtures/vmcores/build): {sorted(want - built)}"
