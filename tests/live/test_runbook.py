"""docs/runbook.md, tested by running its commands on a factory dump.

Every fenced ```sh block whose first line is ``# runbook-test: <promise>`` is run line by
line with bash, after laying out the factory's seed dump the way the runbook describes:
a RHEL kdump crash directory (``vmcore`` + ``vmcore-dmesg.txt``), a Debian one
(``dump.<stamp>`` + ``dmesg.<stamp>``), a bare ``vmcore`` in the working directory, the
-dbg vmlinux and a debug tree. The only rewrites are path roots (/var/crash, /srv/debug,
/usr/lib/debug/boot live under the test's tmp dir or the factory cache) and ``gsotriage``
resolving to this checkout. Each promise is checked by PROMISES below; a new marked block
with an unknown promise fails until it gets a check.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import pytest
from live_support import REPO, SEED, Kernel

pytestmark = pytest.mark.vmcore

RUNBOOK = REPO / "docs" / "runbook.md"
RHEL_DIR = "/var/crash/127.0.0.1-2026-11-26-01:55:10/"
DEBIAN_DIR = "/var/crash/202611260155/"


def marked_blocks(text: str) -> List[Tuple[str, List[str]]]:
    out = []
    for body in re.findall(r"^```sh\n(.*?)^```", text, flags=re.S | re.M):
        lines = body.splitlines()
        if lines and lines[0].startswith("# runbook-test:"):
            promise = lines[0].split(":", 1)[1].strip()
            cmds = [ln for ln in lines[1:] if ln.strip() and not ln.lstrip().startswith("#")]
            out.append((promise, cmds))
    return out


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy(src, dst)


class Layout:
    def __init__(self, root: Path, kernel: Kernel) -> None:
        seed = next(m for m in kernel.manifests if m.data.get("scenario") == SEED)
        dump, console = seed.file("kdump_makedumpfile"), seed.file("console")
        assert dump and console, f"{seed.path}: no makedumpfile dump or console log"
        self.root, self.kernel, self.seed_class = root, kernel, seed.expect["class"]
        rhel = root / RHEL_DIR.strip("/")
        deb = root / DEBIAN_DIR.strip("/")
        for d in (rhel, deb, root / "srv/debug", root / "bin"):
            d.mkdir(parents=True)
        # Hard links (or copies), not symlinks: files symlinked out of a crash directory are not followed.
        _link_or_copy(dump, rhel / "vmcore")
        (rhel / "vmcore-dmesg.txt").write_bytes(Path(console).read_bytes())
        _link_or_copy(dump, deb / "dump.202611260155")
        (deb / "dmesg.202611260155").write_bytes(Path(console).read_bytes())
        (root / "vmcore").symlink_to(dump)
        (root / "srv/debug" / kernel.vmlinux.name).symlink_to(kernel.vmlinux)
        wrapper = root / "bin" / "gsotriage"
        wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m gsotriage "$@"\n')
        wrapper.chmod(0o755)

    def rewrite(self, cmd: str) -> str:
        cmd = cmd.replace("/var/crash/", f"{self.root}/var/crash/").replace("/srv/debug", f"{self.root}/srv/debug")
        return cmd.replace("/usr/lib/debug/boot/", f"{self.kernel.vmlinux.parent}/")

    def run(self, cmd: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "NO_COLOR": "1", "REL": self.kernel.release}
        env["PATH"] = f"{self.root / 'bin'}:{env['PATH']}"
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
        env.pop("FORCE_COLOR", None)
        return subprocess.run(
            ["bash", "-c", self.rewrite(cmd)], cwd=self.root, env=env, capture_output=True, text=True, timeout=300
        )


def _osrelease(lay: Layout, p: subprocess.CompletedProcess) -> None:
    assert p.returncode == 0 and p.stdout.strip() == f"OSRELEASE={lay.kernel.release}", p.stdout


def _class_named(lay: Layout, p: subprocess.CompletedProcess) -> None:
    assert p.returncode == 0, (p.returncode, p.stderr[-2000:])
    assert lay.seed_class in p.stdout
    assert "DEGRADED" not in p.stdout and '"degraded": true' not in p.stdout


def _degraded(lay: Layout, p: subprocess.CompletedProcess) -> None:
    assert p.returncode == 0, (p.returncode, p.stderr[-2000:])
    assert "DEGRADED" in p.stdout and lay.seed_class in p.stdout
    assert f"linux-image-{lay.kernel.release}-dbg" in p.stdout + p.stderr


PROMISES: Dict[str, Callable[[Layout, subprocess.CompletedProcess], None]] = {
    "prints OSRELEASE=<release>": _osrelease,
    "exit 0 and the root-cause class named (REL is the release from step 2)": _class_named,
    "DEGRADED, names linux-image-<release>-dbg": _degraded,
}


def test_runbook_has_tested_blocks() -> None:
    blocks = marked_blocks(RUNBOOK.read_text())
    assert {p for p, _ in blocks} == set(PROMISES), "runbook-test markers and PROMISES differ"
    assert all(cmds for _, cmds in blocks)


@pytest.fixture(scope="module")
def layout(kernel61: Kernel, tmp_path_factory: pytest.TempPathFactory) -> Layout:
    return Layout(tmp_path_factory.mktemp("runbook"), kernel61)


RUNBOOK_COMMANDS = [(p, c) for p, cmds in marked_blocks(RUNBOOK.read_text()) for c in cmds]


@pytest.mark.parametrize(
    "promise,cmd", [pytest.param(p, c, id=c.split("#")[0].strip()[:70]) for p, c in RUNBOOK_COMMANDS]
)
def test_runbook_command(layout: Layout, promise: str, cmd: str) -> None:
    if "GSOTRIAGE_NO_STANDARD_DEBUGINFO" not in cmd:
        # The documented commands find debug info the documented way; do not let a host
        # that happens to have /usr/lib/debug for this release mask a broken command.
        cmd = "export GSOTRIAGE_NO_STANDARD_DEBUGINFO=1; " + cmd
    p = layout.run(cmd)
    assert "Traceback" not in p.stderr
    PROMISES[promise](layout, p)
