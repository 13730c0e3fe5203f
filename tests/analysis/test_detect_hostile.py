"""Input detection on hostile file systems (issue 15): an unreadable directory is exit 3 with a
clear message (F1), a crash directory's files symlinked outside it are not followed (F13)."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gsotriage.analysis import analyze_path, detect, read_report
from gsotriage.batch.discover import discover
from gsotriage.batch.keys import input_key
from gsotriage.errors import InputError
from tests.conftest import ROOT, SEED


def deny(monkeypatch, *denied: Path) -> None:
    """os.scandir fails with EACCES on ``denied``, as for a user without read permission."""
    real = os.scandir
    names = {os.fspath(p) for p in denied}

    def scandir(path="."):
        if os.fspath(path) in names:
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)


def test_unreadable_directory_is_an_input_error(tmp_path, monkeypatch):
    d = tmp_path / "crash"
    d.mkdir()
    deny(monkeypatch, d)
    with pytest.raises(InputError, match="cannot list the directory: Permission denied"):
        detect(str(d))


def test_batch_does_not_skip_an_unreadable_directory_silently(tmp_path, monkeypatch):
    """It said "no inputs found" (or crashed computing keys): now it is an input whose line says why."""
    top = tmp_path / "logs"
    (top / "ok").mkdir(parents=True)
    shutil.copy(SEED, top / "ok" / "seed.txt")
    (top / "locked").mkdir()
    deny(monkeypatch, top / "locked", tmp_path / "alone")
    (tmp_path / "alone").mkdir()
    found = discover([str(top), str(tmp_path / "alone")])
    assert str(top / "locked") in found.inputs and str(tmp_path / "alone") in found.inputs
    assert str(top / "ok" / "seed.txt") in found.inputs
    assert input_key(str(top / "locked"), tool_version="x", library_digest="y").startswith("stat:")


def test_unreadable_directory_from_the_cli_as_an_unprivileged_user(tmp_path):
    """The real thing, when this machine lets us run Python as nobody (root otherwise reads anything)."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to act as an unprivileged user")
    drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    probe = subprocess.run(
        [*drop, sys.executable, "-c", "import gsotriage"],
        capture_output=True,
        cwd="/",
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    if probe.returncode != 0:
        pytest.skip(f"an unprivileged user cannot run this Python here: {probe.stderr.decode()[-200:]}")
    # pytest's tmp_path sits under a 0700 directory: work where "nobody" can walk.
    import tempfile

    tmp_path = Path(tempfile.mkdtemp(prefix="gsotriage-f1-"))
    tmp_path.chmod(0o755)
    home = tmp_path / "home"
    home.mkdir(mode=0o777)
    home.chmod(0o777)
    crash = tmp_path / "crash"
    crash.mkdir()
    shutil.copy(SEED, crash / "vmcore-dmesg.txt")
    crash.chmod(0)
    env = dict(os.environ, PYTHONPATH=str(ROOT), HOME=str(home), XDG_CACHE_HOME=str(home), GSOTRIAGE_DB=str(home / "h"))
    try:
        proc = subprocess.run(
            [*drop, sys.executable, "-m", "gsotriage", "analyze", str(crash)],
            capture_output=True,
            text=True,
            env=env,
            cwd="/",
            timeout=120,
        )
    finally:
        crash.chmod(0o755)
        shutil.rmtree(tmp_path, ignore_errors=True)
    assert proc.returncode == 3, proc.stderr
    assert "cannot list the directory: Permission denied" in proc.stderr and "Traceback" not in proc.stderr


def test_crash_dir_symlink_outside_is_not_followed(tmp_path):
    outside = tmp_path / "elsewhere.txt"
    shutil.copy(SEED, outside)
    crash = tmp_path / "crash"
    crash.mkdir()
    (crash / "vmcore-dmesg.txt").symlink_to(outside)
    with pytest.raises(InputError, match="outside the crash directory: not followed"):
        detect(str(crash))


def test_crash_dir_symlink_inside_is_followed_and_outside_is_noted(tmp_path, library):
    crash = tmp_path / "crash"
    crash.mkdir()
    shutil.copy(SEED, crash / "saved-log.txt")
    (crash / "vmcore-dmesg.txt").symlink_to("saved-log.txt")
    (tmp_path / "big.txt").write_text("x\n")
    (crash / "dmesg.202611260301").symlink_to(tmp_path / "big.txt")
    kind = detect(str(crash))
    assert kind.dmesg == str(crash / "vmcore-dmesg.txt")
    assert any("dmesg.202611260301" in n and "not followed" in n for n in kind.notes)
    report = read_report(str(crash))
    assert report.panic.function is not None
    assert any("not followed" in n for n in report.notes)
    assert analyze_path(str(crash), library).document["summary"]["specific"]
