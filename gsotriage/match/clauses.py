"""Match clauses: small predicates over a CrashReport that answer TRUE, FALSE or UNKNOWN.

Each clause kind is one class in ``CLAUSES`` with the JSON Schema of its
argument; the signature schema is generated from this table, so a new kind is
one class here and nothing else. A clause never raises on a report: what the
report did not observe is UNKNOWN, with evidence saying what was missing.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Dict, List, Mapping, Optional, Sequence, Tuple, Type

from gsotriage.gso import decode_gso_type
from gsotriage.model import CrashReport, PanicKind, Skb
from gsotriage.versions import parse_version

__all__ = ["CLAUSES", "Clause", "Result", "Tri", "build_clause", "clause_kinds_schema"]


class Tri(str, enum.Enum):
    TRUE = "true"
    FALSE = "false"
    UNKNOWN = "unknown"

    @staticmethod
    def of(value: Optional[bool]) -> Tri:
        if value is None:
            return Tri.UNKNOWN
        return Tri.TRUE if value else Tri.FALSE


@dataclass(frozen=True)
class Result:
    value: Tri
    expected: str
    observed: Optional[str]  # None: not observed


def _hex(v: Optional[int]) -> str:
    return "unknown" if v is None else hex(v)


class Clause:
    kind: ClassVar[str]
    schema: ClassVar[Dict[str, Any]]
    description: ClassVar[str]

    def __init__(self, arg: Any) -> None:
        self.arg = arg

    def evaluate(self, report: CrashReport) -> Result:
        raise NotImplementedError

    def describe(self) -> str:
        return f"{self.kind}: {self.arg}"


_STR_OR_LIST = {
    "oneOf": [
        {"type": "string", "minLength": 1},
        {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1},
    ]
}


def _as_list(v: Any) -> List[str]:
    return [v] if isinstance(v, str) else list(v)


# ----------------------------------------------------------------------- frames


@dataclass(frozen=True)
class FramePattern:
    """``name``, ``name|other``, ``name@module``, or ``re:<regex>``."""

    alternatives: Tuple[Tuple[Optional[re.Pattern[str]], Optional[str], Optional[str]], ...]
    text: str

    @classmethod
    def parse(cls, text: str) -> FramePattern:
        alts: List[Tuple[Optional[re.Pattern[str]], Optional[str], Optional[str]]] = []
        for part in text.split("|") if not text.startswith("re:") else [text]:
            module = None
            if part.startswith("re:"):
                alts.append((re.compile(part[3:]), None, None))
                continue
            if "@" in part:
                part, module = part.split("@", 1)
            alts.append((None, part or None, module))
        return cls(tuple(alts), text)

    def matches(self, function: Optional[str], module: Optional[str]) -> bool:
        if function is None:
            return False
        # Compiler clones (skb_segment.cold, foo.isra.0, foo.constprop.0) are the same function.
        base = function.split(".", 1)[0]
        for rx, name, mod in self.alternatives:
            if rx is not None:
                if rx.search(function):
                    return True
                continue
            if name is not None and name != base and name != function:
                continue
            if mod is not None and mod != (module or ""):
                continue
            return True
        return False


def _stack(report: CrashReport) -> List[Tuple[str, Optional[str]]]:
    """Function names from the crash site down, ``?`` frames and the panic machinery dropped.

    The exception function heads the list; it is not repeated when the trace
    lists it too.
    """
    out: List[Tuple[str, Optional[str]]] = []
    if report.panic.function:
        out.append((report.panic.function, report.panic.module))
    for frame in report.frames:
        if frame.questionable or frame.context.value == "exception":
            continue
        if out and frame.function == out[-1][0] and len(out) == 1:
            continue
        out.append((frame.function, frame.module))
    return out


def _fmt_stack(stack: Sequence[Tuple[str, Optional[str]]], limit: int = 12) -> str:
    names = [f"{f} [{m}]" if m else f for f, m in stack[:limit]]
    more = "" if len(stack) <= limit else f" ... (+{len(stack) - limit})"
    return " <- ".join(names) + more if names else "no frames"


class FramesClause(Clause):
    """Ordered frames from the crash site down (callee first), gaps allowed unless max_gap."""

    kind = "frames"
    description = "ordered frame subsequence, callee first; gaps allowed (max_gap limits them); '?' frames ignored"
    schema = {
        "oneOf": [
            {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1},
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["sequence"],
                "properties": {
                    "sequence": {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1},
                    "max_gap": {"type": "integer", "minimum": 0},
                    "within": {
                        "type": "integer",
                        "minimum": 1,
                        "description": "sequence must start in the top N frames",
                    },
                },
            },
        ]
    }

    def __init__(self, arg: Any) -> None:
        super().__init__(arg)
        spec = arg if isinstance(arg, dict) else {"sequence": arg}
        self.patterns = [FramePattern.parse(p) for p in spec["sequence"]]
        self.max_gap: Optional[int] = spec.get("max_gap")
        self.within: Optional[int] = spec.get("within")

    def describe(self) -> str:
        gap = "" if self.max_gap is None else f" (max gap {self.max_gap})"
        return "frames " + " <- ".join(p.text for p in self.patterns) + gap

    def _search(self, stack: Sequence[Tuple[str, Optional[str]]]) -> Optional[List[int]]:
        """Indices of the first matching subsequence, or None."""
        starts = range(len(stack) if self.within is None else min(self.within, len(stack)))
        for start in starts:
            if not self.patterns[0].matches(*stack[start]):
                continue
            hits = [start]
            for pat in self.patterns[1:]:
                pos = hits[-1]
                limit = len(stack) if self.max_gap is None else min(len(stack), pos + 2 + self.max_gap)
                nxt = next((j for j in range(pos + 1, limit) if pat.matches(*stack[j])), None)
                if nxt is None:
                    break
                hits.append(nxt)
            if len(hits) == len(self.patterns):
                return hits
        return None

    def evaluate(self, report: CrashReport) -> Result:
        stack = _stack(report)
        expected = " <- ".join(p.text for p in self.patterns)
        if not stack:
            return Result(Tri.UNKNOWN, expected, None)
        hits = self._search(stack)
        if hits is not None:
            shown = " <- ".join(_fmt_stack([stack[i]]) for i in hits)
            return Result(Tri.TRUE, expected, f"{shown} (stack positions {', '.join(str(i) for i in hits)})")
        # A trace that does not reach the bottom may hide the missing frames.
        value = Tri.FALSE if report.frames_complete else Tri.UNKNOWN
        return Result(value, expected, _fmt_stack(stack) + ("" if report.frames_complete else " (trace truncated)"))


class FramesAbsentClause(Clause):
    kind = "frames_absent"
    description = "none of these frames is on the stack ('?' frames ignored)"
    schema = {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1}

    def __init__(self, arg: Any) -> None:
        super().__init__(arg)
        self.patterns = [FramePattern.parse(p) for p in arg]

    def describe(self) -> str:
        return "no frame " + ", ".join(p.text for p in self.patterns)

    def evaluate(self, report: CrashReport) -> Result:
        stack = _stack(report)
        expected = "none of " + ", ".join(p.text for p in self.patterns)
        if not stack:
            return Result(Tri.UNKNOWN, expected, None)
        found = [f for f, m in stack if any(p.matches(f, m) for p in self.patterns)]
        if found:
            return Result(Tri.FALSE, expected, "present: " + ", ".join(dict.fromkeys(found)))
        if not report.frames_complete:
            return Result(Tri.UNKNOWN, expected, "not in the visible part of a truncated trace")
        return Result(Tri.TRUE, expected, "absent")


class ExceptionFunctionClause(Clause):
    kind = "exception_function"
    description = "the function the CPU faulted or trapped in (RIP / pc); alternatives allowed"
    schema = _STR_OR_LIST

    def __init__(self, arg: Any) -> None:
        super().__init__(arg)
        self.patterns = [FramePattern.parse(p) for p in _as_list(arg)]

    def describe(self) -> str:
        return "exception in " + " or ".join(p.text for p in self.patterns)

    def evaluate(self, report: CrashReport) -> Result:
        fn = report.panic.function
        expected = " or ".join(p.text for p in self.patterns)
        if fn is None:
            return Result(Tri.UNKNOWN, expected, None)
        observed = fn if report.panic.offset is None else f"{fn}+{report.panic.offset:#x}"
        return Result(Tri.of(any(p.matches(fn, report.panic.module) for p in self.patterns)), expected, observed)


# ------------------------------------------------------------------------ panic


class PanicKindClause(Clause):
    kind = "panic_kind"
    description = "the kind of crash"
    schema = {
        "oneOf": [
            {"enum": [k.value for k in PanicKind]},
            {"type": "array", "items": {"enum": [k.value for k in PanicKind]}, "minItems": 1},
        ]
    }

    def describe(self) -> str:
        return "panic kind " + " or ".join(_as_list(self.arg))

    def evaluate(self, report: CrashReport) -> Result:
        kinds = _as_list(self.arg)
        observed = report.panic.kind
        if observed is None:
            return Result(Tri.UNKNOWN, " or ".join(kinds), None)
        return Result(Tri.of(observed.value in kinds), " or ".join(kinds), observed.value)


class MessageClause(Clause):
    kind = "message"
    description = "regular expression searched in the oops headline and the panic message"
    schema = {"type": "string", "minLength": 1, "format": "regex"}

    def __init__(self, arg: Any) -> None:
        super().__init__(arg)
        self.rx = re.compile(arg)

    def describe(self) -> str:
        return f"message =~ /{self.arg}/"

    def evaluate(self, report: CrashReport) -> Result:
        texts = [t for t in (report.panic.message, report.panic.panic_message) if t]
        if not texts:
            return Result(Tri.UNKNOWN, f"/{self.arg}/", None)
        return Result(Tri.of(any(self.rx.search(t) for t in texts)), f"/{self.arg}/", " | ".join(texts))


_RANGE = {
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "properties": {"min": {"type": "integer"}, "max": {"type": "integer"}},
}


class FaultAddressClause(Clause):
    kind = "fault_address"
    description = "the faulting data address lies in [min, max] (e.g. NULL + small offset)"
    schema = _RANGE

    def describe(self) -> str:
        return f"fault address in [{_hex(self.arg.get('min'))}, {_hex(self.arg.get('max'))}]"

    def evaluate(self, report: CrashReport) -> Result:
        lo, hi = self.arg.get("min"), self.arg.get("max")
        expected = f"[{_hex(lo)}, {_hex(hi)}]"
        addr = report.panic.fault_address
        if addr is None:
            return Result(Tri.UNKNOWN, expected, None)
        ok = (lo is None or addr >= lo) and (hi is None or addr <= hi)
        return Result(Tri.of(ok), expected, hex(addr))


class BugFileClause(Clause):
    kind = "bug_file"
    description = "the source file named by 'kernel BUG at' or 'WARNING: ... at' (regex)"
    schema = {"type": "string", "minLength": 1, "format": "regex"}

    def describe(self) -> str:
        return f"BUG/WARN in file /{self.arg}/"

    def evaluate(self, report: CrashReport) -> Result:
        f = report.panic.bug_file
        if f is None:
            return Result(Tri.UNKNOWN, f"/{self.arg}/", None)
        return Result(Tri.of(re.search(self.arg, f) is not None), f"/{self.arg}/", f)


# -------------------------------------------------------------------------- skb

_OPS: Dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "in": lambda a, b: a in b,
    "not_in": lambda a, b: a not in b,
}

_SKB_FIELDS = {
    "len",
    "data_len",
    "headlen",
    "truesize",
    "protocol",
    "encapsulation",
    "ip_summed",
    "csum_start",
    "csum_offset",
    "cloned",
    "head_frag",
    "pp_recycle",
    "dev",
    "shinfo.gso_size",
    "shinfo.gso_segs",
    "shinfo.gso_type",
    "shinfo.frag_list",
    "shinfo.nr_frags",
    "shinfo.dataref",
    "shinfo.frag_list_count",
}


def _skb_value(skb: Skb, path: str) -> Any:
    obj: Any = skb
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def _subject(report: CrashReport) -> Optional[Skb]:
    return report.skbs[0] if report.skbs else None


def _gso_flags(report: CrashReport, skb: Skb) -> Optional[Tuple[str, ...]]:
    if skb.shinfo.gso_type_flags is not None:
        return skb.shinfo.gso_type_flags
    if skb.shinfo.gso_type is None:
        return None
    return decode_gso_type(skb.shinfo.gso_type, report.kernel.release)[0]


class SkbClause(Clause):
    """A predicate on the subject skb (the one being processed at the crash site)."""

    kind = "skb"
    description = (
        "predicate on the subject skb (report.skbs[0]): a field with eq/ne/lt/le/gt/ge/in/not_in/is_null/not_null, "
        "or gso_type flags_all/flags_any/flags_none"
    )
    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "field": {"enum": sorted(_SKB_FIELDS)},
            **{op: {} for op in _OPS},
            "is_null": {"const": True},
            "not_null": {"const": True},
            "flags_all": {"type": "array", "items": {"type": "string", "pattern": "^[A-Z0-9_]+$"}, "minItems": 1},
            "flags_any": {"type": "array", "items": {"type": "string", "pattern": "^[A-Z0-9_]+$"}, "minItems": 1},
            "flags_none": {"type": "array", "items": {"type": "string", "pattern": "^[A-Z0-9_]+$"}, "minItems": 1},
        },
        "oneOf": [
            {
                "required": ["field"],
                "not": {"anyOf": [{"required": [k]} for k in ("flags_all", "flags_any", "flags_none")]},
            },
            {
                "not": {"required": ["field"]},
                "minProperties": 1,
                "maxProperties": 1,
            },
        ],
    }

    def __init__(self, arg: Any) -> None:
        super().__init__(arg)
        self.field = arg.get("field")
        ops = [k for k in arg if k != "field"]
        if len(ops) != 1:
            raise ValueError(f"skb clause needs exactly one operator, got {ops or 'none'}")
        self.op = ops[0]
        self.value = arg[self.op]

    def describe(self) -> str:
        if self.field is None:
            verb = {"flags_all": "has", "flags_any": "has any of", "flags_none": "lacks"}[self.op]
            return f"gso_type {verb} {'|'.join(self.value)}"
        if self.op in ("is_null", "not_null"):
            return f"{self.field} {self.op.replace('_', ' ')}"
        value = hex(self.value) if self.field == "shinfo.gso_size" and self.value == 0xFFFF else self.value
        return f"{self.field} {self.op} {value}"

    def evaluate(self, report: CrashReport) -> Result:
        skb = _subject(report)
        expected = self.describe()
        if skb is None:
            return Result(Tri.UNKNOWN, expected, None)
        if self.field is None:
            flags = _gso_flags(report, skb)
            if flags is None:
                return Result(Tri.UNKNOWN, expected, None)
            want = set(self.value)
            have = set(flags)
            ok = {
                "flags_all": want <= have,
                "flags_any": bool(want & have),
                "flags_none": not (want & have),
            }[self.op]
            return Result(Tri.of(ok), expected, "|".join(flags) or "0")
        value = _skb_value(skb, self.field)
        if value is None:
            return Result(Tri.UNKNOWN, expected, None)
        shown = hex(value) if self.field == "shinfo.frag_list" else str(value)
        if self.op == "is_null":
            return Result(Tri.of(value == 0), expected, shown)
        if self.op == "not_null":
            return Result(Tri.of(value != 0), expected, shown)
        try:
            return Result(Tri.of(_OPS[self.op](value, self.value)), expected, shown)
        except TypeError:
            return Result(Tri.UNKNOWN, expected, f"{shown} (not comparable)")


class SkbRelationClause(Clause):
    """A relation between two numeric fields of the subject skb, e.g. len > shinfo.gso_size."""

    kind = "skb_relation"
    description = "relation between two fields of the subject skb: [left, op, right]"
    schema = {
        "type": "array",
        "prefixItems": [
            {"enum": sorted(_SKB_FIELDS)},
            {"enum": ["eq", "ne", "lt", "le", "gt", "ge"]},
            {"enum": sorted(_SKB_FIELDS)},
        ],
        "minItems": 3,
        "maxItems": 3,
    }

    def describe(self) -> str:
        left, op, right = self.arg
        return f"{left} {op} {right}"

    def evaluate(self, report: CrashReport) -> Result:
        left, op, right = self.arg
        skb = _subject(report)
        if skb is None:
            return Result(Tri.UNKNOWN, self.describe(), None)
        a, b = _skb_value(skb, left), _skb_value(skb, right)
        if a is None or b is None:
            return Result(Tri.UNKNOWN, self.describe(), None)
        return Result(Tri.of(_OPS[op](a, b)), self.describe(), f"{left}={a}, {right}={b}")


class FragListMembersClause(Clause):
    """Properties of the walked frag_list chain of the subject skb."""

    kind = "frag_list_members"
    description = (
        "properties of the subject skb's frag_list members: count range, head_frag all/none/mixed, "
        "some member length not a multiple of gso_size"
    )
    schema = {
        "type": "object",
        "additionalProperties": False,
        "minProperties": 1,
        "properties": {
            "count": _RANGE,
            "head_frag": {"enum": ["all", "none", "mixed", "some-missing"]},
            "len_not_multiple_of_gso_size": {"type": "boolean"},
        },
    }

    def describe(self) -> str:
        return "frag_list members " + ", ".join(f"{k}={v}" for k, v in self.arg.items())

    def evaluate(self, report: CrashReport) -> Result:
        skb = _subject(report)
        expected = self.describe()
        if skb is None:
            return Result(Tri.UNKNOWN, expected, None)
        sh = skb.shinfo
        if sh.frag_list == 0:
            members: Tuple[Any, ...] = ()
        elif sh.frag_list_members is None:
            return Result(Tri.UNKNOWN, expected, None)
        else:
            members = sh.frag_list_members
        results: List[Optional[bool]] = []
        facts = [f"{len(members)} member(s)"]
        if "count" in self.arg:
            lo, hi = self.arg["count"].get("min"), self.arg["count"].get("max")
            n = len(members) if not sh.frag_list_truncated else None
            results.append(None if n is None else (lo is None or n >= lo) and (hi is None or n <= hi))
        if "head_frag" in self.arg:
            flags = [m.head_frag for m in members]
            known = [f for f in flags if f is not None]
            want = self.arg["head_frag"]
            facts.append(f"head_frag={flags}")
            if not members:
                results.append(False)
            elif want == "some-missing":
                results.append(True if False in known else (None if len(known) < len(flags) else False))
            elif len(known) < len(flags):
                results.append(None)
            else:
                results.append(
                    {"all": all(known), "none": not any(known), "mixed": any(known) and not all(known)}[want]
                )
        if "len_not_multiple_of_gso_size" in self.arg:
            gso = sh.gso_size
            lens = [m.len for m in members]
            facts.append(f"lens={lens}, gso_size={gso}")
            if gso is None or not gso or any(v is None for v in lens):
                results.append(None)
            else:
                odd = any(v % gso for v in lens if v is not None)
                results.append(odd == bool(self.arg["len_not_multiple_of_gso_size"]))
        if any(r is False for r in results):
            return Result(Tri.FALSE, expected, "; ".join(facts))
        if any(r is None for r in results):
            return Result(Tri.UNKNOWN, expected, "; ".join(facts))
        return Result(Tri.TRUE, expected, "; ".join(facts))


# ------------------------------------------------------------------- kernel etc


class KernelClause(Clause):
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

    def evaluate(self, report: CrashReport) -> Result:
        rel = report.kernel.release
        if rel is None:
            return Result(Tri.UNKNOWN, self.describe(), None)
        results: List[Optional[bool]] = []
        if "release" in self.arg:
            results.append(re.search(self.arg["release"], rel) is not None)
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

    def evaluate(self, report: CrashReport) -> Result:
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
    kind = "module_loaded"
    description = "a kernel module is loaded (from 'Modules linked in' or the dump's module list)"
    schema = _STR_OR_LIST

    def describe(self) -> str:
        return "module loaded: " + " or ".join(_as_list(self.arg))

    def evaluate(self, report: CrashReport) -> Result:
        mods = _modules(report)
        want = _as_list(self.arg)
        if mods is None:
            return Result(Tri.UNKNOWN, " or ".join(want), None)
        hit = [m for m in want if m in mods]
        return Result(
            Tri.of(bool(hit)), " or ".join(want), ", ".join(hit) if hit else f"{len(mods)} modules, none of them"
        )


class BpfProgramsClause(Clause):
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

    def describe(self) -> str:
        return "BPF programs " + ", ".join(f"{k}={v}" for k, v in self.arg.items())

    def evaluate(self, report: CrashReport) -> Result:
        progs = None if report.net is None else report.net.bpf_programs
        if progs is None:
            return Result(Tri.UNKNOWN, self.describe(), None)
        sel = [
            p
            for p in progs
            if ("type" not in self.arg or p.type == self.arg["type"])
            and ("name" not in self.arg or (p.name is not None and re.search(self.arg["name"], p.name)))
        ]
        want = self.arg.get("attached", True)
        observed = ", ".join(f"{p.name or '?'} ({p.type or '?'}, {p.attach or '?'})" for p in sel) or "none"
        return Result(Tri.of(bool(sel) == want), self.describe(), observed)


class NetdevFeatureClause(Clause):
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

    def describe(self) -> str:
        return "net device " + ", ".join(f"{k}={v}" for k, v in self.arg.items())

    def evaluate(self, report: CrashReport) -> Result:
        devs = None if report.net is None else report.net.devices
        if devs is None:
            return Result(Tri.UNKNOWN, self.describe(), None)
        cands = [
            d
            for d in devs
            if ("device" not in self.arg or re.search(self.arg["device"], d.name))
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


class RegisterValueClause(Clause):
    """A telltale value in the exception registers (e.g. 0xffff = GSO_BY_FRAGS).

    Registers are only a snapshot: absence says little, so use it as supporting evidence.
    """

    kind = "register_value"
    description = "some general-purpose register at the exception holds one of these values"
    schema = {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 1}

    def describe(self) -> str:
        return "a register holds " + " or ".join(hex(v) for v in self.arg)

    def evaluate(self, report: CrashReport) -> Result:
        regs = {k: v for k, v in report.registers.items() if k not in ("RIP", "RSP", "EFLAGS", "CS", "SS", "PC", "SP")}
        if not regs:
            return Result(Tri.UNKNOWN, self.describe(), None)
        hits = [f"{k}={v:#x}" for k, v in regs.items() if v in self.arg]
        return Result(Tri.of(bool(hits)), self.describe(), ", ".join(hits) if hits else "no register holds it")


# ----------------------------------------------------------------- combinators


class _Combinator(Clause):
    def __init__(self, arg: Any) -> None:
        super().__init__(arg)
        items = arg if isinstance(arg, list) else [arg]
        self.children = [build_clause(c) for c in items]


class AnyOfClause(_Combinator):
    kind = "any_of"
    description = "true if any sub-clause is true; false if all are false"
    schema = {"type": "array", "items": {"$ref": "#/$defs/clause"}, "minItems": 2}

    def describe(self) -> str:
        return "any of (" + "; ".join(c.describe() for c in self.children) + ")"

    def evaluate(self, report: CrashReport) -> Result:
        results = [c.evaluate(report) for c in self.children]
        values = {r.value for r in results}
        value = Tri.TRUE if Tri.TRUE in values else Tri.UNKNOWN if Tri.UNKNOWN in values else Tri.FALSE
        obs = "; ".join(r.observed for r in results if r.observed) or None
        return Result(value, self.describe(), obs)


class AllOfClause(_Combinator):
    kind = "all_of"
    description = "true if all sub-clauses are true; false if any is false"
    schema = {"type": "array", "items": {"$ref": "#/$defs/clause"}, "minItems": 2}

    def describe(self) -> str:
        return "all of (" + "; ".join(c.describe() for c in self.children) + ")"

    def evaluate(self, report: CrashReport) -> Result:
        results = [c.evaluate(report) for c in self.children]
        values = {r.value for r in results}
        value = Tri.FALSE if Tri.FALSE in values else Tri.UNKNOWN if Tri.UNKNOWN in values else Tri.TRUE
        obs = "; ".join(r.observed for r in results if r.observed) or None
        return Result(value, self.describe(), obs)


class NotClause(_Combinator):
    kind = "not"
    description = "negation; UNKNOWN stays UNKNOWN"
    schema = {"$ref": "#/$defs/clause"}

    def describe(self) -> str:
        return "not (" + self.children[0].describe() + ")"

    def evaluate(self, report: CrashReport) -> Result:
        r = self.children[0].evaluate(report)
        flip = {Tri.TRUE: Tri.FALSE, Tri.FALSE: Tri.TRUE, Tri.UNKNOWN: Tri.UNKNOWN}
        return Result(flip[r.value], self.describe(), r.observed)


CLAUSES: Dict[str, Type[Clause]] = {
    c.kind: c
    for c in (
        ExceptionFunctionClause,
        FramesClause,
        FramesAbsentClause,
        PanicKindClause,
        MessageClause,
        FaultAddressClause,
        BugFileClause,
        SkbClause,
        SkbRelationClause,
        FragListMembersClause,
        KernelClause,
        TaintClause,
        ModuleLoadedClause,
        BpfProgramsClause,
        NetdevFeatureClause,
        RegisterValueClause,
        AnyOfClause,
        AllOfClause,
        NotClause,
    )
}

# Keys every clause mapping may carry besides its kind.
COMMON_KEYS: Mapping[str, Any] = {
    "weight": {"type": "number", "exclusiveMinimum": 0, "maximum": 10},
    "why": {"type": "string", "minLength": 1},
}


def build_clause(spec: Mapping[str, Any]) -> Clause:
    kinds = [k for k in spec if k not in COMMON_KEYS]
    if len(kinds) != 1 or kinds[0] not in CLAUSES:
        raise ValueError(f"a clause needs exactly one kind of {sorted(CLAUSES)}, got {kinds}")
    return CLAUSES[kinds[0]](spec[kinds[0]])


def clause_kinds_schema() -> Dict[str, Any]:
    """The JSON Schema of one clause (used under $defs/clause of the signature schema)."""
    variants = []
    for kind, cls in CLAUSES.items():
        variants.append(
            {
                "type": "object",
                "description": cls.description,
                "additionalProperties": False,
                "required": [kind],
                "properties": {kind: cls.schema, **COMMON_KEYS},
            }
        )
    return {"oneOf": variants}
