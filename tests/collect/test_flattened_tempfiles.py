"""The reassembled flattened dump never outlives the process (issue 15, F6): not on SIGTERM,
SIGHUP, SIGINT or SIGKILL, not on ``batch --timeout``; stale files of dead owners are swept; too
little free space is an input error before anything is written."""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gsotriage.collect import flattened
from gsotriage.collect.flattened import NoSpaceError, reassemble, sweep_stale
from tests.conftest import ROOT

MIB = 1 << 20


def big_flattened(path: Path, mib: int) -> Path:
    """A flattened file whose records hold ``mib`` MiB (a kdump header first, then 1 MiB records)."""
    head = (b"makedumpfile".ljust(16, b"\0") + struct.pack(">qq", 1, 1)).ljust(4096, b"\0")
    kdump = b"KDUMP   " + struct.pack("<i", 6) + b"".join(u.ljust(65, b"\0") for u in [b"Linux", b"n", b"6.1.0"])
    block = os.urandom(MIB)  # incompressible, never sparse
    with open(path, "wb") as f:
        f.write(head)
        f.write(struct.pack(">qq", 0, len(kdump)) + kdump)
        for i in range(mib):
            f.write(struct.pack(">qq", (i + 1) * MIB, MIB) + block)
        f.write(struct.pack(">qq", -1, -1))
    return path


def leftovers(tmpdir: Path) -> list:
    return sorted(p.name for p in tmpdir.iterdir() if p.name.startswith("gsotriage-"))


# The holder takes SIGINT as Python does in a foreground process: a runner started as a
# background job of a shell without job control inherits SIGINT ignored (the test hung then).
HOLDER = """
import signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)
from gsotriage.collect.flattened import reassemble
r = reassemble(sys.argv[1], sys.argv[2])
print(r.path, flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGKILL])
def test_no_temp_file_survives_a_signal(tmp_path, sig):
    src = big_flattened(tmp_path / "dump.flat", 8)
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(src), str(tmpdir)],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    try:
        line = proc.stdout.readline().strip()
        assert line, "the reassembly did not finish"
        # While the copy is in use it has no name in TMPDIR at all ...
        assert leftovers(tmpdir) == []
        assert os.path.getsize(f"/proc/{proc.pid}/fd/{line.rsplit('/', 1)[1]}") >= 8 * MIB
    finally:
        proc.send_signal(sig)
        proc.wait(30)
    # ... and nothing is left once the process is gone, however it went.
    assert leftovers(tmpdir) == []


def test_reassembled_copy_is_readable_by_path_and_freed_on_close(tmp_path):
    src = big_flattened(tmp_path / "dump.flat", 2)
    r = reassemble(str(src), str(tmp_path))
    assert Path(r.path).read_bytes()[:8] == b"KDUMP   "
    assert leftovers(tmp_path) == []
    r.close()
    assert r.fd == -1 and leftovers(tmp_path) == []


def test_stale_files_of_dead_owners_are_swept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / f"gsotriage-{dead_pid}-abcd1234.kdump"
    stale.write_bytes(b"x" * 100)
    live = tmp_path / f"gsotriage-{os.getppid()}-efgh5678.kdump"  # our parent is alive
    live.write_bytes(b"y")
    other = tmp_path / "gsotriage-notapid.kdump"
    other.write_bytes(b"z")
    assert sweep_stale(str(tmp_path)) == [str(stale)]
    assert not stale.exists() and live.exists() and other.exists()
    # reassemble sweeps before it writes
    stale.write_bytes(b"x")
    reassemble(str(big_flattened(tmp_path / "d.flat", 1)), str(tmp_path)).close()
    assert not stale.exists()


def test_too_little_free_space_is_refused_before_writing(tmp_path, monkeypatch):
    src = big_flattened(tmp_path / "dump.flat", 4)
    real = os.statvfs(tmp_path)

    class Small:
        f_frsize = real.f_frsize
        f_bavail = (16 * MIB) // real.f_frsize

    monkeypatch.setattr(flattened.os, "statvfs", lambda _p: Small())
    with pytest.raises(NoSpaceError, match="TMPDIR"):
        reassemble(str(src), str(tmp_path))
    assert leftovers(tmp_path) == []


def test_no_space_is_an_input_error_from_the_cli(tmp_path):
    """Exit 3 with one line naming TMPDIR, not a half-written file and a drgn error."""
    src = big_flattened(tmp_path / "dump.flat", 80)
    tmpdir = tmp_path / "small"
    tmpdir.mkdir()
    code = (
        "import os, sys\n"
        "from gsotriage.collect import flattened\n"
        "class Small:\n    f_frsize = 4096\n    f_bavail = 1024\n"
        "flattened.os.statvfs = lambda p: Small()\n"
        "from gsotriage.cli import run\n"
        "sys.exit(run(['analyze', sys.argv[1], '--no-progress']))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(src)],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT), TMPDIR=str(tmpdir)),
        timeout=120,
    )
    assert proc.returncode == 3, proc.stderr
    assert "TMPDIR" in proc.stderr and "Traceback" not in proc.stderr
    assert leftovers(tmpdir) == []


def test_batch_timeout_during_analysis_leaves_no_temp_file(tmp_path):
    """351 MB leaked per timed-out worker: the worker is SIGKILLed while it holds the copy."""
    from tests.batch.helpers import run_cli

    (tmp_path / "in").mkdir()
    src = big_flattened(tmp_path / "in" / "x__flatsleep__.flat", 16)
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    t0 = time.monotonic()
    proc = run_cli(
        tmp_path,
        "batch",
        str(src),
        "-o",
        str(tmp_path / "r.jsonl"),
        "--timeout",
        "3",
        "--no-record",
        "--no-progress",
        env={"TMPDIR": str(tmpdir)},
        faults=True,
    )
    assert proc.returncode == 1, proc.stderr
    assert '"status":"timeout"' in (tmp_path / "r.jsonl").read_text()
    assert time.monotonic() - t0 < 120
    assert leftovers(tmpdir) == []


def test_record_offset_past_lseek_range_is_a_format_error(tmp_path):
    """Found by bench/fuzz.py: OSError EINVAL from seek, not a FlattenedError."""
    head = (b"makedumpfile".ljust(16, b"\0") + struct.pack(">qq", 1, 1)).ljust(4096, b"\0")
    # 1 << 44 + 4096: within lseek's range, past ext4's largest file (found by the 10-minute campaign)
    for offset, size in ((1 << 62, 4), (0, 1 << 62), ((1 << 44) + 4096, 4)):
        src = tmp_path / "bad.flat"
        src.write_bytes(head + struct.pack(">qq", offset, size) + b"abcd" + struct.pack(">qq", -1, -1))
        with pytest.raises(flattened.FlattenedError):
            reassemble(str(src), str(tmp_path))
    assert leftovers(tmp_path) == []
