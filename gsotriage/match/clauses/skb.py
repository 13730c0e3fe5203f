"""Predicates on the subject skb (the one being processed at the crash site) and
its skb_shared_info / frag_list chain."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

from gsotriage.kernel.gso import decode_gso_type
from gsotriage.model import CrashReport, Skb

from .base import RANGE, Clause, Result, Tri
from .context import EvalContext

__all__ = ["SKB_FIELDS", "FragListMembersClause", "SkbClause", "SkbRelationClause"]

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

SKB_FIELDS = {
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


# What to look at, in an SRE's words, per field (for "what would decide").
_FIELD_NAMES = {
    "shinfo.gso_size": "gso_size",
    "shinfo.gso_segs": "gso_segs",
    "shinfo.gso_type": "gso_type",
    "shinfo.frag_list": "frag_list",
    "shinfo.nr_frags": "nr_frags",
    "shinfo.dataref": "dataref",
    "shinfo.frag_list_count": "the frag_list members",
}


# Fields with a small domain: a given value is common.
_SMALL_DOMAIN = {
    "encapsulation": 0.5,
    "cloned": 0.5,
    "head_frag": 0.5,
    "pp_recycle": 0.5,
    "ip_summed": 0.25,
    "shinfo.nr_frags": 0.15,
    "shinfo.dataref": 0.3,
    "shinfo.frag_list_count": 0.15,
}


def _value_chance(field: Optional[str], value: Any) -> float:
    """The chance that ``field`` holds ``value`` on an skb nothing is known about: common
    for flags and small counters, about 1% for one value of a size or length (a
    signature naming one is naming a pathological value, like GSO_BY_FRAGS)."""
    if field in _SMALL_DOMAIN:
        return _SMALL_DOMAIN[field]
    if value == 0:
        return 0.3  # zero is the common "unset" value (gso_segs of DODGY skbs, data_len of linear skbs)
    return 0.01


def _rewritten(shown: str, how: str) -> str:
    return f"{shown} at the crash, not at entry: {how}"


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

    role = "state"
    kind = "skb"
    description = (
        "predicate on the subject skb (report.skbs[0]): a field with eq/ne/lt/le/gt/ge/in/not_in/is_null/not_null, "
        "or gso_type flags_all/flags_any/flags_none"
    )
    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "field": {"enum": sorted(SKB_FIELDS)},
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

    def background(self) -> float:
        if self.field is None:
            n = len(self.value)
            return {"flags_all": 0.3**n, "flags_any": min(0.8, 0.3 * n), "flags_none": 0.8**n}[self.op]
        if self.op in ("eq", "ne", "in", "not_in"):
            values = self.value if isinstance(self.value, list) else [self.value]
            p = min(0.9, sum(_value_chance(self.field, v) for v in values))
            return p if self.op in ("eq", "in") else 1.0 - p
        return 0.5

    def observable(self) -> str:
        return _FIELD_NAMES.get(self.field or "shinfo.gso_type", self.field or "gso_type")

    def check(self, ctx: EvalContext) -> Result:
        report = ctx.report
        skb = _subject(report)
        expected = self.describe()
        if skb is None:
            return Result(Tri.UNKNOWN, expected, None)
        if self.field is None:
            return self._flags(ctx, skb, expected)
        value = _skb_value(skb, self.field)
        if value is None:
            return Result(Tri.UNKNOWN, expected, None)
        shown = hex(value) if self.field == "shinfo.frag_list" else str(value)
        change = ctx.changes.get(self.field)
        if change is not None:
            recovered = ctx.entry.get(self.field)
            if recovered is None:
                return Result(Tri.UNKNOWN, expected, _rewritten(shown, change.name))
            value, how = recovered
            entry = int(value) if isinstance(value, bool) else value
            shown = f"{entry} at entry ({how}); {_rewritten(shown, change.name)}"
        if self.op == "is_null":
            return Result(Tri.of(value == 0), expected, shown)
        if self.op == "not_null":
            return Result(Tri.of(value != 0), expected, shown)
        try:
            return Result(Tri.of(_OPS[self.op](value, self.value)), expected, shown)
        except TypeError:
            return Result(Tri.UNKNOWN, expected, f"{shown} (not comparable)")

    def _flags(self, ctx: EvalContext, skb: Skb, expected: str) -> Result:
        want = set(self.value)
        change = ctx.changes.get("shinfo.gso_type")
        if change is not None:
            # The crash-time gso_type was rewritten; only what the path proves is known.
            proven = set(ctx.implied.get("shinfo.gso_type", ()))
            note = f"proven at entry by the path: {'|'.join(sorted(proven)) or 'nothing'}"
            if self.op in ("flags_all", "flags_any") and (want <= proven if self.op == "flags_all" else want & proven):
                return Result(Tri.TRUE, expected, note)
            if self.op == "flags_none" and want & proven:
                return Result(Tri.FALSE, expected, note)
            shown = "|".join(_gso_flags(ctx.report, skb) or ()) or str(skb.shinfo.gso_type)
            return Result(Tri.UNKNOWN, expected, _rewritten(shown, change.name) + f"; {note}")
        flags = _gso_flags(ctx.report, skb)
        if flags is None:
            return Result(Tri.UNKNOWN, expected, None)
        have = set(flags)
        ok = {
            "flags_all": want <= have,
            "flags_any": bool(want & have),
            "flags_none": not (want & have),
        }[self.op]
        return Result(Tri.of(ok), expected, "|".join(flags) or "0")


class SkbRelationClause(Clause):
    """A relation between two numeric fields of the subject skb, e.g. len > shinfo.gso_size."""

    role = "state"
    kind = "skb_relation"
    description = "relation between two fields of the subject skb: [left, op, right]"
    schema = {
        "type": "array",
        "prefixItems": [
            {"enum": sorted(SKB_FIELDS)},
            {"enum": ["eq", "ne", "lt", "le", "gt", "ge"]},
            {"enum": sorted(SKB_FIELDS)},
        ],
        "minItems": 3,
        "maxItems": 3,
    }

    def describe(self) -> str:
        left, op, right = self.arg
        return f"{left} {op} {right}"

    def background(self) -> float:
        return 0.3

    def observable(self) -> str:
        left, _op, right = self.arg
        return f"{_FIELD_NAMES.get(left, left)} and {_FIELD_NAMES.get(right, right)}"

    def check(self, ctx: EvalContext) -> Result:
        left, op, right = self.arg
        skb = _subject(ctx.report)
        if skb is None:
            return Result(Tri.UNKNOWN, self.describe(), None)
        a, b = _skb_value(skb, left), _skb_value(skb, right)
        if a is None or b is None:
            return Result(Tri.UNKNOWN, self.describe(), None)
        change = ctx.changes.get(left) or ctx.changes.get(right)
        if change is not None:
            return Result(Tri.UNKNOWN, self.describe(), _rewritten(f"{left}={a}, {right}={b}", change.name))
        return Result(Tri.of(_OPS[op](a, b)), self.describe(), f"{left}={a}, {right}={b}")


class FragListMembersClause(Clause):
    """Properties of the walked frag_list chain of the subject skb."""

    role = "state"
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
            "count": RANGE,
            "head_frag": {"enum": ["all", "none", "mixed", "some-missing"]},
            "len_not_multiple_of_gso_size": {"type": "boolean"},
        },
    }

    def describe(self) -> str:
        return "frag_list members " + ", ".join(f"{k}={v}" for k, v in self.arg.items())

    def background(self) -> float:
        return 0.2 ** len(self.arg)

    def observable(self) -> str:
        return "the frag_list members"

    def check(self, ctx: EvalContext) -> Result:
        skb = _subject(ctx.report)
        expected = self.describe()
        if skb is None:
            return Result(Tri.UNKNOWN, expected, None)
        change = ctx.changes.get("frag_list_members")
        if change is not None:
            return Result(Tri.UNKNOWN, expected, _rewritten("the chain at the crash", change.name))
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
