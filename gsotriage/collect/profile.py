"""Per-build profiles: what later analyses of the same kernel build need, so they load no DWARF.

A profile lives in ``<dir>/<build-id>/`` (dirs from :mod:`.settings`):

* ``profile.json``: build-id, release, who wrote it (a DWARF or a BTF run), digests
  (BTF sha256 and size, the kallsyms count, the ORC table size and the dump's own
  ``struct orc_entry`` layout), the types of the global variables a DWARF run read;
* ``btf.bin``: the kernel's BTF blob (every struct offset and enum value of the
  build) and ``btf.idx``: where each BTF record starts (u32 LE), so a warm run
  neither reads the BTF from the dump nor scans it.

Profiles are keyed by the GNU build-id from the dump's VMCOREINFO, so one written
on a machine is valid for every dump of that build; directories may be shared
read-only (a profile that cannot be written is a note, never an error). A profile
whose BTF digest does not match its blob is ignored.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from array import array
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Sequence, Tuple

__all__ = ["FORMAT", "Profile", "find_profile", "profile_exists", "write_profile"]

FORMAT = 1
_BUILD_ID = re.compile(r"^[0-9a-f]{8,128}$")


@dataclass
class Profile:
    """A loaded profile."""

    path: str
    meta: Dict[str, Any]
    btf_data: Optional[bytes] = None
    btf_offsets: Optional[array] = None
    globals: Dict[str, str] = field(default_factory=dict)


def _dir_for(base: str, build_id: str) -> str:
    return os.path.join(base, build_id)


def profile_exists(dirs: Sequence[str], build_id: Optional[str]) -> bool:
    """Whether ``dirs`` hold a profile for ``build_id``, without loading it (a fleet worker asks
    this per dump to count the builds it had to load DWARF for)."""
    if not build_id or not _BUILD_ID.match(build_id):
        return False
    return any(os.path.isfile(os.path.join(_dir_for(base, build_id), "profile.json")) for base in dirs)


def find_profile(dirs: Sequence[str], build_id: Optional[str]) -> Tuple[Optional[Profile], Optional[str]]:
    """The first valid profile for ``build_id`` in ``dirs``; (None, why) when there is none usable."""
    if not build_id or not _BUILD_ID.match(build_id):
        return None, "the dump has no build-id to key a profile"
    problems = []
    for base in dirs:
        path = _dir_for(base, build_id)
        meta_path = os.path.join(path, "profile.json")
        if not os.path.isfile(meta_path):
            continue
        try:
            with open(meta_path, encoding="utf-8") as f:
                meta = json.load(f)
            if meta.get("format") != FORMAT or meta.get("build_id") != build_id:
                problems.append(f"{path}: other format or build")
                continue
            prof = Profile(path=path, meta=meta, globals=dict(meta.get("globals") or {}))
            btf = meta.get("btf") or {}
            if btf:
                with open(os.path.join(path, "btf.bin"), "rb") as f:
                    data = f.read()
                if len(data) != btf.get("size") or hashlib.sha256(data).hexdigest() != btf.get("sha256"):
                    problems.append(f"{path}: btf.bin does not match its digest")
                    continue
                offsets = array("I")
                with open(os.path.join(path, "btf.idx"), "rb") as f:
                    offsets.frombytes(f.read())
                if len(offsets) != btf.get("types"):
                    problems.append(f"{path}: btf.idx does not match")
                    continue
                prof.btf_data, prof.btf_offsets = data, offsets
            return prof, None
        except (OSError, ValueError) as exc:
            problems.append(f"{path}: {exc}")
    return None, "; ".join(problems) or "no profile for this build"


def _atomic_write(path: str, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_profile(
    dirs: Sequence[str],
    build_id: Optional[str],
    meta: Dict[str, Any],
    btf_data: Optional[bytes],
    btf_offsets: Optional[array],
    existing: Optional[Profile] = None,
) -> Tuple[Optional[str], Optional[str]]:
    """Write (or complete) the profile in the first writable dir; returns (path, None) or (None, why)."""
    if not build_id or not _BUILD_ID.match(build_id):
        return None, "the dump has no build-id to key a profile"
    meta = dict(meta, format=FORMAT, build_id=build_id, written=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    if existing is not None:
        merged = dict(existing.meta)
        merged.update({k: v for k, v in meta.items() if v})
        merged["globals"] = {**(existing.meta.get("globals") or {}), **(meta.get("globals") or {})}
        meta = merged
    if btf_data is not None and btf_offsets is not None:
        meta["btf"] = {
            "size": len(btf_data),
            "sha256": hashlib.sha256(btf_data).hexdigest(),
            "types": len(btf_offsets),
        }
    why = []
    for base in dirs:
        path = _dir_for(base, build_id)
        try:
            os.makedirs(path, exist_ok=True)
            if btf_data is not None and btf_offsets is not None:
                _atomic_write(os.path.join(path, "btf.bin"), bytes(btf_data))
                _atomic_write(os.path.join(path, "btf.idx"), btf_offsets.tobytes())
            _atomic_write(os.path.join(path, "profile.json"), json.dumps(meta, indent=1, sort_keys=True).encode())
            return path, None
        except OSError as exc:
            why.append(f"{base}: {exc.strerror or exc}")
    return None, "; ".join(why) or "no profile directory configured"
