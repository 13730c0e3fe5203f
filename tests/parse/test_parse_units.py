"""Unit tests of the parse tables: one shape per assertion."""

from __future__ import annotations

from gsotriage.kernel.release import distro_version
from gsotriage.model import PanicKind, StackContext
from gsotriage.parse import parse_text
from gsotriage.parse.crash_struct import flatten, parse_value, to_int
from gsotriage.parse.frames import match_frame, match_pc_line
from gsotriage.parse.kernel_info import match_banner, match_cpu_line
from gsotriage.parse.normalize import normalize_line
from gsotriage.parse.registers import match_registers
from gsotriage.parse.taint import decode_taint, taint_names
from tests.conftest import CASES, SEED


def test_normalize_prefixes() -> None:
    cases = {
        "[  123.456789] BUG: x": ("BUG: x", {"timestamps"}),
        "[  123.456789][ T1402] BUG: x": ("BUG: x", {"timestamps", "caller-id"}),
        "Nov 26 01:02:03 host kernel: BUG: x": ("BUG: x", {"syslog"}),
        "2025-11-26T01:02:03.123456+0000 host kernel: BUG: x": ("BUG: x", {"syslog"}),
        "<4>[    1.5] BUG: x": ("BUG: x", {"printk-level", "timestamps"}),
        ">> > [ 1.0] BUG: x   ": ("BUG: x", {"quoted", "timestamps"}),
        "   #8 [ff3c] tcp_gso_segment at ffffffffaa1219c5   ": ("#8 [ff3c] tcp_gso_segment at ffffffffaa1219c5", set()),
    }
    for raw, (text, tags) in cases.items():
        assert normalize_line(raw) == (text, frozenset(tags)), raw


def test_cpu_line_shapes() -> None:
    c = match_cpu_line(
        "CPU: 0 PID: 7 Comm: kworker/0:0 Tainted: G           OE      6.1.0-56-cloud-amd64 #1  Debian 6.1.192-2"
    )
    assert c is not None
    assert (c.cpu, c.pid, c.comm, c.taint, c.release, c.version) == (
        0,
        7,
        "kworker/0:0",
        "G           OE",
        "6.1.0-56-cloud-amd64",
        "#1 Debian 6.1.192-2",
    )
    r = match_cpu_line(
        "CPU: 7 PID: 0 Comm: swapper/7 Kdump: loaded Tainted: G        W  --------- -  - "
        "4.18.0-553.47.1.el8_10.x86_64 #1"
    )
    assert r is not None and r.release == "4.18.0-553.47.1.el8_10.x86_64" and r.taint == "G        W"
    u = match_cpu_line("CPU: 0 UID: 0 PID: 1 Comm: swapper/0 Not tainted 6.12.0 #1")
    assert u is not None and u.taint == "Not tainted" and decode_taint(u.taint) == ()


def test_taint_decoding() -> None:
    assert decode_taint("G           OE") == ("O", "E")
    assert decode_taint("P        W  O") == ("P", "W", "O")
    assert decode_taint("[W]=WARN, [O]=OOT_MODULE") == ("W", "O")
    assert taint_names(("O", "E", "D")) == ("OOT_MODULE", "UNSIGNED_MODULE", "DIE")


def test_distro_versions() -> None:
    assert distro_version("6.1.0-56-cloud-amd64", "#1 Debian 6.1.192-2") == "Debian 6.1.192-2"
    assert distro_version("5.15.0-91-generic", "#101-Ubuntu SMP") == "Ubuntu 5.15.0-91.101"
    assert distro_version("4.18.0-553.47.1.el8_10.x86_64", "#1 SMP") == "RHEL 4.18.0-553.47.1.el8_10"
    banner = match_banner(
        "Linux version 5.15.0-91-generic (buildd@lcy02) (gcc 11.4.0) #101-Ubuntu SMP Tue Nov 14 13:30:08 UTC 2023"
        " (Ubuntu 5.15.0-91.101-generic 5.15.131)"
    )
    assert banner == (
        "5.15.0-91-generic",
        "#101-Ubuntu SMP Tue Nov 14 13:30:08 UTC 2023",
        "Ubuntu 5.15.0-91.101-generic 5.15.131",
    )


def test_frame_shapes() -> None:
    f = match_frame("? wait_for_lsr+0x4a/0x90", StackContext.TASK)
    assert f is not None and f.questionable and f.offset == 0x4A and f.size == 0x90
    f = match_frame("gc_segment_bad_gso+0x8f/0xe5 [gsocrash]", StackContext.IRQ)
    assert f is not None and f.module == "gsocrash" and f.context is StackContext.IRQ
    f = match_frame("[<ffffffff81745e8d>] ? ip_rcv_finish+0x12d/0x3d0", StackContext.TASK)
    assert f is not None and f.questionable and f.address == 0xFFFFFFFF81745E8D
    f = match_frame("skb_segment+0x24c/0xf40 net/core/skbuff.c:4315", StackContext.TASK)
    assert f is not None and f.source == "net/core/skbuff.c:4315"
    f = match_frame("skb_segment (include/linux/skbuff.h:123 net/core/skbuff.c:456)", StackContext.TASK)
    assert f is not None and f.source == "net/core/skbuff.c:456" and f.offset is None
    f = match_frame("__skb_frag_ref include/linux/skbuff.h:3400 [inline]", StackContext.TASK)
    assert f is not None and f.inline
    assert match_frame("the skb_segment+0x24c/0xf40 function crashed", StackContext.TASK) is None


def test_pc_lines() -> None:
    pc = match_pc_line("RIP: 0010:[<ffffffff8155a2b2>]  [<ffffffff8155a2b2>] skb_segment+0x24c/0xf40")
    assert pc is not None and (pc.function, pc.offset, pc.size) == ("skb_segment", 0x24C, 0xF40)
    pc = match_pc_line("RIP: 0010:gc_bad+0x8f/0xe5 [gsocrash]")
    assert pc is not None and pc.module == "gsocrash"
    pc = match_pc_line("pc : skb_segment+0x2c0/0x8f0")
    assert pc is not None and pc.arch == "arm64"
    assert match_pc_line("RIP: 0033:0x7f3c1b2e3a7e") is None


def test_register_lines() -> None:
    assert match_registers("RSP: 0018:ffffd3c140043bc0 EFLAGS: 00000246") == {
        "RSP": 0xFFFFD3C140043BC0,
        "EFLAGS": 0x246,
    }
    assert match_registers("RBP: ffffd3c140043c90   R8: 0000000000000036   R9: 0000000000000544") == {
        "RBP": 0xFFFFD3C140043C90,
        "R8": 0x36,
        "R9": 0x544,
    }
    assert match_registers("FS:  0000000000000000(0000) GS:ffff8cd4df400000(0000) knlGS:0000000000000000") == {
        "FS": 0,
        "GS": 0xFFFF8CD4DF400000,
        "KNLGS": 0,
    }
    assert match_registers("RIP: 0010:skb_segment+0x24c/0xf40") is None
    assert match_registers("Random: text here") is None


def test_struct_parser_tolerates_comments_and_nesting() -> None:
    block = parse_value(
        [
            "struct skb_shared_info {",
            "  gso_size = 1348,",
            "  frag_list = 0x0,",
            "  gso_type = 1027,  // SKB_GSO_DODGY | SKB_GSO_TCPV4",
            "  nr_frags = 0 '\\000',",
            "  dataref = { counter = 1 },",
            '  cb = "{not a brace}",',
            "}",
        ]
    )
    fields = flatten(block)
    assert to_int(fields["gso_size"]) == 1348
    assert to_int(fields["frag_list"]) == 0
    assert to_int(fields["nr_frags"]) == 0
    assert fields["dataref"] == [("counter", "1")]


def test_seed_crash_bt() -> None:

    text = SEED.read_text()
    r = parse_text(text)
    assert r.source.kind == "crash"
    assert r.panic.kind is None
    assert (r.panic.function, r.panic.offset) == ("skb_segment", 558)  # decimal, as crash prints it
    assert (r.panic.cpu, r.panic.pid, r.panic.comm) == (7, 0, "swapper/7")
    assert r.registers["RAX"] == 0 and r.registers["RBX"] == 0 and r.registers["RIP"] == 0xFFFFFFFFAA037F7E
    assert r.frames[0].function == "tcp_gso_segment" and r.frames[0].context is StackContext.IRQ
    assert r.frames[18].function == "receive_buf" and r.frames[18].module == "virtio_net"
    assert r.frames[26].function == "ret_from_intr" and r.frames[26].context is StackContext.TASK
    assert "native_safe_halt" not in [f.function for f in r.frames]
    # The paste starts at the exception RIP: the stack from the crash site down is whole.
    assert r.frames_complete is True
    assert "frames #0-#7 not shown (the panic machinery above the exception RIP)" in r.notes
    (skb,) = r.skbs
    assert skb.origin == "reporter's struct summary"
    si = skb.shinfo
    assert (si.gso_size, si.gso_segs, si.gso_type, si.frag_list, si.nr_frags, si.dataref) == (1348, 0, 1027, 0, 0, 1)
    assert si.gso_type_flags == ("TCPV4", "DODGY", "UDP_TUNNEL")
    assert skb.len is None and skb.shinfo.frags is None  # never invented


def test_warn_then_panic_on_warn_is_warn_panic() -> None:
    text = (
        "WARNING: CPU: 0 PID: 1 at net/core/dev.c:3215 skb_warn_bad_offload+0x8d/0x100\n"
        "CPU: 0 PID: 1 Comm: swapper/0 Not tainted 6.1.0 #1\n"
        "Kernel panic - not syncing: kernel: panic_on_warn set ...\n"
    )
    r = parse_text(text)
    assert r.panic.kind is PanicKind.WARN_PANIC
    assert (r.panic.bug_file, r.panic.bug_line) == ("net/core/dev.c", 3215)


def test_old_sysrq_oops_is_sysrq() -> None:
    text = (
        "SysRq : Trigger a crash\n"
        "BUG: unable to handle kernel NULL pointer dereference at (null)\n"
        "IP: [<ffffffff8141a4f6>] sysrq_handle_crash+0x16/0x20\n"
        "Oops: 0002 [#1] SMP\n"
    )
    r = parse_text(text)
    assert r.panic.kind is PanicKind.SYSRQ
    assert r.panic.fault_address == 0
    assert r.panic.function == "sysrq_handle_crash"


def test_headless_oops_keeps_rip() -> None:
    r = parse_text("RIP: 0010:skb_segment+0x24c/0xf40\nRAX: 0000000000000000 RBX: 0000000000000001\n")
    # A crash whose headline is not shown: its kind is unknown, not absent.
    assert r.panic.kind is PanicKind.OTHER and r.panic.function == "skb_segment"
    assert any("headline not shown" in n for n in r.notes)


def test_crash_bt_with_a_gap_or_without_the_exception_line_is_incomplete():
    head = 'PID: 0  TASK: ff16ba3686914000  CPU: 7   COMMAND: "swapper/7"\n'
    exc = "    [exception RIP: skb_segment+558]\n"
    f8 = " #8 [ff3ca05846b447e0] tcp_gso_segment at ffffffffaa1219c5\n"
    f9 = " #9 [ff3ca05846b44830] inet_gso_segment at ffffffffaa136f4b\n"
    f11 = "#11 [ff3ca05846b448a8] skb_udp_tunnel_segment at ffffffffaa12bbae\n"
    assert parse_text(head + exc + f8 + f9).frames_complete is True
    assert parse_text(head + exc + f8 + f9 + f11).frames_complete is False
    assert parse_text(head + f8 + f9).frames_complete is False


def test_crash_bt_without_headline_takes_the_kind_from_the_trap_handler():
    bt = (
        'PID: 45       TASK: ff1c14a5028ca0c0  CPU: 0    COMMAND: "kworker/0:2"\n'
        " #0 [ff788e9e0056b8d8] panic at ffffffffba1cd21a\n"
        " #1 [ff788e9e0056b958] oops_end.cold at ffffffffba1c7c63\n"
        " #2 [ff788e9e0056b978] page_fault_oops at ffffffffb987b4d9\n"
        " #3 [ff788e9e0056b9f8] exc_page_fault at ffffffffba206ef0\n"
        " #4 [ff788e9e0056ba20] asm_exc_page_fault at ffffffffba400c02\n"
        "    [exception RIP: skb_segment+2025]\n"
        " #5 [ff788e9e0056bbb0] tcp_gso_segment at ffffffffba082ace\n"
    )
    r = parse_text(bt)
    assert r.panic.kind is PanicKind.PAGING_FAULT and r.panic.function == "skb_segment"
    assert any("trap handler" in n for n in r.notes)
    invalid_op = bt.replace("page_fault_oops", "do_error_trap").replace("exc_page_fault", "exc_invalid_op")
    assert parse_text(invalid_op).panic.kind is PanicKind.BUG


def test_frames_quoted_without_a_call_trace_header_are_read():
    text = (
        "WARNING: CPU: 1 PID: 3539 at net/core/dev.c:3284 skb_checksum_help+0x3d0/0x5b0\n"
        " ip_do_fragment+0x209/0x1b20 net/ipv4/ip_output.c:774\n"
        " ip_finish_output_gso net/ipv4/ip_output.c:279 [inline]\n"
        " __ip_finish_output+0x2bd/0x4b0 net/ipv4/ip_output.c:301\n"
    )
    r = parse_text(text)
    assert [f.function for f in r.frames] == ["ip_do_fragment", "ip_finish_output_gso", "__ip_finish_output"]
    assert r.frames[1].inline and any("Call Trace" in n for n in r.notes)


def test_a_wrapped_headline_is_not_taken_for_a_trace_when_the_real_one_follows():
    text = (
        "[ 4443.426222] refcount_t: underflow; use-after-free.\n"
        "[ 4443.426291] WARNING: CPU: 7 PID: 28161 at lib/refcount.c:190\n"
        "refcount_dec_and_test_checked+0xa4/0xc8\n"
        "[ 4443.426737] lr : refcount_dec_and_test_checked+0xa0/0xc8\n"
        "[ 4443.426808] Call trace:\n"
        "[ 4443.426813]  refcount_dec_and_test_checked+0xa4/0xc8\n"
        "[ 4443.426823]  skb_release_data+0x144/0x264\n"
        "[ 4443.426828]  kfree_skb+0x58/0xc4\n"
    )
    r = parse_text(text)
    assert [f.function for f in r.frames] == ["refcount_dec_and_test_checked", "skb_release_data", "kfree_skb"]
    assert not any("Call Trace" in n for n in r.notes)


def test_normalize_keeps_caller_and_stamp_apart() -> None:
    from gsotriage.parse.normalize import normalize

    n = normalize(
        "[  118.470848] [C201134] dpmaif_rxq0_pus: [name:mrdump&]pc : [0xffffffd79598aefc] skb_segment+0xcd0/0xd14"
    )
    assert n.text == "pc : [0xffffffd79598aefc] skb_segment+0xcd0/0xd14"
    assert (n.caller, n.stamp) == ("C201134", "118.470848")
    assert normalize("[ 1100.812317][    C3]  __udp_gso_segment+0x298/0x4d4").caller == "C3"
    n = normalize(
        "Tue Feb  1 19:02:25 2022 kern.warn kernel: [11134.342200] WARNING: CPU: 1 PID: 1096 at x.c:1 f+0x1/0x2"
    )
    assert n.text.startswith("WARNING: CPU: 1") and "logread" in n.tags
    assert normalize(
        "Aug 25 16:00:39 192.168.2.9 OpenWrt kernel: [  261.35] epc   : 80108aac f+0x1/0x2"
    ).text.startswith("epc")


def test_split_merged_cuts_at_an_inner_printk_stamp() -> None:
    from gsotriage.parse.normalize import split_merged

    parts = split_merged("syzkaller login: [   59.806466][ T6792] BUG: KASAN: use-after-free in f+0x1/0x2")
    assert [p.text for p in parts] == ["syzkaller login:", "BUG: KASAN: use-after-free in f+0x1/0x2"]
    assert parts[1].caller == "T6792"
    assert [p.text for p in split_merged("[ 1.000000] plain line")] == ["plain line"]


def test_headlines_anywhere_and_suppressed() -> None:
    from gsotriage.parse.headlines import match_headline

    def name(line: str) -> object:
        hm = match_headline(line)
        return hm[0].name if hm else None

    assert name("rcu: INFO: rcu_preempt self-detected stall on CPU") == "rcu-stall"
    assert name("watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [a:1]") == "soft-lockup"
    assert name(
        "kasan: GPF could be caused by NULL-ptr deref or user memory accessgeneral protection fault: 0000 [#1]"
    ) == ("gpf")
    assert name("ODEBUG: Out of memory. ODEBUG disabled") is None
    assert name("INFO: lockdep is turned off.") is None
    assert name("traps: a.out[3615] general protection fault ip:7f sp:20 error:0 in a.out[7f+84000]") is None
    assert name("skbuff: skb_over_panic: text:ffffffff len:1") is None
    assert name("BUG: unable to handle kernel NULL pointer dereference at           (null)") == "null-deref-old"
    assert name("CPU 0 Unable to handle kernel paging request at virtual address 00000000, epc == 80000000") == (
        "arm64-paging"
    )


_KASAN_UAF = """\
==================================================================
BUG: KASAN: slab-use-after-free in skb_segment+0x1a4/0x2370
Read of size 8 at addr ffff888012345678 by task ksoftirqd/0/15

CPU: 0 PID: 15 Comm: ksoftirqd/0 Not tainted 6.8.0 #1
Call Trace:
 <TASK>
 dump_stack_lvl+0x4b/0x80
 print_report+0xcf/0x620
 kasan_report+0xb0/0xe0
 skb_segment+0x1a4/0x2370
 tcp_gso_segment+0x2f0/0x1090
 inet_gso_segment+0x3e1/0xd00
 skb_mac_gso_segment+0x1a8/0x3a0
 __skb_gso_segment+0x1b3/0x310
 validate_xmit_skb+0x40c/0xc70
 </TASK>

Allocated by task 812:
 kasan_save_stack+0x24/0x50
 __kasan_slab_alloc+0x5e/0x70
 kmem_cache_alloc_node+0x16c/0x3b0
 __alloc_skb+0x1e8/0x2c0
 tcp_stream_alloc_skb+0x34/0x4a0

Freed by task 15:
 kasan_save_stack+0x24/0x50
 kmem_cache_free+0xf4/0x3c0
 kfree_skb_reason+0x97/0x1e0
 tcp_v4_rcv+0x27a5/0x3c30

The buggy address belongs to the object at ffff888012345600
==================================================================
"""


def test_a_sanitizers_allocation_and_free_stacks_are_not_frames_of_the_crash() -> None:
    """KASAN prints where the object was allocated and freed after the crash's trace, KMSAN
    where an uninit value was created, KCSAN the other racing access: each its own stack.
    They were read as more frames of the crash (kfree_skb_reason 'called' skb_segment), so
    frame clauses could match calls the crash never made."""
    report = parse_text(_KASAN_UAF)
    names = [f.function for f in report.frames]
    assert names[-1] == "validate_xmit_skb" and "__alloc_skb" not in names and "kfree_skb_reason" not in names
    kmsan = parse_text((CASES / "cve" / "CVE-2024-26633.txt").read_text())
    assert not any(f.function.startswith(("slab_", "kmalloc_reserve")) for f in kmsan.frames)
    kcsan = parse_text((CASES / "cve" / "CVE-2025-38037.txt").read_text())
    assert [f.function for f in kcsan.frames].count("vxlan_xmit") == 1, "the second access's stack is not the first's"
