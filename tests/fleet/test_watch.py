"""``submit --watch``: a crash is submitted once, when complete (the kdump tools' ``-incomplete``
names gone and nothing changing, or our hooks' marker), and not again after a restart."""

from __future__ import annotations

import os
import time

import pytest

from gsotriage.fleet.watch import READY_MARKER, Watcher, is_complete
from tests.conftest import CONSOLE_61, SEED
from tests.fleet.helpers import run_gsotriage

ELF_CORE = b"\x7fELF\x02\x01\x01" + bytes(9) + b"\x04\x00" + bytes(100)


def _age(path, seconds):
    """Make everything in ``path`` look ``seconds`` old."""
    then = time.time() - seconds
    for p in [path, *path.iterdir()] if path.is_dir() else [path]:
        os.utime(p, (then, then))


def test_a_kdump_tools_directory_is_submitted_once_complete(tmp_path):
    root = tmp_path / "crash"
    stamp = root / "202611260301"
    stamp.mkdir(parents=True)
    (stamp / "dmesg.202611260301").write_bytes(CONSOLE_61.read_bytes())
    (stamp / "dump-incomplete").write_bytes(ELF_CORE)  # makedumpfile still writing
    sent = []
    watcher = Watcher([str(root)], sent.append, settle=5, state=tmp_path / "state")
    _age(stamp, 60)
    assert watcher.scan() == [] and not is_complete(str(stamp), 5)
    os.rename(stamp / "dump-incomplete", stamp / "dump.202611260301")  # what kdump-config does when done
    assert watcher.scan() == []  # just changed: settling
    _age(stamp, 60)
    assert watcher.scan() == [str(stamp)]
    assert watcher.scan() == []  # once
    restarted = Watcher([str(root)], sent.append, settle=5, state=tmp_path / "state")
    assert restarted.scan() == []  # the state file remembers
    (stamp / "dmesg.202611260301").write_bytes(SEED.read_bytes())  # the crash changed: a new input
    _age(stamp, 60)
    assert restarted.scan() == [str(stamp)]
    assert sent == [[str(stamp)], [str(stamp)]]


def test_a_rhel_directory_with_the_hook_marker_needs_no_settling(tmp_path):
    root = tmp_path / "crash"
    d = root / "127.0.0.1-2026-11-26-03:01:02"
    d.mkdir(parents=True)
    (d / "vmcore-dmesg.txt").write_bytes(CONSOLE_61.read_bytes())
    (d / "vmcore").write_bytes(ELF_CORE)
    (d / "single.log").write_bytes(b"")  # other files do not matter
    sent = []
    watcher = Watcher([str(root)], sent.append, settle=3600, state=tmp_path / "state")
    assert watcher.scan() == []
    (d / READY_MARKER).write_text("0\n")
    assert watcher.scan() == [str(d)]


def test_loose_logs_in_a_watched_directory(tmp_path):
    (tmp_path / "in").mkdir()
    log = tmp_path / "in" / "console.log"
    log.write_bytes(SEED.read_bytes())
    (tmp_path / "in" / "notes.md").write_text("not an input\n")
    sent = []
    watcher = Watcher([str(tmp_path / "in")], sent.extend, settle=0, state=tmp_path / "state")
    assert watcher.scan() == [str(log)] and sent == [str(log)]


@pytest.mark.services
def test_watch_once_queues_what_is_complete(tmp_path, redis_server):
    root = tmp_path / "crash"
    root.mkdir()
    for i in range(3):
        d = root / f"20261126030{i}"
        d.mkdir()
        (d / f"dmesg.20261126030{i}").write_bytes(CONSOLE_61.read_bytes())
        (d / f"dump.20261126030{i}").write_bytes(ELF_CORE)
        _age(d, 60)
    (root / "202611260309").mkdir()
    (root / "202611260309" / "dump-incomplete").write_bytes(ELF_CORE)
    args = ["submit", "--watch", str(root), "--once", "--broker", redis_server.url, "--state", str(tmp_path / "s")]
    p = run_gsotriage(tmp_path, *args)
    assert p.returncode == 0, p.stderr
    assert p.stdout.count("queued ") == 3 and "submitted 3 new input(s)" in p.stderr
    client = redis_server.client()
    queued = sum(client.llen(k) for k in client.keys("gsotriage.*"))
    assert queued == 3
    p = run_gsotriage(tmp_path, *args)
    assert p.returncode == 0 and "queued" not in p.stdout
