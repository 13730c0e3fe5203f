"""The kdump hooks in deploy/kdump, run by the system shell against a fake crash tree: the
Debian savecore hook saves, marks, submits and reboots in that order; the RHEL kdump_post hook
marks the newest saved crash directory; the watcher then takes (or skips) what they marked."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest

from gsotriage.fleet.watch import READY_MARKER, SUBMITTED_MARKER, Watcher
from tests.conftest import CONSOLE_61, ROOT

DEBIAN = ROOT / "deploy" / "kdump" / "debian" / "gsotriage-kdump-savecore"
RHEL = ROOT / "deploy" / "kdump" / "rhel" / "gsotriage-kdump-post"
SHELL = shutil.which("dash") or "/bin/sh"  # Debian's /bin/sh; dracut's is bash, a superset here
ELF_CORE = b"\x7fELF\x02\x01\x01" + bytes(9) + b"\x04\x00" + bytes(100)


def _script(path, body):
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


@pytest.fixture()
def debian(tmp_path):
    crash = tmp_path / "crash"
    (crash / "202611250101").mkdir(parents=True)  # an older crash, already there
    calls = tmp_path / "calls"
    env = {
        "PATH": os.environ["PATH"],
        "KDUMP_DEFAULTS": _script(tmp_path / "defaults", f"USE_KDUMP=1\nKDUMP_COREDIR={crash}\n"),
        "GSOTRIAGE_ENV": _script(tmp_path / "fleet.env", "GSOTRIAGE_BROKER=redis://queue:6379/0\nGSOTRIAGE_SHARDS=3\n"),
        "KDUMP_CONFIG": _script(
            tmp_path / "kdump-config",
            f'[ "$1" = savecore ] || exit 9\nd={crash}/202611260301\nmkdir -p $d\n'
            f"cp {CONSOLE_61} $d/dmesg.202611260301\nprintf x > $d/dump.202611260301\n"
            f'echo savecore >> {calls}\nexit "${{SAVECORE_STATUS:-0}}"\n',
        ),
        "KDUMP_INIT": _script(tmp_path / "init", f'echo "init $*" >> {calls}\n'),
        "GSOTRIAGE": _script(tmp_path / "gsotriage", f'echo "gsotriage $*" >> {calls}\nexit "${{SUBMIT_STATUS:-0}}"\n'),
        "VMCORE": str(tmp_path / "vmcore"),
        "REBOOT": _script(tmp_path / "reboot", f"echo reboot >> {calls}\n"),
    }
    (tmp_path / "vmcore").write_bytes(ELF_CORE)
    return env, crash, calls


def _run(script, env, *args, **extra):
    return subprocess.run([SHELL, str(script), *args], env={**env, **extra}, capture_output=True, text=True, timeout=60)


def test_debian_hook_saves_marks_submits_then_reboots(debian):
    env, crash, calls = debian
    p = _run(DEBIAN, env)
    assert p.returncode == 0, p.stderr
    new = crash / "202611260301"
    assert calls.read_text().splitlines() == [
        "savecore",
        f"gsotriage submit {new} --priority --broker redis://queue:6379/0 --shards 3 --broker-wait 10",
        "reboot",
    ]
    assert (new / READY_MARKER).read_text() == "0\n" and (new / SUBMITTED_MARKER).exists()
    assert not (crash / "202611250101" / READY_MARKER).exists()
    # Submitted from the kdump kernel: the boot-time watcher skips it.
    assert Watcher([str(crash)], lambda paths: None, settle=0, state=crash.parent / "state").scan() == []


def test_debian_hook_reboots_even_when_the_broker_is_unreachable(debian):
    env, crash, calls = debian
    p = _run(DEBIAN, env, SUBMIT_STATUS="3")
    assert p.returncode == 0
    assert "not submitted now" in p.stdout and calls.read_text().splitlines()[-1] == "reboot"
    new = crash / "202611260301"
    assert (new / READY_MARKER).exists() and not (new / SUBMITTED_MARKER).exists()
    sent = []
    watcher = Watcher([str(crash)], sent.extend, settle=3600, state=crash.parent / "state")
    assert watcher.scan() == [str(new)]  # the next boot submits it, without waiting to settle


def test_debian_hook_runs_the_fail_command_when_saving_fails(debian, tmp_path):
    env, _crash, calls = debian
    fail = _script(tmp_path / "failcmd", f"echo failcmd >> {calls}\n")
    p = _run(DEBIAN, env, SAVECORE_STATUS="1", KDUMP_FAIL_CMD=fail)
    assert p.returncode == 0
    assert calls.read_text().splitlines() == ["savecore", "failcmd"]


def test_debian_hook_outside_a_kdump_kernel_is_the_normal_start(debian, tmp_path):
    env, _crash, calls = debian
    os.unlink(env["VMCORE"])
    p = _run(DEBIAN, env)
    assert p.returncode == 0 and calls.read_text().splitlines() == ["init start"]


def test_rhel_kdump_post_marks_the_newest_saved_crash(tmp_path):
    root = tmp_path / "sysroot"
    crash = root / "srv" / "dumps"
    old = crash / "127.0.0.1-2026-11-25-01:01:01"
    new = crash / "127.0.0.1-2026-11-26-03:01:02"
    writing = crash / "127.0.0.1-2026-11-26-03:05:00"
    for d in (old, new, writing):
        d.mkdir(parents=True)
        (d / "vmcore-dmesg.txt").write_bytes(CONSOLE_61.read_bytes())
    (old / "vmcore").write_bytes(ELF_CORE)
    (new / "vmcore").write_bytes(ELF_CORE)
    (writing / "vmcore-incomplete").write_bytes(ELF_CORE)  # a dump that did not complete
    then = time.time() - 3600
    os.utime(old, (then, then))
    conf = tmp_path / "kdump.conf"
    conf.write_text("core_collector makedumpfile -l --message-level 7 -d 31\npath /srv/dumps\n")
    env = {"PATH": os.environ["PATH"], "KDUMP_CONF": str(conf), "GSOTRIAGE_CRASH_ROOTS": str(root)}
    p = _run(RHEL, env, "1")  # the dump failed: nothing to mark
    assert p.returncode == 0 and not any(crash.rglob(READY_MARKER))
    p = _run(RHEL, env, "0")
    assert p.returncode == 0, p.stderr
    assert [m.parent for m in crash.rglob(READY_MARKER)] == [new]
    assert (new / READY_MARKER).read_text() == "0\n"
    sent = []
    Watcher([str(crash)], sent.extend, settle=3600, state=tmp_path / "state").scan()
    assert sent == [str(new)]


def test_the_options_the_debian_hook_passes_are_submit_options(tmp_path):
    from tests.fleet.helpers import run_gsotriage

    d = tmp_path / "202611260301"
    d.mkdir()
    (d / "dmesg.202611260301").write_bytes(CONSOLE_61.read_bytes())
    args = ["--priority", "--broker", "redis://127.0.0.1:1/0", "--shards", "3", "--broker-wait", "0"]
    p = run_gsotriage(tmp_path, "submit", str(d), *args, timeout=60)
    assert p.returncode == 3 and "broker redis://127.0.0.1:1/0 unreachable" in p.stderr, p.stderr  # not a usage error
