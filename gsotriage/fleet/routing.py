"""Where a submitted input goes: a fixed number of shard queues keyed by the kernel build.

The per-dump CPU is small; what is expensive is a build's data (its debug info, hundreds of
MB, or its profile), so every dump of one build goes to one shard queue, and the workers that
consume it keep that build warm. The shard is a stable hash (sha256, not Python's ``hash``)
of ``build:<BUILD-ID>``, or of ``release:<uname -r>`` for kernels before v5.9 whose VMCOREINFO
has no build-id. Text logs need no debug info and go to the general queue, as do inputs
whose build cannot be read (any worker can take them).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import List, Optional, Sequence

from gsotriage.analysis.detect import DUMP_KINDS, detect
from gsotriage.errors import InputError

from .buildid import BuildInfo, build_of_dump, release_of_log

__all__ = [
    "DEFAULT_SHARDS",
    "GENERAL_QUEUE",
    "Route",
    "all_queues",
    "parse_queues",
    "route_input",
    "shard_of",
    "shard_queue",
]

DEFAULT_SHARDS = 8
GENERAL_QUEUE = "gsotriage.general"
_SHARD_PREFIX = "gsotriage.shard."


def shard_queue(index: int) -> str:
    return f"{_SHARD_PREFIX}{index}"


def all_queues(shards: int) -> List[str]:
    return [GENERAL_QUEUE] + [shard_queue(i) for i in range(shards)]


def shard_of(key: str, shards: int) -> int:
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") % shards


def parse_queues(spec: Sequence[str], shards: int) -> List[str]:
    """``--queues general,0,3`` (or ``shard.3``, or full queue names) -> queue names; ValueError
    for a shard outside ``0..shards-1`` or an unknown name."""
    out: List[str] = []
    for item in (part.strip() for s in spec for part in s.split(",")):
        if not item:
            continue
        if item in ("general", GENERAL_QUEUE):
            name = GENERAL_QUEUE
        elif item == "all":
            out += [q for q in all_queues(shards) if q not in out]
            continue
        else:
            number = item[len(_SHARD_PREFIX) :] if item.startswith(_SHARD_PREFIX) else item.removeprefix("shard.")
            if not number.isdigit() or int(number) >= shards:
                raise ValueError(
                    f"unknown queue {item!r}: use 'general', 'all' or a shard number 0..{shards - 1} "
                    f"(--shards {shards})"
                )
            name = shard_queue(int(number))
        if name not in out:
            out.append(name)
    return out


@dataclass(frozen=True)
class Route:
    queue: str
    kind: str  # what detect() says: text | elf | kdump | kdump-flattened | crash-dir | ...
    build_id: Optional[str] = None
    release: Optional[str] = None

    @property
    def build(self) -> Optional[str]:
        """The build key the shard was chosen by (``build:...`` or ``release:...``), if any."""
        if self.build_id:
            return f"build:{self.build_id}"
        if self.release and self.queue != GENERAL_QUEUE:
            return f"release:{self.release}"
        return None


def route_input(path: str, shards: int) -> Route:
    """The queue of one input, from at most a few MiB of it; never raises (an unreadable input
    goes to the general queue, where a worker reports it as an input error)."""
    try:
        kind = detect(path)
    except InputError:
        return Route(GENERAL_QUEUE, "unreadable")
    info = BuildInfo(None, None, "none")
    if kind.kind in DUMP_KINDS:
        info = build_of_dump(path)
    elif kind.kind == "crash-dir" and kind.dump_kind is not None and kind.dump is not None:
        info = build_of_dump(kind.dump)
        if info.build_id is None and info.release is None and kind.dmesg:
            info = BuildInfo(None, release_of_log(kind.dmesg), "kernel log")
    elif kind.kind == "text" or (kind.kind == "crash-dir" and kind.dmesg):
        # No debug info needed: any worker. The release is only informative.
        release = release_of_log(kind.dmesg if kind.kind == "crash-dir" and kind.dmesg else path)
        return Route(GENERAL_QUEUE, kind.kind, None, release)
    if info.build_id:
        return Route(shard_queue(shard_of(f"build:{info.build_id}", shards)), kind.kind, info.build_id, info.release)
    if info.release:
        return Route(shard_queue(shard_of(f"release:{info.release}", shards)), kind.kind, None, info.release)
    return Route(GENERAL_QUEUE, kind.kind)
