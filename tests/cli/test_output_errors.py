"""Closed or full standard output (issue 15, F9): exit 74 with one line, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from gsotriage.errors import BATCH_EXITS, EXITS, REGRESS_EXITS, BatchExit, Exit
from tests.conftest import ROOT, SEED

COMMANDS = [
    ["analyze", str(SEED)],
    ["analyze", str(SEED), "--format", "json"],
    ["signatures", "list"],
    ["signatures", "show", "gso-tunnel-tcp-metadata-geometry-mismatch"],
    ["--help"],
    ["analyze", "--help"],
]
ENTRY = "import sys; from gsotriage.cli import entry; sys.argv[0] = 'gsotriage'; entry()"


def run(args, stdout, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), GSOTRIAGE_DB=str(tmp_path / "h.sqlite3"), NO_COLOR="1")
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from gsotriage.cli import entry; sys.argv[0] = 'gsotriage'; entry()",
            *args,
        ],
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        timeout=120,
        cwd=tmp_path,
    )


def closed_stdout(args, tmp_path):
    """Run with file descriptor 1 closed, as `gsotriage ... >&-` does."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), GSOTRIAGE_DB=str(tmp_path / "h.sqlite3"))
    cmd = " ".join(["exec", sys.executable, "-c", repr(ENTRY), *[repr(a) for a in args], ">&-"])
    return subprocess.run(["sh", "-c", cmd], stderr=subprocess.PIPE, text=True, env=env, timeout=120, cwd=tmp_path)


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_full_stdout_is_exit_74_and_one_line(args, tmp_path):
    with open("/dev/full", "w") as full:
        proc = run(args, full, tmp_path)
    assert proc.returncode == Exit.OUTPUT, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "gsotriage: error: cannot write the output: No space left on device"


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_closed_stdout_is_exit_74_and_one_line(args, tmp_path):
    proc = closed_stdout(args, tmp_path)
    assert proc.returncode == Exit.OUTPUT, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "cannot write the output" in proc.stderr


def test_a_reader_that_stops_reading_ends_quietly(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), GSOTRIAGE_DB=str(tmp_path / "h.sqlite3"), NO_COLOR="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gsotriage", "analyze", str(SEED), "--format", "json", "-v"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=tmp_path,
    )
    proc.stdout.read(10)
    proc.stdout.close()  # the document is ~100 KB: the rest hits a closed pipe
    err = proc.stderr.read().decode()
    code = proc.wait(60)
    assert "Traceback" not in err and "Exception ignored" not in err
    assert code in (Exit.OUTPUT, Exit.ROOT_CAUSE)  # ROOT_CAUSE when all of it fit in the pipe buffer


def test_batch_results_to_a_full_disk_is_exit_74_not_a_lost_result(tmp_path):
    """A failing results write was taken for a dead worker: the result vanished and the batch said 0."""
    proc = run(["batch", str(SEED), "-o", "/dev/full", "--no-record", "--no-progress"], subprocess.PIPE, tmp_path)
    assert proc.returncode == BatchExit.OUTPUT, proc.stderr
    assert "No space left on device" in proc.stderr and "Traceback" not in proc.stderr


def test_exit_74_is_in_every_table():
    for table in (EXITS, BATCH_EXITS, REGRESS_EXITS):
        assert 74 in {int(k) for k in table}
