"""The README states facts whose home is elsewhere; these tests keep them equal."""

from __future__ import annotations

import re

from gsotriage.errors import EXITS
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = README.index(title)
    end = README.find("\n## ", start + len(title))
    return README[start : end if end >= 0 else len(README)]


def test_exit_code_table_is_the_one_in_errors():
    rows = re.findall(r"^\| (\d+) \| (.+?) \|$", _section("### Exit codes"), re.M)
    assert {int(code): meaning for code, meaning in rows} == {int(k): v for k, v in EXITS.items()}


def test_the_two_commands_are_where_ci_reads_them():
    # .ci/readme_commands.py runs these blocks verbatim in a fresh venv.
    for title in ("## Install", "## Run it on the bundled real example", "## Run the tests"):
        assert re.search(r"```sh\n[^`]+\n```", _section(title)), title
