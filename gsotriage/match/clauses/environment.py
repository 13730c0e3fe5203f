"""The kernel's version and configuration: true on healthy kernels too, so these
clauses never make a candidate on their own."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from gsotriage.kernel.versions import parse_version
from gsotriage.match.regex import Pattern
from gsotriage.model import CrashReport

from .base import STR_OR_LIST, Clause, Result, Tri, as_list
from .context import EvalContext

__all__ = ["BpfProgramsClause", "KernelClause", "ModuleLoadedClause", "NetdevFeatureClause", "TaintClause"]


def _patterns(arg: Any, *keys: str) -> Dict[str, Pattern]:
    """The regex-valued keys of a mapping argument, compiled (linear-time engine)."""
    return {k: Pattern(arg[k]) for k in keys if isinstance(arg, dict) and k in arg}


class KernelClause(Clause):
    role = "environment"
    kind = "kernel"
    description = "upstream kernel version range [min, below) and/or release regex"
    schema = {
        "type": "object",
        "additionalProperties": False,
        "minProperties": 1,
        "properties": {
            "min": {"type": "string", "pattern": r"^\d+\.\d+(\.\d+)?$"},
            "below": {"type": "string", "pattern": r"^\d+\.\d+(\.\d+)?$"},
            "release": {"type": "string", "format": "regex"},
            "arch": {"type": "string"},
        },
    }

    def __init__(self, arg: Any) -> None:
        super().__init__(arg)
        self.rx = _patterns(arg, "release")

    def describe(self) -> str:
        parts = []
        if "min" in self.arg:
            parts.append(f">= {self.arg['min']}")
        if "below" in self.arg:
            parts.append(f"< {self.arg['below']}")
        if "release" in self.arg:
            parts.append(f"release =~ /{self.arg['release']}/")
        if "arch" in self.arg:
            parts.append(f"arch {self.arg['arch']}")
        return "kernel " + ", ".join(parts)

    def background(self) -> float:
        return 0.5 if "release" not in self.arg else 0.2

    def observable(self) -> str:
        return "the kernel release"

    def check(self, ctx: EvalContext) -> Result:
        report = ctx.report
        rel = report.kernel.release
        if rel is None:
            return Result(Tri.UNKNOWN, self.describe(), None)
        results: List[Optional[bool]] = []
        if "release" in self.arg:
            results.append(self.rx["release"].search(rel))
        if "arch" in self.arg:
            arch = report.kernel.arch
            results.append(None if arch is None else arch == self.arg["arch"])
        ver = parse_version(rel)
        if "min" in self.arg:
            results.append(None if ver is None else ver[:2] >= parse_version(self.arg["min"])[:2])  # type: ignore[index]
        if "below" in self.arg:
            results.append(None if ver is None else ver[:2] < parse_version(self.arg["below"])[:2])  # type: ignore[index]
        value = Tri.FALSE if False in results else Tri.UNKNOWN if None in results else Tri.TRUE
        return Result(value, self.describe(), rel)


class TaintClause(Clause):
    role = "environment"
    kind = "taint"
    description = "taint letters all set / none set"
    schema = {
        "type": "object",
        "additionalProperties": False,
        "minProperties": 1,
        "properties": {
            "all": {"type": "array", "items": {"type": "string", "pattern": "^[A-Z]$"}},
            "none": {"type": "array", "items": {"type": "string", "pattern": "^[A-Z]$"}},
        },
    }

    def background(self) -> float:
        return 0.3

    def observable(self) -> str:
        return "the taint flags"

    def check(self, ctx: EvalContext) -> Result:
        report = ctx.report
        flags = report.kernel.taint_flags
        if flags is None:
            return Result(Tri.UNKNOWN, self.describe(), None)
        ok = all(f in flags for f in self.arg.get("all", [])) and not any(f in flags for f in self.arg.get("none", []))
        return Result(Tri.of(ok), self.describe(), "".join(flags) or "none")


def _modules(report: CrashReport) -> Optional[Tuple[str, ...]]:
    if report.modules is not None:
        return report.modules
    if report.net is not None and report.net.modules is not None:
        return report.net.modules
    return None


class ModuleLoadedClause(Clause):
    role = "environment"
    kind = "module_loaded"
    description = "a kernel module is loaded (from 'Modules linked in' or the dump's module list)"
    schema = STR_OR_LIST

    def describe(self) -> str:
        return "module loaded: " + " or ".join(as_list(self.arg))

    def background(self) -> float:
        return min(0.5, 0.05 * len(as_list(self.arg)))

    def observable(self) -> str:
        return "the loaded modules"

    def check(self, ctx: EvalContext) -> Result:
        report = ctx.report
        mods = _modules(report)
        want = as_list(self.arg)
        if mods is None:
            return Result(Tri.UNKNOWN, " or ".join(want), None)
        hit = [m for m in want if m in mods]
        return Result(
            Tri.of(bool(hit)), " or ".join(want), ", ".join(hit) if hit else f"{len(mods)} modules, none of them"
        )


class BpfProgramsClause(Clause):
    role = "environment"
    kind = "bpf_programs"
    description = "BPF programs attached to the datapath (tc/XDP) in the dump: attached true/false, type, name regex"
    schema = {
        "type": "object",
        "additionalProperties": False,
        "minProperties": 1,
        "properties": {
            "attached": {"type": "boolean"},
            "type": {"type": "string"},
            "name": {"type": "string", "format": "regex"},
        },
    }

    def __init__(self, arg: Any) -> None:
        super().__init__(arg)
        self.rx = _patterns(arg, "name")

    def describe(self) -> str:
        return "BPF programs " + ", ".join(f"{k}={v}" for k, v in self.arg.items())

    def background(self) -> float:
        return 0.3 if self.arg.get("attached", True) else 0.7

    def observable(self) -> str:
        return "the attached BPF programs"

    def check(self, ctx: EvalContext) -> Result:
        report = ctx.report
        progs = None if report.net is None else report.net.bpf_programs
        if progs is None:
            return Result(Tri.UNKNOWN, self.describe(), None)
        sel = [
            p
            for p in progs
            if ("type" not in self.arg or p.type == self.arg["type"])
            and ("name" not in self.arg or (p.name is not None and self.rx["name"].search(p.name)))
        ]
        want = self.arg.get("attached", True)
        observed = ", ".join(f"{p.name or '?'} ({p.type or '?'}, {p.attach or '?'})" for p in sel) or "none"
        return Result(Tri.of(bool(sel) == want), self.describe(), observed)


class NetdevFeatureClause(Clause):
    role = "environment"
    kind = "netdev_feature"
    description = "some net device (or the named one) has ethtool features on/off"
    schema = {
        "type": "object",
        "additionalProperties": False,
        "minProperties": 1,
        "properties": {
            "device": {"type": "string", "format": "regex"},
            "kind": {"type": "string"},
            "on": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            "off": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        },
    }

    def __init__(self, arg: Any) -> None:
        super().__init__(arg)
        self.rx = _patterns(arg, "device")

    def describe(self) -> str:
        return "net device " + ", ".join(f"{k}={v}" for k, v in self.arg.items())

    def background(self) -> float:
        return 0.3

    def observable(self) -> str:
        return "the net devices and their features"

    def check(self, ctx: EvalContext) -> Result:
        report = ctx.report
        devs = None if report.net is None else report.net.devices
        if devs is None:
            return Result(Tri.UNKNOWN, self.describe(), None)
        cands = [
            d
            for d in devs
            if ("device" not in self.arg or self.rx["device"].search(d.name))
            and ("kind" not in self.arg or d.kind == self.arg["kind"])
        ]
        unknown = False
        for d in cands:
            if d.features is None:
                unknown = True
                continue
            if all(f in d.features for f in self.arg.get("on", [])) and not any(
                f in d.features for f in self.arg.get("off", [])
            ):
                return Result(Tri.TRUE, self.describe(), d.name)
        names = ", ".join(d.name for d in cands) or "no such device"
        return Result(Tri.UNKNOWN if unknown else Tri.FALSE, self.describe(), names)
