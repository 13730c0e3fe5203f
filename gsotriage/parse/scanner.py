"""The top-level line dispatcher.

A text may be a console log, a crash(8) session, or a page that pastes both.
``crash>`` prompts split a session into command blocks, each handled by the
parser its command names (``COMMANDS``); text outside any command block is
recognised by shape (bt lines, ``sys`` lines, struct printouts) and
everything else goes to the console scanner.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from .console import ConsoleScanner
from .crash_bt import BtScanner
from .crash_struct import StructBlock, flatten, parse_value, struct_header
from .crash_sys import match_sys_line
from .kernel_info import match_prose_release
from .normalize import Normalized, split_merged
from .wraps import join_wrapped, wrap_candidate

__all__ = ["COMMANDS", "Dispatcher", "Scan"]

_PROMPT = re.compile(r"^crash(?:\d+)?>\s*(?P<cmd>.*)$")
_P_SCALAR = re.compile(r"^\$\d+ = (?P<value>[^{].*)$")
_MEMBER = re.compile(r"(?:->|\.)(?P<name>\w+)\s*\)?\s*$")

# crash command -> handler
COMMANDS = {
    "bt": "bt",
    "foreach": "bt",
    "log": "console",
    "dmesg": "console",
    "sys": "sys",
    "struct": "struct",
    "union": "struct",
    "p": "struct",
    "print": "struct",
    "px": "struct",
    "pd": "struct",
    "*": "struct",
}
_MAX_STRUCT_LINES = 5000
_MAX_STRUCTS = 32
# The first lines are always read in full: a short paste (a ticket, a crash(8)
# session) is classified by all its lines, and skipping only pays off later.
_READ_ALL_FIRST = 200


@dataclass
class Scan:
    console: ConsoleScanner = field(default_factory=ConsoleScanner)
    bt: BtScanner = field(default_factory=BtScanner)
    sys: Dict[str, str] = field(default_factory=dict)
    structs: List[StructBlock] = field(default_factory=list)
    tags: Counter[str] = field(default_factory=Counter)
    prompts: int = 0
    commands: int = 0  # prompts that carried a command
    lines: int = 0
    loose_lines: int = 0  # non-empty lines outside command blocks that fed the console scanner
    prose_release: Optional[str] = None
    limits: List[str] = field(default_factory=list)


class Dispatcher:
    """Routes each line to the parser of what it is (a :class:`~gsotriage.parse.lines.LineSink`)."""

    def __init__(self) -> None:
        self.scan = Scan()
        self.mode: Optional[str] = None  # handler of the current crash command
        self.command = ""
        self.struct_lines: Optional[List[str]] = None
        self.struct_depth = 0
        self.struct_start = 0
        self.struct_type: Optional[str] = None
        self.struct_addr: Optional[int] = None
        self.struct_origin = ""
        self.open_block = False
        self.pending: Optional[Tuple[int, Normalized]] = None  # a line the next one may complete

    @property
    def idle(self) -> bool:
        """True when a line without a keyword cannot change the result."""
        return (
            self.scan.lines >= _READ_ALL_FIRST
            and self.struct_lines is None
            and self.mode in (None, "console", "ignore")
            and self.scan.console.idle
            and self.scan.bt.idle(self.scan.lines)
            and self.pending is None
        )

    def limit(self, sentence: str) -> None:
        if sentence not in self.scan.limits and len(self.scan.limits) < 16:
            self.scan.limits.append(sentence)

    def feed(self, n: int, raw: str) -> None:
        scan = self.scan
        scan.lines = n
        for part in split_merged(raw):
            for tag in part.tags:
                scan.tags[tag] += 1
            pending = self.pending
            if pending is not None:
                self.pending = None
                joined = join_wrapped(pending[1], part)
                if joined is not None:
                    self._feed_part(pending[0], joined)
                    continue
                self._feed_part(*pending)
            if wrap_candidate(part):
                self.pending = (n, part)
            else:
                self._feed_part(n, part)

    def _feed_part(self, n: int, part: Normalized) -> None:
        self._feed(n, part.text, part.caller, "quoted" in part.tags)

    def _feed(self, n: int, line: str, caller: Optional[str], quoted: bool) -> None:
        scan = self.scan
        prompt = _PROMPT.match(line)
        if prompt:
            self._flush_struct()
            scan.prompts += 1
            self.command = prompt.group("cmd").strip()
            scan.commands += bool(self.command)
            name = self.command.split()[0] if self.command else ""
            self.mode = COMMANDS.get(name, "ignore") if name else None
            if self.mode == "struct":
                self._start_struct(n, None, None, "crash transcript", open_block=False)
                self._command_target()
            return
        if self.struct_lines is not None:
            self._struct_line(n, line)
            return
        mode = self.mode
        if mode == "console":
            scan.console.feed(n, line, caller, quoted)
        elif mode == "bt":
            scan.bt.feed(n, line)
        elif mode == "sys":
            self._sys_line(line)
        elif mode is None:
            self._by_shape(n, line, caller, quoted)

    def _command_target(self) -> None:
        parts = self.command.split()
        if parts[0] in ("struct", "union") and len(parts) >= 2:
            self.struct_type = parts[1].split(".")[0]
            for token in parts[2:]:
                try:
                    self.struct_addr = int(token, 16)
                except ValueError:
                    continue
        else:
            m = re.search(r"struct (\w+) \*\)\s*\(?(?:0x)?([0-9a-f]{8,16})", self.command)
            if m:
                self.struct_type, self.struct_addr = m.group(1), int(m.group(2), 16)

    def _by_shape(self, n: int, line: str, caller: Optional[str], quoted: bool) -> None:
        scan = self.scan
        header = struct_header(line)
        if header is not None:
            self._start_struct(n, header[0], header[1], "reporter's struct summary", open_block=True)
            self.struct_lines = [line]
            self.struct_depth = 1
            return
        if scan.bt.feed(n, line):
            return
        sys_line = match_sys_line(line)
        if sys_line is not None:
            scan.sys.setdefault(*sys_line)
            return
        if line:
            scan.loose_lines += 1
            if scan.prose_release is None:
                scan.prose_release = match_prose_release(line)
        scan.console.feed(n, line, caller, quoted)

    def _sys_line(self, line: str) -> None:
        sys_line = match_sys_line(line)
        if sys_line is not None:
            self.scan.sys.setdefault(*sys_line)

    # -------------------------------------------------------------- structs

    def _start_struct(
        self, n: int, type_name: Optional[str], addr: Optional[int], origin: str, open_block: bool
    ) -> None:
        self.struct_lines = []
        self.struct_depth = 0
        self.struct_start = n
        self.struct_type = type_name
        self.struct_addr = addr
        self.struct_origin = origin
        self.open_block = open_block

    def _struct_line(self, n: int, line: str) -> None:
        lines = self.struct_lines
        assert lines is not None
        if self.mode == "struct" and not self.open_block:
            # Inside a "crash> struct ..." block: everything up to the next prompt.
            if struct_header(line) is not None and lines and self.struct_depth == 0:
                # "struct sk_buff ffff... ffff..." prints several structs.
                self._flush_struct()
                self._start_struct(n, self.struct_type, None, "crash transcript", open_block=False)
                lines = self.struct_lines
                assert lines is not None
            m = _P_SCALAR.match(line)
            if m and not lines:
                member = _MEMBER.search(self.command)
                if member:
                    lines.append(f"{member.group('name')} = {m.group('value')}")
                return
        if len(lines) < _MAX_STRUCT_LINES:
            lines.append(line)
        elif len(lines) == _MAX_STRUCT_LINES:
            self.limit(f"a struct printout longer than {_MAX_STRUCT_LINES} lines: the rest was not read")
        self.struct_depth += _brace_delta(line)
        if header := struct_header(line):
            self.struct_type = self.struct_type or header[0]
        if self.open_block and self.struct_depth <= 0:
            self._flush_struct()

    def _flush_struct(self) -> None:
        lines = self.struct_lines
        self.struct_lines = None
        if not lines:
            return
        if len(self.scan.structs) >= _MAX_STRUCTS:
            self.limit(f"more than {_MAX_STRUCTS} struct printouts: the later ones were not read")
            return
        try:
            fields: Dict[str, Any] = flatten(parse_value(lines))
        except (RecursionError, IndexError, ValueError) as exc:
            self.limit(f"a struct printout at line {self.struct_start} could not be read ({type(exc).__name__})")
            return
        if fields:
            self.scan.structs.append(
                StructBlock(self.struct_start, self.struct_type, self.struct_addr, self.struct_origin, fields)
            )

    def finish(self) -> Scan:
        if self.pending is not None:
            self._feed_part(*self.pending)
            self.pending = None
        self._flush_struct()
        return self.scan


def _brace_delta(line: str) -> int:
    delta = 0
    quote = ""
    escaped = False
    for ch in line:
        if escaped:
            escaped = False
        elif quote:
            if ch == "\\":
                escaped = True
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "{":
            delta += 1
        elif ch == "}":
            delta -= 1
    return delta
