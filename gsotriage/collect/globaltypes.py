"""C types of the kernel global variables the collector and drgn's helpers read.

vmlinux BTF describes every type but, as pahole emits it by default, only the
per-CPU variables (``BTF_KIND_VAR`` in the ``.data..percpu`` section): a global such
as ``init_net`` has an address (kallsyms) and no type. This table supplies the
types, spelled in C and parsed by drgn against the dump's own BTF, so every
layout still comes from the kernel itself. ``{NAME}`` is replaced by the value of
the enum constant NAME from the same BTF (array bounds that depend on the build).

A per-build profile written by a run with DWARF records the exact types of the
globals that run used; those take precedence over this table.
"""

from __future__ import annotations

import re
from typing import Callable, Dict, Optional, Tuple

__all__ = ["DERIVED", "GLOBAL_TYPES", "global_type_spelling"]

GLOBAL_TYPES: Dict[str, str] = {
    # identity, panic state (collect/kernel.py, collect/stack.py)
    "init_uts_ns": "struct uts_namespace",
    "tainted_mask": "unsigned long",
    "panic_cpu": "atomic_t",
    "crashing_cpu": "int",
    "init_task": "struct task_struct",
    "init_pid_ns": "struct pid_namespace",
    "init_thread_union": "union thread_union",
    # CPUs and memory (drgn's cpumask, percpu, mm and slab helpers)
    "nr_cpu_ids": "unsigned int",
    "nr_node_ids": "unsigned int",
    "__per_cpu_offset": "unsigned long [{NR_CPUS}]",
    "__cpu_online_mask": "struct cpumask",
    "__cpu_possible_mask": "struct cpumask",
    "__cpu_present_mask": "struct cpumask",
    "__cpu_active_mask": "struct cpumask",
    "max_pfn": "unsigned long",
    "min_low_pfn": "unsigned long",
    "max_low_pfn": "unsigned long",
    "high_memory": "void *",
    "mem_section": "struct mem_section **",
    # drgn's for_each_valid_page_range(); without it drgn walks all NR_MEM_SECTIONS roots (c4e1be9ec113, v4.13)
    "__highest_present_section_nr": "unsigned long",
    "page_offset_base": "unsigned long",
    "vmemmap_base": "unsigned long",
    "vmalloc_base": "unsigned long",
    "slab_caches": "struct list_head",
    # the sk_buff slab caches (collect/partners.py): globals before aa70d2d16f28 (v6.9), net_hotdata since
    "skbuff_head_cache": "struct kmem_cache *",
    "skbuff_cache": "struct kmem_cache *",
    "skbuff_fclone_cache": "struct kmem_cache *",
    "net_hotdata": "struct net_hotdata",
    "jiffies": "volatile unsigned long",
    # the kernel log (drgn's printk helpers)
    "prb": "struct printk_ringbuffer *",
    # network context (collect/netctx.py, drgn's net helpers)
    "init_net": "struct net",
    "net_namespace_list": "struct list_head",
    "netdev_features_strings": "const char [{NETDEV_FEATURE_COUNT}][32]",  # ETH_GSTRING_LEN
    "prog_idr": "struct idr",
    # modules (drgn's module helpers)
    "modules": "struct list_head",
}

# Macros that are values of another global: name -> (C type, the global holding the value).
# x86_64: ``#define vmemmap ((struct page *)VMEMMAP_START)`` with VMEMMAP_START = vmemmap_base
# (arch/x86/include/asm/pgtable_64.h, pgtable_64_types.h); drgn's mm helpers read ``vmemmap``.
DERIVED: Dict[str, Tuple[str, str]] = {
    "vmemmap": ("struct page *", "vmemmap_base"),
}

_PLACEHOLDER = re.compile(r"\{([A-Z0-9_]+)\}")
# Constants that are macros, not enumerators; NR_CPUS only bounds an array we index below nr_cpu_ids.
_MACRO_FALLBACKS = {"NR_CPUS": 8192}


def global_type_spelling(name: str, constant: Callable[[str], Optional[int]]) -> Optional[str]:
    """The C spelling of global ``name``'s type with placeholders resolved, or None when unknown."""
    spelling = GLOBAL_TYPES.get(name)
    if spelling is None:
        return None

    def resolve(m: re.Match[str]) -> str:
        value = constant(m.group(1))
        if value is None:
            value = _MACRO_FALLBACKS.get(m.group(1))
        if value is None:
            raise LookupError(f"{m.group(1)} is not in the dump's BTF")
        return str(value)

    try:
        return _PLACEHOLDER.sub(resolve, spelling)
    except LookupError:
        return None
