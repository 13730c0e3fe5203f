"""Per-build profiles: what later analyses of the same kernel build need, so they load no DWARF.

A profile lives in ``<dir>/<build-id>/`` (dirs from :mod:`.settings`):

* ``profile.json``: build-id, release, who wrote it (a DWARF or a BTF run), digests
  (BTF sha256 and size, the kallsyms count, the ORC table size and the dump's own
  ``struct orc_entry`` layout), the types of the global variables a DWARF run read;
* ``btf.bin``: the kernel's BTF blob (every struct offset and enum value of the
  build) and ``btf.idx``: where each BTF record starts (u32 LE), so a warm run
  neither reads the BTF from the dump nor scans it (a DWARF run writes the blob,
  the first run that reads it adds the index); ``profile.json``'s
  ``btf_memo`` keeps the type and enumerator lookups of earlier runs;
* ``kallsyms.bin``: the kernel's symbol table (:mod:`.ksymcache`), added by the
  first run that used the profile, so later runs read no kallsyms from the dump.

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
    kallsyms: Optional[bytes] = None  # ksymcache.pack_symbols() blob, digest checked


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
                prof.btf_data, prof.btf_offsets = data, _read_index(path, btf.get("types"))
            prof.kallsyms = _read_blob(path, "kallsyms.bin", meta.get("kallsyms"))
            return prof, None
        except (OSError, ValueError) as exc:
            problems.append(f"{path}: {exc}")
    return None, "; ".join(problems) or "no profile for this build"


def _read_index(path: str, types: Any) -> Optional[array]:
    """btf.idx when it is there and has ``types`` entries; None: the run scans the BTF (a DWARF
    run leaves the index to the first run that reads the BTF, see ``write_profile``)."""
    if not isinstance(types, int):
        return None
    offsets = array("I")
    try:
        with open(os.path.join(path, "btf.idx"), "rb") as f:
            offsets.frombytes(f.read())
    except (OSError, ValueError):
        return None
    return offsets if len(offsets) == types else None


def _read_blob(path: str, name: str, digest: Any) -> Optional[bytes]:
    """An optional file of the profile whose size and sha256 ``digest`` records; None when it is
    absent or does not match (the run then reads that part from the dump)."""
    if not isinstance(digest, dict):
        return None
    try:
        with open(os.path.join(path, name), "rb") as f:
            data = f.read()
    except OSError:
        return None
    if len(data) != digest.get("size") or hashlib.sha256(data).hexdigest() != digest.get("sha256"):
        return None
    return data


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
    kallsyms: Optional[bytes] = None,
) -> Tuple[Optional[str], Optional[str]]:
    """Write (or complete) the profile in the first writable dir; returns (path, None) or (None, why).

    ``btf_offsets`` may come later than ``btf_data``: a DWARF run stores the BTF blob without
    scanning it (that scan is ~50 ms of a cold run's time), the first run that reads it
    scans it anyway and completes the profile with the index."""
    if not build_id or not _BUILD_ID.match(build_id):
        return None, "the dump has no build-id to key a profile"
    meta = dict(meta, format=FORMAT, build_id=build_id, written=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    if existing is not None:
        merged = dict(existing.meta)
        merged.update({k: v for k, v in meta.items() if v})
        merged["globals"] = {**(existing.meta.get("globals") or {}), **(meta.get("globals") or {})}
        meta = merged
    if btf_data is not None:
        meta["btf"] = {"size": len(btf_data), "sha256": hashlib.sha256(btf_data).hexdigest()}
    if btf_offsets is not None and meta.get("btf"):
        meta["btf"] = dict(meta["btf"], types=len(btf_offsets))
    if kallsyms is not None:
        meta["kallsyms"] = {"size": len(kallsyms), "sha256": hashlib.sha256(kallsyms).hexdigest()}
    why = []
    for base in dirs:
        path = _dir_for(base, build_id)
        try:
            os.makedirs(path, exist_ok=True)
            if btf_data is not None:
                _atomic_write(os.path.join(path, "btf.bin"), bytes(btf_data))
            if btf_offsets is not None and meta.get("btf"):
                _atomic_write(os.path.join(path, "btf.idx"), btf_offsets.tobytes())
            if kallsyms is not None:
                _atomic_write(os.path.join(path, "kallsyms.bin"), kallsyms)
            _atomic_write(os.path.join(path, "profile.json"), json.dumps(meta, indent=1, sort_keys=True).encode())
            return path, None
        except OSError as exc:
            why.append(f"{base}: {exc.strerror or exc}")
    return None, "; ".join(why) or "no profile directory configured"
