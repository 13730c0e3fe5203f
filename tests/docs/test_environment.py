"""Every environment variable the package reads is documented in the README's Environment table
(issue 15: GSOTRIAGE_TEST_HOOKS was a hidden switch, GSOTRIAGE_DEBUGINFOD was in the runbook only)."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Set

from tests.conftest import ROOT

PACKAGE = ROOT / "gsotriage"
# Read by the standard library on our behalf (tempfile): documented, not findable in our source.
IMPLICIT = {"TMPDIR"}


def _is_environ(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
        isinstance(node, ast.Name) and node.id == "environ"
    )


def names_read(path: Path) -> Set[str]:
    found: Set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        key = None
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            if (
                isinstance(func, ast.Attribute)
                and func.attr in ("get", "setdefault", "pop")
                and _is_environ(func.value)
            ):
                key = node.args[0]
            elif isinstance(func, ast.Attribute) and func.attr == "getenv":
                key = node.args[0]
        elif isinstance(node, ast.Subscript) and _is_environ(node.value):
            key = node.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            found.add(key.value)
        # Names handed to a settings helper (collect/settings.py: _flag("GSOTRIAGE_X", ...)).
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and re.fullmatch(r"GSOTRIAGE_[A-Z0-9_]+", node.value)
        ):
            found.add(node.value)
    return found


def documented() -> Set[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Environment") :]
    section = section[: section.index("\n## ")]
    return set(re.findall(r"`([A-Z][A-Z0-9_]+)`", section))


def test_every_variable_the_package_reads_is_in_the_readme():
    read = set().union(*(names_read(p) for p in PACKAGE.rglob("*.py")))
    assert read, "the scan found nothing: it is broken"
    missing = sorted(read - documented())
    assert not missing, f"read by the package but not in README's Environment table: {missing}"


def test_the_table_lists_nothing_the_package_does_not_read():
    read = set().union(*(names_read(p) for p in PACKAGE.rglob("*.py"))) | IMPLICIT
    stale = sorted(documented() - read - {"DEBUGINFOD_URLS"})
    assert not stale, f"documented but never read: {stale}"


def test_no_hidden_test_switches():
    read = set().union(*(names_read(p) for p in PACKAGE.rglob("*.py")))
    assert not [n for n in read if "TEST" in n or "HOOK" in n]
