"""The guilty function: syzkaller's stack parts and skip lists over a report's lines."""

from __future__ import annotations

from gsotriage.parse import parse_text
from gsotriage.parse.guilty import (
    CALL_TRACE,
    PARSE,
    StackRule,
    compile_part,
    extract_guilty,
    guilty_from_frames,
    strip_frame,
    warning_rule,
)

# A 6.x refcount WARN: the RIP is the helper, the guilty is its caller.
REFCOUNT = """refcount_t: underflow; use-after-free.
WARNING: CPU: 1 PID: 9 at lib/refcount.c:28 refcount_warn_saturate+0xba/0x110
RIP: 0010:refcount_warn_saturate+0xba/0x110
Call Trace:
 <TASK>
 ? __warn+0x81/0x130
 skb_release_data+0x1c4/0x200
 kfree_skb_reason+0x4b/0x130
 packet_set_ring+0x5f0/0x820
 </TASK>
""".splitlines()


def test_warning_blames_the_caller_of_refcount_helpers() -> None:
    assert extract_guilty(REFCOUNT, warning_rule("refcount", "kobject_")) == "skb_release_data"
    # A WARN in a function that is not generic machinery blames that function.
    offload = [
        "WARNING: CPU: 0 PID: 1 at net/core/dev.c:3215 skb_warn_bad_offload+0x8d/0x100",
        "RIP: 0010:skb_warn_bad_offload+0x8d/0x100",
        "Call Trace:",
        " __skb_gso_segment+0x12f/0x170",
    ]
    assert extract_guilty(offload, warning_rule()) == "skb_warn_bad_offload"


def test_kasan_in_memcpy_blames_its_caller() -> None:
    lines = [
        "BUG: KASAN: slab-out-of-bounds in memcpy+0x20/0x60",
        "Read of size 8 at addr ffff888012345678 by task a/1",
        "Call Trace:",
        " dump_stack+0x5c/0x80",
        " kasan_report+0x10/0x20",
        " memcpy+0x20/0x60",
        " skb_copy_bits+0x130/0x360",
        " skb_segment+0x66a/0x1110",
    ]
    rule = StackRule(parts=(compile_part("BUG: KASAN: (?:[a-z\\-]+) in {{FUNC}}"), CALL_TRACE, PARSE))
    assert extract_guilty(lines, rule) == "skb_copy_bits"


def test_stall_blames_the_frame_above_the_dispatch_point() -> None:
    rule = StackRule(parts=(CALL_TRACE, PARSE), extractor="stall")
    lines = ["Call Trace:", " d_walk+0x1/0x2", " shrink_dcache_parent+0x1/0x2", " vfs_rmdir+0x1/0x2",
             " do_rmdir+0x1/0x2", " __x64_sys_rmdir+0x1/0x2", " do_syscall_64+0x1/0x2"]  # fmt: skip
    assert extract_guilty(lines, rule) == "__x64_sys_rmdir"
    cross_cpu = ["Call Trace:", " smp_call_function_single+0x1/0x2", " smp_call_function_many+0x1/0x2",
                 " on_each_cpu+0x1/0x2", " kthread+0x1/0x2"]  # fmt: skip
    assert extract_guilty(cross_cpu, rule) == "smp_call_function"


def test_hung_task_groups_rcu_waits() -> None:
    rule = StackRule(parts=(CALL_TRACE, PARSE), extractor="hang")
    lines = ["Call Trace:", " __schedule+0x1/0x2", " schedule+0x1/0x2", " synchronize_rcu_expedited+0x1/0x2",
             " packet_release+0x1/0x2"]  # fmt: skip
    assert extract_guilty(lines, rule) == "synchronize_rcu"
    plain = ["Call Trace:", " __schedule+0x1/0x2", " schedule+0x1/0x2", " io_schedule+0x1/0x2",
             " __wait_on_buffer+0x1/0x2", " jbd2_journal_commit_transaction+0x1/0x2"]  # fmt: skip
    assert extract_guilty(plain, rule) == "jbd2_journal_commit_transaction"


def test_a_function_the_report_names_itself_is_not_skipped() -> None:
    lines = ["[ INFO: possible circular locking dependency detected ]", "kacpi_hotplug/246 is trying to acquire lock:",
             " (kacpid){+.+.+.}, at: [<ffffffff8105bbd0>] flush_workqueue+0x0/0xb0"]  # fmt: skip
    report = parse_text("\n".join(lines) + "\n")
    assert report.panic.guilty == "flush_workqueue"  # generic, but the report's own words


def test_guilty_from_frames_skips_machinery() -> None:
    assert guilty_from_frames("memset", ["memset", "__kmalloc", "tcp_send_ack"]) == "tcp_send_ack"
    assert guilty_from_frames(None, []) is None
    assert strip_frame("__x64_sys_rmdir") == "sys_rmdir" and strip_frame("__do_sys_bpf") == "bpf"
