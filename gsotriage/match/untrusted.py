"""A signature library is untrusted input: bounds on reading it.

Signature files come from users and CI checkouts, so loading one must stay
cheap and local whatever it holds. This module says what is refused, each
refusal a :class:`LibraryBound` with the line it concerns (the loader turns it
into a ``file:line`` error, exit 4):

* anything but a regular file (a FIFO named ``x.yaml`` would block forever),
  and files over :data:`MAX_FILE_BYTES`;
* YAML whose node graph, with aliases expanded, has more than
  :data:`MAX_NODES` nodes (an alias bomb: a few lines that expand to
  billions), is nested deeper than :data:`MAX_DEPTH`, or refers to itself;
* a test case's ``input`` outside the directory of its signature file (an
  absolute path, ``..``, or a symlink that leads out).

Patterns are the regex engine's business (gsotriage/match/regex.py).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any, Dict, List, Optional, Set, Tuple

import yaml

__all__ = ["MAX_DEPTH", "MAX_FILE_BYTES", "MAX_NODES", "LibraryBound", "check_node_graph", "confine_input", "read_file"]

# The largest built-in signature is 8 KB and ~600 nodes; these leave room for 100x that.
MAX_FILE_BYTES = 1 << 20
MAX_NODES = 100_000
MAX_DEPTH = 64


class LibraryBound(Exception):
    """A signature file refused before it is interpreted; ``line`` is 1-based or None."""

    def __init__(self, message: str, line: Optional[int] = None) -> None:
        super().__init__(message)
        self.line = line


def read_file(path: Path) -> bytes:
    """The bytes of a regular file of at most MAX_FILE_BYTES, without ever blocking on a FIFO or device."""
    try:
        # O_NONBLOCK: opening a FIFO with no writer returns at once; fstat then refuses it.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise LibraryBound(f"cannot read: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise LibraryBound("not a regular file (a FIFO, device or socket is never read as a signature)")
        if st.st_size > MAX_FILE_BYTES:
            raise LibraryBound(f"file of {st.st_size:,} bytes; a signature file holds at most {MAX_FILE_BYTES:,}")
        data = f.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise LibraryBound(f"file grew past {MAX_FILE_BYTES:,} bytes while being read")
    return data


def _children(node: yaml.Node) -> List[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def check_node_graph(root: Optional[yaml.Node]) -> None:
    """Refuse a composed YAML document whose expanded size, depth or recursion is out of bounds.

    Aliases make the graph a DAG (or a cycle); the expanded size is counted
    with each shared node's size computed once, so the check is linear in the
    number of distinct nodes however large the expansion.
    """
    if root is None:
        return
    size: Dict[int, int] = {}
    open_: Set[int] = set()
    stack: List[Tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, closing = stack.pop()
        key = id(node)
        if closing:
            open_.discard(key)
            total = 1 + sum(size[id(c)] for c in _children(node))
            if total > MAX_NODES:
                raise LibraryBound(
                    f"YAML expands to more than {MAX_NODES:,} nodes (anchors and aliases: an alias bomb?)", _line(node)
                )
            size[key] = total
            continue
        if key in size:
            continue
        if depth > MAX_DEPTH:
            raise LibraryBound(f"YAML nested deeper than {MAX_DEPTH} levels", _line(node))
        open_.add(key)
        stack.append((node, depth, True))
        for child in _children(node):
            if id(child) in open_:
                raise LibraryBound("YAML alias refers to a node that contains it (a recursive structure)", _line(child))
            if id(child) not in size:
                stack.append((child, depth + 1, False))


def confine_input(signature_file: Path, relative: Any) -> Optional[str]:
    """Why a test case's ``input`` is refused, or None: it must name a file inside the signature's directory."""
    if not isinstance(relative, str) or not relative:
        return None  # the schema's business
    if os.path.isabs(relative) or relative.startswith("~"):
        return f"test input {relative!r} must be a path relative to the signature file"
    if ".." in Path(relative).parts:
        return f"test input {relative!r} must not leave the signature's directory ('..')"
    base = signature_file.parent.resolve()
    target = (base / relative).resolve()
    if target != base and base not in target.parents:
        return f"test input {relative!r} leads outside the signature's directory (to {target})"
    return None
