"""Factory self-check: module GROUND_TRUTH vs crash(8) output for every built scenario.

Self-contained (imports only fixtures/vmcores/factory/crosscheck.py, stdlib).
The parser tests always run; the per-manifest checks need the dumps built by
``fixtures/vmcores/build`` and skip when the cache is absent, unless
GSOTRIAGE_REQUIRE_VMCORES=1, in which case they fail.
"""

from __future__ import annotations

import glob
import json
import os
import sys

import pytest

_FACTORY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fixtures", "vmcores")
sys.path.insert(0, os.path.abspath(_FACTORY))

from factory.crosscheck import (  # noqa: E402
    CHANGED,
    bt_frames,
    check_manifest,
    console_frames,
    expected_at_crash,
    head_changed,
    parse_crash_struct,
    parse_ground_truth,
)

SHINFO = """struct skb_shared_info {
  flags = 0 '\\000',
  meta_len = 0 '\\000',
  nr_frags = 0 '\\000',
  tx_flags = 0 '\\000',
  gso_size = 1348,
  gso_segs = 0,
  frag_list = 0x0,
  hwtstamps = {
    {
      hwtstamp = 0,
      netdev_data = 0x0
    }
  },
  gso_type = 1027,
  tskey = 0,
  dataref = {
    counter = 1
  },
  destructor_arg = 0x0,
  frags = {{
      bv_page = 0x0,
      bv_len = 0,
      bv_offset = 0
    }}
}
"""

BT = """PID: 45       TASK: ff19ffd6827e20c0  CPU: 0    COMMAND: "kworker/0:2"
 #0 [ff774b38c056b8d8] panic at ffffffff831cd21a
 #1 [ff774b38c056b958] oops_end.cold at ffffffff831c7c63
 #4 [ff774b38c056ba20] asm_exc_page_fault at ffffffff83400c02
    [exception RIP: skb_segment+588]
    RIP: ffffffff82f96fac  RSP: ff774b38c056bad8  RFLAGS: 00000246
 #5 [ff774b38c056bbb0] tcp_gso_segment at ffffffff83082ace
#14 [ff774b38c056be60] gc_work_fn at ffffffffc02dab02 [gsocrash]
"""

CONSOLE = (
    "[    1.820741] gsocrash: GROUND_TRUTH scenario=seed skb=0xff2af3dc018f0e00 shinfo=0xff2af3dc028faec0 "
    "head=0xff2af3dc028fa800 end=1728 gso_size=1348 gso_segs=0 gso_type=0x403 frag_list=0x0 nr_frags=0 "
    "len=4148 data_len=2696 headlen=1452 ip_summed=3 encapsulation=1 frag_list_count=0 members=-\n"
    """[    1.823814] RIP: 0010:skb_segment+0x24c/0xf40
[    1.824792] Call Trace:
[    1.825276]  <TASK>
[    1.825418]  tcp_gso_segment+0xee/0x500
[    1.825595]  ? console_unlock+0x17f/0x1d0
[    1.825639]  inet_gso_segment+0x151/0x3d0
[    1.826331]  </TASK>
"""
)


def test_parse_crash_struct() -> None:
    st = parse_crash_struct(SHINFO)
    assert st["gso_size"] == 1348
    assert st["gso_segs"] == 0
    assert st["gso_type"] == 1027
    assert st["frag_list"] == "0x0"
    assert st["nr_frags"] == 0
    assert "bv_len" not in st and "hwtstamp" not in st


def test_parse_ground_truth_and_frames() -> None:
    gt = parse_ground_truth(CONSOLE)
    assert gt is not None
    assert gt["gso_type"] == 0x403 and gt["skb"] == "0xff2af3dc018f0e00"
    assert gt["members"] == [] and gt["frag_list_count"] == 0
    assert bt_frames(BT) == ["panic", "oops_end", "asm_exc_page_fault", "skb_segment", "tcp_gso_segment", "gc_work_fn"]
    assert console_frames(CONSOLE) == ["skb_segment", "tcp_gso_segment", "inet_gso_segment"]


def test_expected_at_crash_applies_the_kernels_rewrites() -> None:
    gt = parse_ground_truth(CONSOLE)
    assert gt is not None
    reset = {"at_crash": {"gso_size": 0, "gso_type": 0, "head": CHANGED, "why": "skb_gso_reset()"}}
    assert expected_at_crash(gt, reset, "gso_size") == 0
    assert expected_at_crash(gt, reset, "gso_type") == 0
    assert expected_at_crash(gt, reset, "gso_segs") == 0  # not rewritten: the entry value (0 here)
    assert expected_at_crash(gt, {}, "gso_size") == 1348
    assert expected_at_crash(gt, {}, "skb") == "0xff2af3dc018f0e00"
    assert head_changed(reset) and not head_changed({}) and not head_changed({"at_crash": {"gso_size": 0}})


def _cache_dir() -> str:
    env = os.environ.get("GSOTRIAGE_VMCORE_CACHE")
    if env:
        return env
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(xdg, "gsotriage", "vmcores")


def _current(path: str) -> bool:
    """Built from this checkout's scenario and module sources (the cache is shared by checkouts)."""
    from factory.cli import SCENARIOS, source_key

    try:
        with open(path) as f:
            data = json.load(f)
        name = data["scenario"]
        return name in SCENARIOS and data["build"]["source_key"] == source_key(data["kernel"], name)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _manifests() -> list:
    return sorted(p for p in glob.glob(os.path.join(_cache_dir(), "*", "*", "manifest.json")) if _current(p))


@pytest.mark.vmcore
@pytest.mark.parametrize(
    "manifest_path",
    _manifests() or [None],
    ids=lambda p: "no-manifests" if p is None else "/".join(p.split(os.sep)[-3:-1]),
)
def test_manifest_crosscheck(manifest_path: str) -> None:
    if manifest_path is None:
        msg = "no vmcore fixtures: run fixtures/vmcores/build"
        if os.environ.get("GSOTRIAGE_REQUIRE_VMCORES") == "1":
            pytest.fail("GSOTRIAGE_REQUIRE_VMCORES=1 but " + msg)
        pytest.skip(msg)
    problems = check_manifest(manifest_path)
    assert not problems, "\n".join(problems)


def test_the_crash_smoke_scenarios_exist_on_every_series():
    """The smoke sessions (crash reads the ELF and QEMU kdump forms) run on these scenarios
    only: each must be a scenario, built on every kernel series."""
    from factory.cli import SMOKE_SCENARIOS
    from factory.scenarios import SCENARIOS

    assert SMOKE_SCENARIOS and SMOKE_SCENARIOS <= set(SCENARIOS)
    assert not any(SCENARIOS[n].get("not_on") for n in SMOKE_SCENARIOS)
