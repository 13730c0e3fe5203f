"""Collector settings: environment variables over the config file over defaults.

Config file: ``$GSOTRIAGE_CONFIG``, else ``${XDG_CONFIG_HOME:-~/.config}/gsotriage/config.toml``::

    [debuginfo]
    debuginfod = false          # ask debuginfod when no local vmlinux matches (env GSOTRIAGE_DEBUGINFOD=1)
    no_debuginfo = false        # never load DWARF: kallsyms + BTF + ORC only (env GSOTRIAGE_NO_DEBUGINFO=1)
    standard_paths = true       # search /usr/lib/debug etc. (env GSOTRIAGE_NO_STANDARD_DEBUGINFO=1 turns off)
    from_dump = true            # without DWARF, use the dump's own kallsyms + BTF + ORC; false: kernel log
                                # only, as before (env GSOTRIAGE_FROM_DUMP=0)

    [profiles]
    enabled = true              # read and write per-build profiles (env GSOTRIAGE_PROFILES=0 turns off)
    dirs = ["~/.cache/gsotriage/profiles"]  # searched in order; new profiles go to the first
                                # writable one (env GSOTRIAGE_PROFILE_DIR, ':'-separated)

An unreadable or malformed config file is ignored with a note, never fatal.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

__all__ = ["Settings", "config_path", "load_settings"]

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def config_path() -> str:
    explicit = os.environ.get("GSOTRIAGE_CONFIG")
    if explicit:
        return explicit
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "gsotriage", "config.toml")


def default_profile_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "gsotriage", "profiles")


@dataclass(frozen=True)
class Settings:
    debuginfod: bool = False
    no_debuginfo: bool = False
    standard_paths: bool = True
    from_dump: bool = True
    profiles: bool = True
    profile_dirs: Tuple[str, ...] = ()
    notes: Tuple[str, ...] = field(default=(), compare=False)


def _read_config(path: str) -> Tuple[Dict[str, Any], Optional[str]]:
    if not os.path.exists(path):
        return {}, None
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        return {}, f"config {path} ignored: reading TOML needs Python 3.11+"
    try:
        with open(path, "rb") as f:
            return tomllib.load(f), None
    except (OSError, ValueError) as exc:
        return {}, f"config {path} ignored: {exc}"


def _flag(env: str, table: Dict[str, Any], key: str, default: bool, invert: bool = False) -> bool:
    raw = os.environ.get(env, "").strip().lower()
    if raw in _TRUE:
        return not invert
    if raw in _FALSE:
        return invert
    value = table.get(key, default)
    return bool(value) if isinstance(value, bool) else default


def load_settings() -> Settings:
    """Read the settings now (the CLI may have set environment variables from its flags)."""
    path = config_path()
    data, problem = _read_config(path)
    notes = [problem] if problem else []
    dbg = data.get("debuginfo", {}) if isinstance(data.get("debuginfo"), dict) else {}
    prof = data.get("profiles", {}) if isinstance(data.get("profiles"), dict) else {}
    env_dirs = os.environ.get("GSOTRIAGE_PROFILE_DIR")
    dirs: List[str]
    if env_dirs:
        dirs = [d for d in env_dirs.split(":") if d]
    elif isinstance(prof.get("dirs"), list) and all(isinstance(d, str) for d in prof["dirs"]):
        dirs = list(prof["dirs"])
    else:
        dirs = [default_profile_dir()]
    return Settings(
        debuginfod=_flag("GSOTRIAGE_DEBUGINFOD", dbg, "debuginfod", False),
        no_debuginfo=_flag("GSOTRIAGE_NO_DEBUGINFO", dbg, "no_debuginfo", False),
        standard_paths=_flag("GSOTRIAGE_NO_STANDARD_DEBUGINFO", dbg, "standard_paths", True, invert=True),
        from_dump=_flag("GSOTRIAGE_FROM_DUMP", dbg, "from_dump", True),
        profiles=_flag("GSOTRIAGE_PROFILES", prof, "enabled", True),
        profile_dirs=tuple(os.path.expanduser(d) for d in dirs),
        notes=tuple(notes),
    )
