"""Where it crashed: the exception function and the frames below it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Tuple

from gsotriage.kernel.frames import MACHINERY, site_index
from gsotriage.kernel.symbols import base_name
from gsotriage.match.regex import Pattern

from .base import STR_OR_LIST, Clause, Result, Tri, as_list
from .context import EvalContext

__all__ = ["CrashSiteClause", "ExceptionFunctionClause", "FramePattern", "FramesAbsentClause", "FramesClause"]


@dataclass(frozen=True)
class FramePattern:
    """``name``, ``name|other``, ``name@module``, or ``re:<regex>``."""

    alternatives: Tuple[Tuple[Optional[Pattern], Optional[str], Optional[str]], ...]
    text: str

    @classmethod
    def parse(cls, text: str) -> FramePattern:
        alts: List[Tuple[Optional[Pattern], Optional[str], Optional[str]]] = []
        for part in text.split("|") if not text.startswith("re:") else [text]:
            module = None
            if part.startswith("re:"):
                alts.append((Pattern(part[3:]), None, None))
                continue
            if "@" in part:
                part, module = part.split("@", 1)
            alts.append((None, part or None, module))
        return cls(tuple(alts), text)

    def background(self) -> float:
        """Chance that a given frame of a crash stack matches: a named function is rare,
        a few alternatives less so, a regular expression may catch a family."""
        p = sum(0.2 if rx is not None else 0.05 for rx, _name, _mod in self.alternatives)
        return min(0.6, p)

    def matches(self, function: Optional[str], module: Optional[str]) -> bool:
        if function is None:
            return False
        # Compiler clones (skb_segment.cold, foo.isra.0, foo.constprop.0) are the same function.
        base = base_name(function)
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


def _fmt_stack(stack: Sequence[Tuple[str, Optional[str]]], limit: int = 12) -> str:
    names = [f"{f} [{m}]" if m else f for f, m in stack[:limit]]
    more = "" if len(stack) <= limit else f" ... (+{len(stack) - limit})"
    return " <- ".join(names) + more if names else "no frames"


class FramesClause(Clause):
    """Ordered frames from the crash site down (callee first), gaps allowed unless max_gap."""

    role = "site"
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

    def background(self) -> float:
        # The first pattern of a chain usually is the site, which the exception
        # function clause counts; each caller that must follow in order makes the
        # chain rarer.
        pats = self.patterns[1:] or self.patterns
        p = 1.0
        for pat in pats:
            p *= min(1.0, pat.background() * 2)
        return max(p, 1e-4)

    def observable(self) -> str:
        return "the call trace"

    def check(self, ctx: EvalContext) -> Result:
        report = ctx.report
        stack = ctx.stack
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
    role = "absence"
    kind = "frames_absent"
    description = "none of these frames is on the stack ('?' frames ignored)"
    schema = {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1}

    def __init__(self, arg: Any) -> None:
        super().__init__(arg)
        self.patterns = [FramePattern.parse(p) for p in arg]

    def describe(self) -> str:
        return "no frame " + ", ".join(p.text for p in self.patterns)

    def background(self) -> float:
        return 0.9

    def observable(self) -> str:
        return "the call trace"

    def check(self, ctx: EvalContext) -> Result:
        report = ctx.report
        stack = ctx.stack
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
    role = "site"
    kind = "exception_function"
    description = "the function the CPU faulted or trapped in (RIP / pc); alternatives allowed"
    schema = STR_OR_LIST

    def __init__(self, arg: Any) -> None:
        super().__init__(arg)
        self.patterns = [FramePattern.parse(p) for p in as_list(arg)]

    def describe(self) -> str:
        return "exception in " + " or ".join(p.text for p in self.patterns)

    def background(self) -> float:
        return min(0.5, sum(p.background() for p in self.patterns) / 2)

    def observable(self) -> str:
        return "the crash site (RIP/pc)"

    def check(self, ctx: EvalContext) -> Result:
        report = ctx.report
        fn = report.panic.function
        expected = " or ".join(p.text for p in self.patterns)
        if fn is None:
            return Result(Tri.UNKNOWN, expected, None)
        observed = fn if report.panic.offset is None else f"{fn}+{report.panic.offset:#x}"
        return Result(Tri.of(any(p.matches(fn, report.panic.module) for p in self.patterns)), expected, observed)


class CrashSiteClause(Clause):
    """Where the crash happened, generic helpers looked through: a ``skb_under_panic``
    raised by ``skb_push`` for ``nsh_gso_segment`` crashed at ``nsh_gso_segment``; a
    KASAN report in ``memcpy`` called by ``skb_segment`` at ``skb_segment``. The
    helper and report-machinery tables are gsotriage.kernel.frames."""

    role = "site"
    kind = "crash_site"
    description = (
        "the first frame from the top that is not report machinery or a generic helper "
        "(memcpy, skb_push/skb_put -> skb_panic, kfree...); alternatives allowed"
    )
    schema = STR_OR_LIST

    def __init__(self, arg: Any) -> None:
        super().__init__(arg)
        self.patterns = [FramePattern.parse(p) for p in as_list(arg)]

    def describe(self) -> str:
        return "crash site " + " or ".join(p.text for p in self.patterns)

    def background(self) -> float:
        return min(0.5, sum(p.background() for p in self.patterns) / 2)

    def observable(self) -> str:
        return "the crash site (RIP/pc and the helpers above the caller)"

    def check(self, ctx: EvalContext) -> Result:
        expected = " or ".join(p.text for p in self.patterns)
        names: List[str] = []
        for name, _ in ctx.stack:
            name = base_name(name)
            if MACHINERY.match(name) or (names and names[-1] == name):
                continue
            names.append(name)
        i = site_index(names, plumbing=True)
        if i is None:
            return Result(Tri.UNKNOWN, expected, None if not names else "only helpers: " + " <- ".join(names[:6]))
        helpers = f" (under {' <- '.join(names[:i])})" if i else ""
        return Result(Tri.of(any(p.matches(names[i], None) for p in self.patterns)), expected, names[i] + helpers)
