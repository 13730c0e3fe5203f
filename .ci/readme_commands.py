#!/usr/bin/env python3
"""Print the shell commands of one README section's first ```sh block, one per line,
comments stripped: .ci/run executes the README's install/run/test lines verbatim."""

import re
import sys
from pathlib import Path

SECTIONS = {
    "install": "## Install",
    "run": "## Run it on the bundled real example",
    "test": "## Run the tests",
}

text = Path(__file__).resolve().parent.parent.joinpath("README.md").read_text(encoding="utf-8")
title = SECTIONS[sys.argv[1]]
start = text.index(title)
block = re.search(r"```sh\n(.*?)\n```", text[start:], re.S)
if block is None:
    sys.exit(f"README: no ```sh block under {title!r}")
for line in block.group(1).splitlines():
    line = line.split("  #", 1)[0].strip()
    if line and not line.startswith("#"):
        print(line)
