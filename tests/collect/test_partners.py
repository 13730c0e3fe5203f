"""The clone-partner search on the factory's dumps: cloned at entry, read back from another sk_buff.

skb_segment_list() starts with skb_unclone() since c329b261afe7 (v6.5; stable 6.1.40): a cloned
skb reads cloned 0 at the crash. The cloned scenario keeps a clone alive (ground truth: the skb
was cloned, with the head recorded at segmentation entry); its partner must be found, still
cloned and holding that head. Scenarios of an skb that was never cloned must find none, and a
path that never passed skb_segment_list() does not search at all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any, Dict, List

import pytest
from manifests import SKIP_REASON, Manifest, discover, require

pytestmark = pytest.mark.vmcore


def _list_segmented(m: Manifest) -> bool:
    """The skb went through skb_segment_list(): the scenario says its GSO fields were reset."""
    return m.expect.get("at_crash", {}).get("gso_type") == 0 and "skb_segment_list" in str(
        m.expect.get("at_crash", {}).get("why", "")
    )


def _cases() -> List[Any]:
    out = []
    for m in discover():
        # Scenarios whose crash is about an skb (a class expected; the negatives crash elsewhere).
        if m.file("kdump_makedumpfile") and m.file("vmlinux") and m.ground_truth.get("skb") and m.expect.get("class"):
            out.append(pytest.param(m, id=m.name))
    if not out:
        out.append(pytest.param(None, id="no-dumps"))
    return out


def _analyze(m: Manifest) -> Dict[str, Any]:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "gsotriage",
            "analyze",
            str(m.file("kdump_makedumpfile")),
            "--vmlinux",
            str(m.file("vmlinux")),
            "--format",
            "json",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ, GSOTRIAGE_NO_STANDARD_DEBUGINFO="1", GSOTRIAGE_PROFILES="0"),
        timeout=300,
        check=False,
    )
    assert proc.returncode in (0, 1, 7), proc.stderr[-2000:]
    report: Dict[str, Any] = json.loads(proc.stdout)["report"]
    return report


@pytest.mark.parametrize("m", _cases())
def test_clone_partner_of_the_subject_skb(m: Manifest) -> None:
    if m is None:
        if require():
            pytest.fail(f"GSOTRIAGE_REQUIRE_VMCORES=1 but {SKIP_REASON}")
        pytest.skip(SKIP_REASON)
    report = _analyze(m)
    gt = m.ground_truth
    subject = next((s for s in report["skbs"] if int(s["address"], 16) == int(gt["skb"], 16)), None)
    assert subject is not None, [s["origin"] for s in report["skbs"]]
    partners = subject.get("clone_partners")
    if not _list_segmented(m) or subject.get("cloned"):
        # No skb_unclone() on the path (or the bit is still set): nothing to recover, no search.
        assert partners is None, partners
        return
    assert not any("clone-partner search" in n for n in report["notes"]), report["notes"]
    if not gt.get("cloned"):
        assert partners == [], partners
        return
    assert partners is not None and len(partners) == 1, (partners, report["notes"])
    # The partner is the clone the scenario kept: cloned set, the skb's head from before skb_unclone().
    import drgn

    prog = drgn.Program()
    prog.set_core_dump(str(m.file("kdump_makedumpfile")))
    prog.load_debug_info([str(m.file("vmlinux"))])
    partner = drgn.Object(prog, "struct sk_buff", address=int(partners[0], 16))
    assert int(partner.cloned) == 1
    assert int(partner.head.value_()) == int(gt["head"], 16) != int(subject["head"], 16)
