"""Facts of the crash besides its site: kind, headline, fault address, BUG/WARN
file, telltale register values."""

from __future__ import annotations

from typing import Any

from gsotriage.match.regex import Pattern
from gsotriage.model import NATURE, PanicKind

from .base import RANGE, Clause, Result, Tri, as_list, hex_or_unknown
from .context import EvalContext

__all__ = ["BugFileClause", "FaultAddressClause", "MessageClause", "PanicKindClause", "RegisterValueClause"]


class PanicKindClause(Clause):
    role = "crash"
    kind = "panic_kind"
    description = "the kind of crash"
    schema = {
        "oneOf": [
            {"enum": [k.value for k in PanicKind]},
            {"type": "array", "items": {"enum": [k.value for k in PanicKind]}, "minItems": 1},
        ]
    }

    def describe(self) -> str:
        return "panic kind " + " or ".join(as_list(self.arg))

    def background(self) -> float:
        return min(0.8, 0.1 * len(as_list(self.arg)))

    def observable(self) -> str:
        return "the oops headline"

    def check(self, ctx: EvalContext) -> Result:
        report = ctx.report
        kinds = as_list(self.arg)
        observed = report.panic.kind
        if observed is None:
            return Result(Tri.UNKNOWN, " or ".join(kinds), None)
        if observed.value in kinds:
            return Result(Tri.TRUE, " or ".join(kinds), observed.value)
        # A crash of another nature (model.NATURE) is another bug, not a weaker match.
        natures = {NATURE.get(PanicKind(k)) for k in kinds}
        seen = NATURE.get(observed)
        if seen is None or None in natures or seen in natures:
            return Result(Tri.FALSE, " or ".join(kinds), observed.value)
        shown = f"{observed.value} (a {seen} report, not a {'/'.join(sorted(n for n in natures if n))} one)"
        return Result(Tri.FALSE, " or ".join(kinds), shown, decisive=True)


class MessageClause(Clause):
    role = "crash"
    kind = "message"
    description = "regular expression searched in the oops headline and the panic message"
    schema = {"type": "string", "minLength": 1, "format": "regex"}

    def __init__(self, arg: Any) -> None:
        super().__init__(arg)
        self.rx = Pattern(arg)

    def describe(self) -> str:
        return f"message =~ /{self.arg}/"

    def background(self) -> float:
        return 0.2

    def observable(self) -> str:
        return "the oops headline"

    def check(self, ctx: EvalContext) -> Result:
        report = ctx.report
        texts = [t for t in (report.panic.message, report.panic.panic_message) if t]
        if not texts:
            return Result(Tri.UNKNOWN, f"/{self.arg}/", None)
        return Result(Tri.of(any(self.rx.search(t) for t in texts)), f"/{self.arg}/", " | ".join(texts))


class FaultAddressClause(Clause):
    role = "crash"
    kind = "fault_address"
    description = "the faulting data address lies in [min, max] (e.g. NULL + small offset)"
    schema = RANGE

    def describe(self) -> str:
        return f"fault address in [{hex_or_unknown(self.arg.get('min'))}, {hex_or_unknown(self.arg.get('max'))}]"

    def background(self) -> float:
        return 0.3 if (self.arg.get("max") is not None and self.arg["max"] < 65536) else 0.2

    def observable(self) -> str:
        return "the fault address (CR2/far)"

    def implies(self, other: Clause) -> bool:
        """A range inside another's: [0x70, 0x77] implies [0x0, 0xfff]."""
        if not isinstance(other, FaultAddressClause) or other is self:
            return False
        lo, hi = self.arg.get("min"), self.arg.get("max")
        olo, ohi = other.arg.get("min"), other.arg.get("max")
        return (olo is None or (lo is not None and lo >= olo)) and (ohi is None or (hi is not None and hi <= ohi))

    def check(self, ctx: EvalContext) -> Result:
        report = ctx.report
        lo, hi = self.arg.get("min"), self.arg.get("max")
        expected = f"[{hex_or_unknown(lo)}, {hex_or_unknown(hi)}]"
        addr = report.panic.fault_address
        if addr is None:
            return Result(Tri.UNKNOWN, expected, None)
        ok = (lo is None or addr >= lo) and (hi is None or addr <= hi)
        return Result(Tri.of(ok), expected, hex(addr))


_ANY_FILES = ("net/core/dev.c", "mm/slub.c", "drivers/net/ethernet/intel/e1000/e1000_main.c")


class BugFileClause(Clause):
    role = "crash"
    kind = "bug_file"
    description = "the source file named by 'kernel BUG at' or 'WARNING: ... at' (regex)"
    schema = {"type": "string", "minLength": 1, "format": "regex"}

    def __init__(self, arg: Any) -> None:
        super().__init__(arg)
        self.rx = Pattern(arg)

    def describe(self) -> str:
        return f"BUG/WARN in file /{self.arg}/"

    def background(self) -> float:
        # A pattern that any source file satisfies ("." in the generic classes) is no evidence.
        return 0.9 if all(self.rx.search(f) for f in _ANY_FILES) else 0.1

    def observable(self) -> str:
        return "the BUG/WARN source line"

    def check(self, ctx: EvalContext) -> Result:
        report = ctx.report
        f = report.panic.bug_file
        if f is None:
            return Result(Tri.UNKNOWN, f"/{self.arg}/", None)
        return Result(Tri.of(self.rx.search(f)), f"/{self.arg}/", f)


class RegisterValueClause(Clause):
    """A telltale value in the exception registers (e.g. 0xffff = GSO_BY_FRAGS).

    Registers are only a snapshot: absence says little, so use it as supporting evidence.
    """

    role = "crash"
    kind = "register_value"
    description = "some general-purpose register at the exception holds one of these values"
    schema = {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 1}

    def describe(self) -> str:
        return "a register holds " + " or ".join(hex(v) for v in self.arg)

    def background(self) -> float:
        return min(0.5, 0.05 * len(self.arg))

    def observable(self) -> str:
        return "the exception registers"

    def check(self, ctx: EvalContext) -> Result:
        report = ctx.report
        regs = {k: v for k, v in report.registers.items() if k not in ("RIP", "RSP", "EFLAGS", "CS", "SS", "PC", "SP")}
        if not regs:
            return Result(Tri.UNKNOWN, self.describe(), None)
        hits = [f"{k}={v:#x}" for k, v in regs.items() if v in self.arg]
        return Result(Tri.of(bool(hits)), self.describe(), ", ".join(hits) if hits else "no register holds it")
