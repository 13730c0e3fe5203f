"""crash(8) ``bt`` output.

Ordering: crash lists the newest frame first. A ``--- <IRQ stack> ---`` line
marks a stack switch: the frames listed *before* it (since the previous
marker) ran on that stack; the frames after the last marker are on the task
stack. Frames listed before the first ``[exception RIP: ...]`` are crash's
own view of the panic machinery (``machine_kexec`` ... ``asm_exc_page_fault``)
and get context ``exception``; the exception RIP itself is the crash site and
is not a numbered frame. A later ``[exception RIP:]`` (e.g. the idle task an
interrupt hit) is not the crash site. crash prints offsets in DECIMAL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from gsotriage.model import Frame, StackContext

from .registers import match_registers

__all__ = ["PANIC_MACHINERY", "BtBlock", "BtScanner"]

_PID = re.compile(r'^PID: (?P<pid>\d+)\s+TASK: (?P<task>[0-9a-f]+)\s+CPU: (?P<cpu>\d+)\s+COMMAND: "(?P<comm>.*)"')
_FRAME = re.compile(
    r"^#(?P<n>\d+) \[(?P<sp>[0-9a-f]+)\] (?P<func>[\w.$]+) at (?P<addr>[0-9a-f]+)(?: \[(?P<mod>[\w-]+)\])?\s*$"
)
_EXCEPTION = re.compile(
    r"^\[exception RIP: (?:(?P<func>[A-Za-z_.$][\w.$]*)(?:\+(?P<off>\d+))?(?: \[(?P<mod>[\w-]+)\])?|(?P<bad>[^\]]*))\]$"
)
_STACK_MARKER = re.compile(r"^--- <(?P<name>[^>]+)> ---$")
# "bt -l": the source line printed under a frame.
_SOURCE = re.compile(r"^(?P<file>/?[\w./+-]+\.[chS]): (?P<line>\d+)$")

# crash's own frames of a panic, above the exception RIP.
PANIC_MACHINERY = frozenset(
    "machine_kexec __crash_kexec crash_kexec oops_end page_fault_oops kernelmode_fixup_or_oops "
    "__bad_area_nosemaphore bad_area_nosemaphore no_context do_page_fault __do_page_fault "
    "exc_page_fault asm_exc_page_fault page_fault do_general_protection exc_general_protection "
    "asm_exc_general_protection general_protection die do_trap do_error_trap do_invalid_op "
    "exc_invalid_op asm_exc_invalid_op handle_invalid_op invalid_op panic __die do_exit "
    "crash_nmi_callback nmi_handle default_do_nmi do_nmi exc_nmi end_repeat_nmi".split()
)


def _marker_context(name: str) -> StackContext:
    upper = name.upper()
    if upper.startswith("NMI"):
        return StackContext.NMI
    if "SOFTIRQ" in upper:
        return StackContext.SOFTIRQ
    if upper.startswith("IRQ"):
        return StackContext.IRQ
    return StackContext.EXCEPTION


@dataclass
class BtFrame:
    number: int
    function: str
    address: int
    module: Optional[str]
    source: Optional[str] = None


@dataclass
class BtException:
    position: int  # number of frames listed before it
    function: Optional[str]
    offset: Optional[int]
    module: Optional[str]
    registers: Dict[str, int] = field(default_factory=dict)


@dataclass
class BtBlock:
    line: int
    pid: Optional[int] = None
    task: Optional[int] = None
    cpu: Optional[int] = None
    comm: Optional[str] = None
    frames: List[BtFrame] = field(default_factory=list)
    exceptions: List[BtException] = field(default_factory=list)
    markers: List[Tuple[int, StackContext]] = field(default_factory=list)

    def build_frames(self) -> Tuple[List[Frame], bool, List[str]]:
        """-> (frames, complete, notes)."""
        notes: List[str] = []
        exception_end = self.exceptions[0].position if self.exceptions else 0
        if not self.exceptions:
            # No exception RIP: leading machinery frames are still crash's own.
            while exception_end < len(self.frames) and self.frames[exception_end].function in PANIC_MACHINERY:
                exception_end += 1
        contexts = [StackContext.TASK] * len(self.frames)
        start = 0
        for position, context in self.markers:
            for i in range(start, min(position, len(self.frames))):
                contexts[i] = context
            start = position
        frames = [
            Frame(
                function=f.function,
                module=f.module,
                context=StackContext.EXCEPTION if i < exception_end else contexts[i],
                address=f.address,
                source=f.source,
            )
            for i, f in enumerate(self.frames)
        ]
        numbers = [f.number for f in self.frames]
        gaps = [(a, b) for a, b in zip(numbers, numbers[1:]) if b != a + 1]
        # What the matcher needs is the stack from the crash site down. A paste that
        # starts at the "[exception RIP: ...]" line (frames #0..#N-1 above it are
        # crash's own panic machinery) still shows all of that; a gap does not.
        site_shown = bool(self.exceptions) and self.exceptions[0].position == 0
        complete = bool(numbers) and not gaps and (numbers[0] == 0 or site_shown)
        if numbers and numbers[0] > 0:
            first = numbers[0]
            cut = f"frames #0-#{first - 1}" if first > 1 else "frame #0"
            where = " (the panic machinery above the exception RIP)" if site_shown else ""
            notes.append(f"{cut} not shown{where}")
        for a, b in gaps:
            notes.append(f"bt frame numbering jumps from #{a} to #{b}")
        return frames, complete, notes


class BtScanner:
    def __init__(self) -> None:
        self.blocks: List[BtBlock] = []
        self._regs_for: Optional[BtException] = None
        self.lines = 0
        self.last = -10  # number of the last bt line

    def idle(self, n: int) -> bool:
        """True when a line without a keyword cannot continue a bt block
        (register and ``bt -l`` source lines follow their frame at once)."""
        return self._regs_for is None and n - self.last > 2

    def feed(self, n: int, line: str) -> bool:
        """Consume a bt line; False when the line is not bt output."""
        if self._feed(line, n):
            self.last = n
            return True
        return False

    def _feed(self, line: str, n: int) -> bool:
        m = _PID.match(line)
        if m:
            self._regs_for = None
            if len(self.blocks) < 64:
                self.blocks.append(
                    BtBlock(n, int(m.group("pid")), int(m.group("task"), 16), int(m.group("cpu")), m.group("comm"))
                )
            self.lines += 1
            return True
        block = self.blocks[-1] if self.blocks else None
        m = _FRAME.match(line)
        if m:
            self._regs_for = None
            if block is None:
                block = BtBlock(n)
                self.blocks.append(block)
            if len(block.frames) < 512:
                block.frames.append(
                    BtFrame(int(m.group("n")), m.group("func"), int(m.group("addr"), 16), m.group("mod"))
                )
            self.lines += 1
            return True
        m = _EXCEPTION.match(line)
        if m:
            if block is None:
                block = BtBlock(n)
                self.blocks.append(block)
            off = m.group("off")
            exc = BtException(len(block.frames), m.group("func"), int(off) if off else None, m.group("mod"))
            block.exceptions.append(exc)
            self._regs_for = exc
            self.lines += 1
            return True
        if self._regs_for is not None:
            regs = match_registers(line)
            if regs is not None:
                for name, value in regs.items():
                    self._regs_for.registers.setdefault(name, value)
                return True
            self._regs_for = None
        m = _STACK_MARKER.match(line)
        if m and block is not None:
            block.markers.append((len(block.frames), _marker_context(m.group("name"))))
            self.lines += 1
            return True
        m = _SOURCE.match(line)
        if m and block is not None and block.frames and block.frames[-1].source is None:
            block.frames[-1].source = f"{m.group('file')}:{m.group('line')}"
            return True
        return False

    def crash_block(self) -> Optional[BtBlock]:
        """The panic task's bt: the first with an exception RIP, else the first."""
        for block in self.blocks:
            if block.exceptions and block.exceptions[0].function:
                return block
        return self.blocks[0] if self.blocks else None
