"""Combinators: any_of, all_of, not."""

from __future__ import annotations

from typing import Any

from .base import Clause, Result, Tri, build_clause
from .context import EvalContext

__all__ = ["AllOfClause", "AnyOfClause", "NotClause"]


class _Combinator(Clause):
    role = "logic"

    def __init__(self, arg: Any) -> None:
        super().__init__(arg)
        items = arg if isinstance(arg, list) else [arg]
        self.children = [build_clause(c) for c in items]

    def observable(self) -> str:
        return " / ".join(dict.fromkeys(c.observable() for c in self.children))


class AnyOfClause(_Combinator):
    kind = "any_of"
    description = "true if any sub-clause is true; false if all are false"
    schema = {"type": "array", "items": {"$ref": "#/$defs/clause"}, "minItems": 2}

    def describe(self) -> str:
        return "any of (" + "; ".join(c.describe() for c in self.children) + ")"

    def background(self) -> float:
        miss = 1.0
        for c in self.children:
            miss *= 1.0 - c.background()
        return 1.0 - miss

    def check(self, ctx: EvalContext) -> Result:
        results = [c.check(ctx) for c in self.children]
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

    def background(self) -> float:
        p = 1.0
        for c in self.children:
            p *= c.background()
        return p

    def check(self, ctx: EvalContext) -> Result:
        results = [c.check(ctx) for c in self.children]
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

    def background(self) -> float:
        return max(0.05, 1.0 - self.children[0].background())

    def check(self, ctx: EvalContext) -> Result:
        r = self.children[0].check(ctx)
        flip = {Tri.TRUE: Tri.FALSE, Tri.FALSE: Tri.TRUE, Tri.UNKNOWN: Tri.UNKNOWN}
        return Result(flip[r.value], self.describe(), r.observed)
