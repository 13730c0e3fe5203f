"""`qmp:` sockets that never answer (issue 15, F5): a socket that accepts and stays silent hung
`analyze` forever; now each stage has a deadline and the input is an error naming it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from gsotriage.collect.live import QmpTimeouts, collect_qmp, probe_qmp
from gsotriage.errors import InputError
from tests.conftest import ROOT

GREETING = b'{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}}, "capabilities": []}}\r\n'


class FakeQmp:
    """A Unix socket server; ``behaviours[i]`` says what its i-th client gets (the last one repeats):
    "silent" (accept, say nothing), "greet" (greeting, then silence), "answer" (greeting and the
    qmp_capabilities reply, then silence), "garbage"."""

    def __init__(self, path: Path, *behaviours: str) -> None:
        self.path = str(path)
        self.behaviours = list(behaviours)
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(self.path)
        self.server.listen(8)
        self.clients: list = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        n = 0
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.clients.append(conn)
            how = self.behaviours[min(n, len(self.behaviours) - 1)]
            n += 1
            if how == "garbage":
                conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
            if how in ("greet", "answer"):
                conn.sendall(GREETING)
            if how == "answer":
                conn.recv(4096)
                conn.sendall(b'{"return": {}}\r\n')

    def close(self) -> None:
        self.server.close()
        for c in self.clients:
            c.close()


@pytest.fixture
def fake(tmp_path):
    servers = []

    def make(*behaviours: str) -> FakeQmp:
        s = FakeQmp(tmp_path / f"qmp{len(servers)}.sock", *behaviours)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


def parse_log(text, path):  # the collector's injected parser; never reached here
    raise AssertionError("no kernel log expected")


@pytest.mark.parametrize(
    "behaviour, message",
    [
        ("silent", "no QMP greeting within the timeout"),
        ("greet", "no answer to qmp_capabilities within the timeout"),
        ("garbage", "not a QMP socket"),
    ],
)
def test_probe_names_what_did_not_come(fake, behaviour, message):
    server = fake(behaviour)
    t0 = time.monotonic()
    with pytest.raises(InputError, match=message):
        probe_qmp(server.path, timeout=1.0)
    assert time.monotonic() - t0 < 5


def test_guest_that_answers_the_probe_then_wedges_is_stopped_at_the_attach_deadline(fake):
    """drgn's set_qemu_qmp blocks in C, deaf to signals: it runs in a child that is killed."""
    pytest.importorskip("drgn")
    server = fake("answer", "greet")  # the probe is answered; drgn's own connection never is
    t0 = time.monotonic()
    with pytest.raises(InputError, match="no progress within 3s while attaching"):
        collect_qmp(server.path, None, [], parse_log, QmpTimeouts(probe=2.0, attach=3.0))
    assert time.monotonic() - t0 < 30


def test_analyze_on_a_silent_socket_exits_3_instead_of_hanging(fake, tmp_path):
    server = fake("silent")
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "gsotriage", "analyze", f"qmp:{server.path}", "--no-progress"],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        timeout=120,
    )
    assert proc.returncode == 3, proc.stderr
    assert "no QMP greeting" in proc.stderr and "Traceback" not in proc.stderr
    assert time.monotonic() - t0 < 60
