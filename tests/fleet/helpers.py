"""Running fleet workers and submitters as real processes, and reading what they did."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from tests.batch.helpers import cli_env
from tests.vmcore.manifests import Manifest, cache_dir, discover

GSOTRIAGE = [sys.executable, "-m", "gsotriage"]


class Worker:
    """``gsotriage worker`` in its own session (killing the group kills its analysis processes too)."""

    def __init__(
        self, tmp: Path, name: str, broker: str, db: str, *args: str, env: Optional[Dict[str, str]] = None
    ) -> None:
        self.name = name
        self.log = tmp / f"worker-{name}.log"
        self.args = [*GSOTRIAGE, "worker", "--broker", broker, "--db", db, "--name", f"{name}@test", *args]
        self.proc = subprocess.Popen(
            self.args,
            cwd=tmp,
            env=cli_env(tmp, env),
            stdout=subprocess.DEVNULL,
            stderr=open(self.log, "wb"),
            start_new_session=True,
        )

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def events(self, msg: Optional[str] = None) -> List[dict]:
        out = []
        for line in self.text().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if msg is None or rec.get("msg") == msg:
                out.append(rec)
        return out

    def wait_ready(self, timeout: float = 60) -> None:
        wait_until(lambda: " ready." in self.text() or self.proc.poll() is not None, timeout, f"worker {self.name}")
        assert self.proc.poll() is None, f"worker {self.name} exited {self.proc.returncode}:\n{self.text()}"

    def kill9(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 60) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


def wait_until(cond: Callable[[], bool], timeout: float, what: str, every: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def run_submit(tmp: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*GSOTRIAGE, "submit", *args], cwd=tmp, env=cli_env(tmp), capture_output=True, text=True, timeout=timeout
    )


def popen_submit(tmp: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [*GSOTRIAGE, "submit", *args],
        cwd=tmp,
        env=cli_env(tmp),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_gsotriage(
    tmp: Path, *args: str, timeout: float = 600, env: Optional[Dict[str, str]] = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*GSOTRIAGE, *args], cwd=tmp, env=cli_env(tmp, env), capture_output=True, text=True, timeout=timeout
    )


# --- real dumps from the factory ---------------------------------------------------------------

DUMP_FORMS = ("kdump_makedumpfile", "kdump_qemu")  # the small forms (the ELF ones are ~300 MB)


def factory_dumps() -> List[Manifest]:
    """Scenarios whose dumps panicked (a verdict is expected), both kernels."""
    return [m for m in discover() if m.data.get("expect", {}).get("panic") and m.dumps()]


def debuginfo_dirs() -> List[str]:
    return sorted(str(p) for p in (cache_dir() / "_kernels").glob("*/root/usr/lib/debug") if p.is_dir())


def copy_dumps(dest: Path, manifests: Sequence[Manifest], forms: Sequence[str] = DUMP_FORMS) -> Dict[str, Manifest]:
    """Copies (hard links when possible) of the dumps: each its own input, keyed by its own path."""
    dest.mkdir(parents=True, exist_ok=True)
    out: Dict[str, Manifest] = {}
    for m in manifests:
        release = m.data["kernel"]["release"]
        for form in forms:
            src = m.file(form)
            if not src:
                continue
            target = dest / f"{release}--{m.data['scenario']}--{form}.vmcore"
            try:
                os.link(src, target)
            except OSError:
                shutil.copyfile(src, target)
            out[str(target)] = m
    return out
