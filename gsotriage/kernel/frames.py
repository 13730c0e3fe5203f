"""What the frames of a kernel stack trace are: report machinery, generic helpers, plumbing.

Data tables, derived from the frame frequencies over the kernel CNA's ~3,200
records with a parseable trace (``bench/cve_import_bench.py --frames`` prints
them): report machinery (KASAN/UBSAN printing, the exception entry), generic
helpers a crash site often sits in (``memcpy``, ``skb_push`` -> ``skb_panic``),
and the networking plumbing nearly every network crash runs through
(``__dev_queue_xmit``, ``netif_receive_skb``, ``ip_output``, NAPI and softirq).

The crash *site* is the first frame that is neither machinery nor a generic
helper: ``skb_under_panic`` in ``skb_push`` called by ``nsh_gso_segment`` crashed
at ``nsh_gso_segment``. The ``crash_site`` clause and the CVE importer both use
:func:`site_index`; a mined signature's required clauses never name plumbing.
"""

from __future__ import annotations

import re
from typing import Any, List, Optional, Sequence

from gsotriage.kernel.symbols import base_name
from gsotriage.model import NOT_CALLS, CrashReport

__all__ = [
    "DISPATCH",
    "HELPER",
    "MACHINERY",
    "NEAR_ONLY",
    "ORIGIN",
    "PLUMBING",
    "is_distinctive",
    "is_origin",
    "report_stack",
    "site_index",
]

# The report itself: dump_stack, KASAN/UBSAN/KMSAN printing, BUG/WARN traps, page-fault entry.
MACHINERY = re.compile(
    r"^(?:dump_stack\w*|__dump_stack|show_stack|show_regs|show_trace_log_lvl|dump_backtrace|print_report\w*"
    r"|print_address_description\w*|kasan_\w+|__kasan_\w+|__asan_\w+|kasan|check_memory_region\w*|kmsan_\w+|__msan_\w+"
    r"|ubsan_\w+|__ubsan_\w+|handle_overflow|__warn|warn_slowpath\w*|__warn_printk|report_bug|handle_bug|exc_invalid_op"
    r"|asm_exc_\w+|exc_\w+|do_trap|do_error_trap|do_invalid_op|die|die_addr|__die|__die_body|oops_end|page_fault_oops"
    r"|no_context|__bad_area\w*|bad_area\w*|do_user_addr_fault|do_kern_addr_fault|do_page_fault|do_general_protection"
    r"|panic|vpanic|nmi_panic|machine_kexec|__crash_kexec|crash_kexec|kmemleak_\w+|check_preemption_disabled"
    r"|debug_smp_processor_id|lockdep_\w+|__lock_acquire|lock_acquire|lock_release|__might_\w+|might_\w+"
    r"|srso_\w+|__pfx_\w+|__x86_return_thunk|el1_\w+|el1h_\w+|do_mem_abort|__do_kernel_fault|die_kernel_fault"
    r"|instrument_\w+|__sanitizer_\w+|rcu_read_lock\w*|rcu_read_unlock\w*|trace_hardirqs_\w+|string|vsnprintf)$"
)

# Generic helpers a crash site sits in on behalf of its caller.
HELPER = re.compile(
    r"^(?:skb_panic|skb_over_panic|skb_under_panic|skb_push|__skb_push|skb_put|__skb_put|skb_put_data|skb_put_zero"
    r"|skb_pull|__skb_pull|memcpy\w*|__memcpy\w*|memmove\w*|__memmove|memset\w*|__memset|memcmp|strlen|strscpy"
    r"|refcount_warn_saturate|__refcount_\w+|refcount_\w+|kfree|kfree_skb\w*|__kfree_skb|consume_skb|kmem_cache_\w+"
    r"|__kmalloc\w*|kmalloc\w*|kvfree|slab_\w+|__slab_free|___slab_alloc|skb_release_\w+|skb_free_head"
    r"|__list_add_valid\w*|__list_del_entry_valid\w*|list_del\w*|_raw_spin_\w+|queued_spin_lock_slowpath"
    r"|do_raw_spin_lock|_raw_read_lock\w*|_raw_write_lock\w*|mutex_lock\w*|__mutex_lock\w*|down_read|down_write"
    r"|csum_partial\w*|do_csum|csum_partial_copy\w*|ip_compute_csum|__skb_checksum|skb_checksum"
    r"|pskb_may_pull\w*|__pskb_pull_tail|skb_copy_bits|skb_header_pointer|__skb_header_pointer"
    r"|bpf_prog_\w+|bpf_dispatcher_\w+|__bpf_prog_run\w*|eth_type_trans|eth_header)$"
)

# The plumbing every network crash shares: sockets, syscalls, softirq/NAPI, qdisc,
# device xmit/receive, IP input/output, netfilter hooks, workqueues.
PLUMBING = re.compile(
    r"^(?:do_syscall_\w+|entry_SYSCALL\w*|\w*sys_\w+|__se_sys_\w+|__do_sys_\w+|x64_sys_call|invoke_syscall|el0\w*"
    r"|do_el0_svc|ret_from_fork\w*|kthread|worker_thread|process_one_work|process_scheduled_works|smpboot_thread_fn"
    r"|run_ksoftirqd|__do_softirq|handle_softirqs|do_softirq\w*|irq_exit\w*|__irq_exit_rcu|__local_bh_enable_ip"
    r"|local_bh_enable|net_rx_action|net_tx_action|__napi_poll|napi_poll|process_backlog|napi_threaded_poll"
    r"|sysvec_\w+|asm_sysvec_\w+|asm_common_interrupt|common_interrupt|call_timer_fn|__run_timers|run_timer_softirq"
    r"|expire_timers|__run_timer_base|tasklet_action\w*|cpu_startup_entry|do_idle|default_idle\w*|start_secondary"
    r"|sock_sendmsg\w*|__sock_sendmsg|____sys_sendmsg|___sys_sendmsg|__sys_sendmsg|__sys_sendto|sock_write_iter"
    r"|sock_recvmsg\w*|____sys_recvmsg|___sys_recvmsg|__sys_recvmsg|__sys_recvfrom|sock_read_iter|inet6?_sendmsg"
    r"|inet6?_recvmsg|vfs_write|vfs_read|new_sync_write|new_sync_read|ksys_write|ksys_read|call_write_iter"
    r"|do_iter_\w+|vfs_writev|do_writev|vfs_ioctl|sock_ioctl|sock_do_ioctl|task_work_run|exit_to_user_mode\w*"
    r"|syscall_exit_to_user_mode\w*|__dev_queue_xmit|dev_queue_xmit\w*|dev_hard_start_xmit|xmit_one"
    r"|netdev_start_xmit|__netdev_start_xmit|sch_direct_xmit|__dev_xmit_skb|__qdisc_run|qdisc_run\w*|qdisc_restart"
    r"|dev_qdisc_enqueue|__dev_direct_xmit|dev_direct_xmit|netif_receive_skb\w*|__netif_receive_skb\w*"
    r"|netif_rx\w*|__netif_rx|enqueue_to_backlog|napi_complete_done|gro_normal_list|gro_normal_one|napi_gro_flush"
    r"|__napi_gro_flush_chain|napi_skb_finish|ip_rcv|ip_rcv_finish\w*|ip_sublist_rcv\w*|ip_list_rcv\w*"
    r"|ip_local_deliver\w*|ip_protocol_deliver_rcu|ipv6_rcv|ip6_rcv_finish\w*|ipv6_list_rcv|ip6_sublist_rcv\w*"
    r"|ip6_input\w*|ip6_protocol_deliver_rcu|ip_output|ip_finish_output|__ip_finish_output|ip_finish_output2"
    r"|ip_local_out|__ip_local_out|ip_send_skb|ip_push_pending_frames|ip_queue_xmit|__ip_queue_xmit|ip6_output"
    r"|ip6_finish_output\w*|__ip6_finish_output|ip6_local_out|ip6_send_skb|ip6_xmit|ip6_push_pending_frames"
    r"|dst_output|dst_input|neigh_output|neigh_resolve_output|neigh_connected_output|neigh_hh_output|dev_hard_header"
    r"|NF_HOOK\w*|nf_hook\w*|nf_hook_slow|nf_hook_entry_hookfn|ip_forward\w*|ip6_forward\w*"
    r"|tcp_v[46]_rcv|tcp_v[46]_do_rcv|tcp_rcv_established|tcp_rcv_state_process|tcp_sendmsg\w*|tcp_write_xmit"
    r"|gro_cell_poll|gro_cells_receive|__softirqentry_text_start|__tcp_transmit_skb|tcp_transmit_skb|__tcp_push_pending_frames|tcp_push\w*|udp_sendmsg|udpv6_sendmsg"
    r"|udp_send_skb|udp_v6_send_skb|__udp4_lib_rcv|__udp6_lib_rcv|udp_unicast_rcv_skb|udp_rcv|udpv6_rcv"
    r"|raw_sendmsg|rawv6_sendmsg|release_sock|__release_sock|sk_backlog_rcv|lock_sock\w*"
    r"|packet_sendmsg|packet_xmit|__sock_release|sock_close|__fput|____fput"
    r"|bpf_test_run\w*|bpf_prog_test_run\w*|__sys_bpf|bpf_test_finish|rcu_core|rcu_do_batch)$"
)

# The GSO/GRO dispatch layer: shared by every GSO (or GRO) crash; it places a
# crash in GSO or GRO but does not tell two GSO classes apart.
DISPATCH = re.compile(
    r"^(?:skb_mac_gso_segment|__skb_gso_segment|skb_gso_segment|validate_xmit_skb\w*|inet_gso_segment"
    r"|ipv6_gso_segment|dev_gro_receive|napi_gro_receive\w*|napi_gro_frags|__napi_gro_receive|gro_receive_skb"
    r"|inet_gro_receive|ipv6_gro_receive|napi_gro_complete|gro_complete|inet_gro_complete|ipv6_gro_complete)$"
)


# Where test programs and syzkaller put packets in (AF_PACKET, tun/tap, vhost, BPF
# test runs) and generic protocol senders: they say how an skb got in, not which
# bug it hit. Supporting evidence only, never a required frame or scope evidence.
ORIGIN = re.compile(
    r"^(?:packet_snd|tpacket_snd|packet_direct_xmit|packet_sendmsg_spkt|tun_get_user|tun_chr_write_iter|tun_sendmsg"
    r"|tun_rx_batched|tap_get_user|tap_sendmsg|tap_write_iter|handle_tx\w*|vhost_\w+|bpf_test_run\w*"
    r"|bpf_prog_test_run\w*|mld_\w+|igmp\w*|ndisc_\w+|arp_\w+|icmp6?_\w+|icmpv6_\w+|__icmp_send|raw_\w+)$"
)

# GRO/xmit dispatch frames that every received or sent packet passes: they place a
# crash in GRO or in the xmit offload checks only when they sit right under it.
NEAR_ONLY = re.compile(
    r"^(?:dev_gro_receive|napi_gro_receive\w*|napi_gro_frags|__napi_gro_receive|gro_receive_skb|inet_gro_receive"
    r"|ipv6_gro_receive|napi_gro_complete|gro_complete|validate_xmit_skb\w*|netif_skb_features)$"
)


_LAST: List[Any] = [None, ()]  # (report, its stack): the crash_site clause of every signature asks


def report_stack(report: CrashReport) -> List[str]:
    """Function names from the crash site down (the exception function first),
    '?' frames, exception-context frames and report machinery dropped, clone
    suffixes removed, an immediate repeat of a name collapsed."""
    if _LAST[0] is report:
        return list(_LAST[1])
    out = _report_stack(report)
    _LAST[:] = [report, tuple(out)]
    return out


def _report_stack(report: CrashReport) -> List[str]:
    names: List[str] = []
    if report.panic.function:
        names.append(base_name(report.panic.function))
    for frame in report.frames:
        if frame.questionable or frame.context in NOT_CALLS:
            continue
        names.append(base_name(frame.function))
    out: List[str] = []
    for n in names:
        if MACHINERY.match(n):
            continue
        if out and out[-1] == n:
            continue
        out.append(n)
    return out


def site_index(stack: Sequence[str], *, plumbing: bool = False) -> Optional[int]:
    """Index of the crash site in ``stack`` (names from the top, machinery dropped as
    :func:`report_stack` does): the first frame that is not a generic helper
    (memcpy, skb_push -> skb_panic...). None when the top six frames are only
    helpers, or (unless ``plumbing``) when the site is a plumbing frame."""
    for i, name in enumerate(stack[:6]):
        name = base_name(name)
        if HELPER.match(name) or MACHINERY.match(name):
            continue
        return None if PLUMBING.match(name) and not plumbing else i
    return None


def is_distinctive(name: str) -> bool:
    """A frame that tells crash classes apart (not machinery, helper, plumbing or dispatch)."""
    return not (MACHINERY.match(name) or HELPER.match(name) or PLUMBING.match(name) or DISPATCH.match(name))


def is_origin(name: str) -> bool:
    return ORIGIN.match(name) is not None
