"""Clause semantics (TRUE/FALSE/UNKNOWN), verdicts, ranking, ties and refinement."""

from __future__ import annotations

import math
from typing import Any, Dict, List

import pytest

from gsotriage.match.clauses import Tri, build_clause
from gsotriage.match.engine import diagnose, evaluate_signature
from gsotriage.match.loader import load_signature_file
from gsotriage.model import CrashReport, Frame, Panic, PanicKind, SharedInfo, Skb, Source

SEED_FRAMES = [
    "tcp_gso_segment",
    "inet_gso_segment",
    "skb_mac_gso_segment",
    "skb_udp_tunnel_segment",
    "inet_gso_segment",
    "skb_mac_gso_segment",
    "__skb_gso_segment",
    "validate_xmit_skb",
]


def report(frames: List[str] = SEED_FRAMES, complete: bool = True, shinfo: Any = None, **panic: Any) -> CrashReport:
    panic.setdefault("function", "skb_segment")
    return CrashReport(
        source=Source("inline"),
        panic=Panic(**panic),
        frames=tuple(Frame(f) for f in frames),
        frames_complete=complete,
        skbs=(Skb(origin="test", shinfo=shinfo),) if shinfo is not None else (),
    )


def ev(spec: Dict[str, Any], r: CrashReport) -> Tri:
    return build_clause(spec).evaluate(r).value


def test_frames_subsequence_with_gaps_is_true():
    assert ev({"frames": ["skb_segment", "tcp_gso_segment", "skb_udp_tunnel_segment"]}, report()) is Tri.TRUE


def test_frames_missing_in_complete_trace_is_false():
    assert ev({"frames": ["skb_segment", "__udp_gso_segment"]}, report()) is Tri.FALSE


def test_frames_missing_in_truncated_trace_is_unknown():
    assert ev({"frames": ["skb_segment", "__udp_gso_segment"]}, report(complete=False)) is Tri.UNKNOWN


def test_questionable_frames_are_ignored():
    r = CrashReport(
        source=Source("inline"),
        panic=Panic(function="skb_segment"),
        frames=(Frame("__udp_gso_segment", questionable=True), Frame("tcp_gso_segment")),
        frames_complete=True,
    )
    assert ev({"frames": ["skb_segment", "__udp_gso_segment"]}, r) is Tri.FALSE
    assert ev({"frames_absent": ["__udp_gso_segment"]}, r) is Tri.TRUE


def test_max_gap_zero_requires_adjacent_frames():
    assert ev({"frames": {"sequence": ["skb_segment", "inet_gso_segment"], "max_gap": 0}}, report()) is Tri.FALSE
    assert ev({"frames": {"sequence": ["skb_segment", "tcp_gso_segment"], "max_gap": 0}}, report()) is Tri.TRUE


def test_module_qualified_and_regex_frame_patterns():
    r = CrashReport(source=Source("inline"), frames=(Frame("receive_buf", module="virtio_net"),), frames_complete=True)
    assert ev({"frames": ["receive_buf@virtio_net"]}, r) is Tri.TRUE
    assert ev({"frames": ["receive_buf@mlx5_core"]}, r) is Tri.FALSE
    assert ev({"frames": ["re:^receive_"]}, r) is Tri.TRUE


def test_compiler_clone_suffixes_match_the_function():
    r = report(frames=["skb_segment.cold", "tcp_gso_segment.isra.0"])
    assert ev({"frames": ["tcp_gso_segment"]}, r) is Tri.TRUE


def test_skb_fields_unknown_without_skb_and_null_is_zero():
    assert ev({"skb": {"field": "shinfo.frag_list", "is_null": True}}, report()) is Tri.UNKNOWN
    assert (
        ev({"skb": {"field": "shinfo.frag_list", "is_null": True}}, report(shinfo=SharedInfo(frag_list=0))) is Tri.TRUE
    )
    assert (
        ev({"skb": {"field": "shinfo.frag_list", "is_null": True}}, report(shinfo=SharedInfo(frag_list=0xFFFF0000)))
        is Tri.FALSE
    )
    assert ev({"skb": {"field": "shinfo.frag_list", "is_null": True}}, report(shinfo=SharedInfo())) is Tri.UNKNOWN


def test_gso_flags_decoded_from_the_version_table():
    r = report(shinfo=SharedInfo(gso_type=1027))
    assert ev({"skb": {"flags_all": ["TCPV4", "DODGY", "UDP_TUNNEL"]}}, r) is Tri.TRUE
    assert ev({"skb": {"flags_none": ["FRAGLIST"]}}, r) is Tri.TRUE
    assert ev({"skb": {"flags_any": ["TCPV6", "UDP_L4"]}}, r) is Tri.FALSE


def test_fault_address_range_and_panic_kind():
    r = report(kind=PanicKind.NULL_DEREF, fault_address=0x70)
    assert ev({"fault_address": {"min": 0, "max": 4095}}, r) is Tri.TRUE
    assert ev({"panic_kind": ["bug"]}, r) is Tri.FALSE
    assert ev({"panic_kind": ["bug"]}, report()) is Tri.UNKNOWN


def test_combinators_keep_unknown():
    r = report()
    unknown = {"skb": {"field": "shinfo.gso_size", "eq": 1}}
    true = {"exception_function": "skb_segment"}
    false = {"exception_function": "skb_segment_list"}
    assert ev({"any_of": [unknown, true]}, r) is Tri.TRUE
    assert ev({"any_of": [unknown, false]}, r) is Tri.UNKNOWN
    assert ev({"all_of": [unknown, false]}, r) is Tri.FALSE
    assert ev({"not": unknown}, r) is Tri.UNKNOWN
    assert ev({"not": false}, r) is Tri.TRUE


def test_frag_list_members_head_frag_properties():
    from gsotriage.model import FragListMember

    members = (FragListMember(len=100, head_frag=True), FragListMember(len=90, head_frag=False))
    r = report(shinfo=SharedInfo(frag_list=0xFFFF1000, gso_size=50, frag_list_members=members))
    assert ev({"frag_list_members": {"head_frag": "mixed"}}, r) is Tri.TRUE
    assert ev({"frag_list_members": {"head_frag": "none"}}, r) is Tri.FALSE
    assert ev({"frag_list_members": {"len_not_multiple_of_gso_size": True}}, r) is Tri.TRUE
    assert (
        ev({"frag_list_members": {"count": {"min": 1}}}, report(shinfo=SharedInfo(frag_list=0xFFFF1000))) is Tri.UNKNOWN
    )


SIG = """\
id: {id}
title: t
summary: s
mechanism: m
maturity: experimental
severity: low
tags: {tags}
{extra}
match:
  required:
    - exception_function: skb_segment
{required}
  supporting:
    - skb: {{field: shinfo.gso_segs, eq: 0}}
tests:
  - {{name: p, expect: match, provenance: reconstructed, report: {{}}}}
  - {{name: n, expect: ruled-out, provenance: reconstructed, report: {{}}}}
"""


def sig(tmp_path, sid: str, required: str = "", tags: str = "[gso]", extra: str = ""):
    p = tmp_path / f"{sid}.yaml"
    p.write_text(SIG.format(id=sid, required=required, tags=tags, extra=extra))
    s, errs = load_signature_file(p)
    assert not errs, errs
    return s


def test_verdict_statuses_and_log_odds(tmp_path):
    s = sig(tmp_path, "sig-a", "    - skb: {field: shinfo.frag_list, is_null: true}")
    full = evaluate_signature(s, report(shinfo=SharedInfo(frag_list=0, gso_segs=0)))
    assert full.status == "match"
    v = evaluate_signature(s, report())
    assert v.status == "partial" and [e.clause for e in v.unknown_required] == ["shinfo.frag_list is null"]
    site, frag_list, gso_segs = v.evidence
    # A confirmed rare fact adds ln(1/background); a required fact left unseen costs ln(background);
    # supporting evidence left unseen costs nothing.
    assert site.contribution == pytest.approx(-math.log(site.background), abs=1e-5)
    assert frag_list.contribution == pytest.approx(math.log(frag_list.background), abs=1e-5)
    assert gso_segs.contribution == 0.0
    assert v.log_score == pytest.approx(site.contribution + frag_list.contribution, abs=1e-5)
    assert full.log_score > v.log_score
    v = evaluate_signature(s, report(shinfo=SharedInfo(frag_list=0x1000)))
    assert v.status == "ruled-out" and v.contradicted_by[0].observed == "0x1000"


def test_specific_partial_outranks_generic_match(tmp_path):
    specific = sig(tmp_path, "specific", "    - skb: {field: shinfo.frag_list, is_null: true}")
    generic = sig(tmp_path, "generic-one", tags="[generic]")
    d = diagnose(report(), [generic, specific])
    assert d.verdicts[0].signature.id == "specific" and d.verdicts[0].status == "partial"
    assert d.specific_root_cause


def test_equal_scores_are_a_tie_not_silently_broken(tmp_path):
    a = sig(tmp_path, "sig-a")
    b = sig(tmp_path, "sig-b")
    d = diagnose(report(), [a, b])
    assert d.verdicts[0].tie and d.verdicts[1].tie


def test_origin_refining_a_mechanism_with_the_same_status_goes_first_without_tie(tmp_path):
    parent = sig(tmp_path, "mech")
    child = sig(tmp_path, "origin", extra="refines: mech")
    d = diagnose(report(), [parent, child])
    assert [v.signature.id for v in d.verdicts] == ["origin", "mech"]
    assert not d.verdicts[0].tie


def test_nothing_matching_gives_no_top(tmp_path):
    s = sig(tmp_path, "sig-a", "    - skb: {field: shinfo.frag_list, is_null: true}")
    d = diagnose(report(function="other", shinfo=SharedInfo(frag_list=1)), [s])
    assert d.top is None and not d.specific_root_cause


def test_bucket_is_stable_and_offset_free():
    r = report(kind=PanicKind.NULL_DEREF)
    assert diagnose(r, []).bucket == "null-deref:skb_segment:tcp_gso_segment,inet_gso_segment,skb_mac_gso_segment"


def test_configuration_facts_alone_never_make_a_candidate(tmp_path):
    from gsotriage.model import NetContext

    s = sig(tmp_path, "origin-like", "    - bpf_programs: {attached: false}")
    healthy = CrashReport(source=Source("inline"), net=NetContext(bpf_programs=()))
    v = evaluate_signature(s, healthy)
    assert v.status == "partial" and not v.anchored  # exception function unknown, no BPF: nothing crashed here
    assert diagnose(healthy, [s]).top is None


def test_an_origin_falls_with_the_mechanism_it_refines(tmp_path):
    parent = sig(tmp_path, "mech", "    - skb: {field: shinfo.frag_list, is_null: true}")
    child = sig(tmp_path, "origin", extra="refines: mech")
    d = diagnose(report(shinfo=SharedInfo(frag_list=0x1000)), [parent, child])
    by_id = {v.signature.id: v for v in d.verdicts}
    assert by_id["mech"].status == "ruled-out"
    assert by_id["origin"].status == "ruled-out"
    assert by_id["origin"].contradicted_by[-1].clause == "refines mech"


def test_a_specific_class_needs_the_crash_site_not_just_a_panic_kind_or_skb(tmp_path):
    s = sig(tmp_path, "kind-only", "    - panic_kind: bug\n    - skb: {field: shinfo.frag_list, is_null: true}")
    no_site = CrashReport(
        source=Source("inline"),
        panic=Panic(kind=PanicKind.BUG),
        skbs=(Skb(origin="struct printout", shinfo=SharedInfo(frag_list=0)),),
    )
    v = evaluate_signature(s, no_site)
    assert v.status == "partial" and not v.anchored and diagnose(no_site, [s]).top is None


def test_gso_decoding_picks_the_layout_of_the_kernel_and_keeps_unknown_bits_visible():
    from gsotriage.kernel.gso import decode_gso_type

    # 0x403 on RHEL 8 (4.18 layout): the seed's TCPV4|DODGY|UDP_TUNNEL, marked assumed.
    flags, table = decode_gso_type(1027, "4.18.0-553.47.1.el8_10.x86_64")
    assert flags == ("TCPV4", "DODGY", "UDP_TUNNEL") and table.startswith("table:linux-4.18 (assumed")
    # Before the v4.14 renumbering bit 1 was UFO and bit 2 DODGY.
    assert decode_gso_type(0x6, "4.9.0-3-amd64")[0] == ("UDP", "DODGY")
    # FRAGLIST exists from 5.6 on; on 5.4 bit 18 is unknown and stays visible.
    assert decode_gso_type(0x40000, "6.1.0-56-cloud-amd64")[0] == ("FRAGLIST",)
    assert decode_gso_type(0x40000, "5.4.0-100-generic")[0] == ("BIT18",)
    # The dump's own enum wins over any table.
    flags, table = decode_gso_type(0x3, "6.1.0", enum_bits={"TCPV4": 1, "DODGY": 2})
    assert flags == ("TCPV4", "DODGY") and table == "dump-enum"
