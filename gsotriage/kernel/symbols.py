"""Kernel symbol names as the toolchain mangles them.

GCC and clang emit clones of a function under suffixed names: ``.cold`` (the
unlikely part split out), ``.isra.0`` / ``.constprop.0`` / ``.part.0``
(interprocedural optimisations), ``.llvm.123`` (ThinLTO promotion). A console
log, a vmcore and a different build of the same kernel name the same function
differently; everything that compares function names goes through
:func:`base_name`.
"""

from __future__ import annotations

__all__ = ["base_name"]


def base_name(function: str) -> str:
    """``skb_segment.cold`` / ``foo.isra.0`` / ``bar.constprop.0`` -> the function's own name.

    A C identifier never contains a dot, so everything from the first dot on is
    a compiler suffix.
    """
    return function.split(".", 1)[0]
