"""The clause protocol: a small predicate over a CrashReport that answers TRUE,
FALSE or UNKNOWN, with what it expected and what it observed.

A clause never raises on a report: what the report did not observe is UNKNOWN.
Besides its answer, every clause knows its ``background()``: the chance that it
holds on a crash nothing is known about (a NULL skb pointer is common, a
gso_size of exactly 0xFFFF is rare). The engine uses it to weigh evidence:
confirming a rare fact counts more, and a rare fact left unobserved costs a
candidate probability (docs/scoring.md).
``role`` says what a clause is about, so the engine can tell evidence about the
crash from facts about the kernel's configuration without a list of kind names:
``site`` (where it crashed: the exception function, the frames), ``state`` (the
crashed objects' own state: the skb, its shared info, its frag_list), ``crash``
(other facts of this crash: the panic kind, message, registers), ``absence``
(something is NOT on the stack: true on many unrelated crashes, so it never
anchors a candidate), ``environment`` (the kernel's version and configuration,
true on healthy kernels too) and ``logic`` (combinators).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, ClassVar, Dict, List, Mapping, Optional, Type

from gsotriage.model import CrashReport

from .context import EvalContext

__all__ = [
    "CLAUSES",
    "COMMON_KEYS",
    "RANGE",
    "ROLES",
    "STR_OR_LIST",
    "Clause",
    "Result",
    "Tri",
    "as_list",
    "build_clause",
    "hex_or_unknown",
]

ROLES = ("site", "state", "crash", "absence", "environment", "logic")


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
    # A FALSE that rules the candidate out even from a supporting clause: the crash is of
    # another nature than the clause allows (see PanicKindClause), not a weaker sign.
    decisive: bool = False


def hex_or_unknown(v: Optional[int]) -> str:
    return "unknown" if v is None else hex(v)


# kind -> clause class; every Clause subclass with a ``kind`` registers itself.
CLAUSES: Dict[str, Type[Clause]] = {}

# Keys every clause mapping may carry besides its kind.
COMMON_KEYS: Mapping[str, Any] = {
    "weight": {"type": "number", "exclusiveMinimum": 0, "maximum": 10},
    "why": {"type": "string", "minLength": 1},
}


class Clause:
    kind: ClassVar[str]
    schema: ClassVar[Dict[str, Any]]
    description: ClassVar[str]
    role: ClassVar[str]

    def __init__(self, arg: Any) -> None:
        self.arg = arg

    def evaluate(self, report: CrashReport, ctx: Optional[EvalContext] = None) -> Result:
        """TRUE/FALSE/UNKNOWN on ``report`` (``ctx``: computed once per report by the engine)."""
        return self.check(ctx if ctx is not None else EvalContext.of(report))

    def check(self, ctx: EvalContext) -> Result:
        raise NotImplementedError

    def background(self) -> float:
        """The chance (0, 1] that this clause holds on a crash nothing is known about."""
        return 0.5

    def observable(self) -> str:
        """What must be seen to decide this clause (for "what would decide" answers)."""
        return self.kind

    def implies(self, other: Clause) -> bool:
        """Whether this clause being TRUE makes ``other`` TRUE (so ``other`` then says nothing
        more: the engine counts the fact once). Conservative: False unless a kind knows better."""
        return False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        kind = cls.__dict__.get("kind")
        if kind is not None:
            assert kind not in CLAUSES, f"clause kind {kind!r} defined twice"
            assert getattr(cls, "role", None) in ROLES, f"clause kind {kind!r} needs a role of {ROLES}"
            CLAUSES[kind] = cls

    def describe(self) -> str:
        return f"{self.kind}: {self.arg}"


STR_OR_LIST = {
    "oneOf": [
        {"type": "string", "minLength": 1},
        {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1},
    ]
}

RANGE = {
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "properties": {"min": {"type": "integer"}, "max": {"type": "integer"}},
}


def as_list(v: Any) -> List[str]:
    return [v] if isinstance(v, str) else list(v)


def build_clause(spec: Mapping[str, Any]) -> Clause:
    """A clause from its YAML mapping (``{kind: argument, weight?, why?}``)."""
    kinds = [k for k in spec if k not in COMMON_KEYS]
    if len(kinds) != 1 or kinds[0] not in CLAUSES:
        raise ValueError(f"a clause needs exactly one kind of {sorted(CLAUSES)}, got {kinds}")
    return CLAUSES[kinds[0]](spec[kinds[0]])
