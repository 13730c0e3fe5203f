"""End-to-end checks of the issue-15 failures fixed on main by the lead (F8, F11, F12, lint exit 4,
the crash directory's kernel log streamed): each ran against the code before the fix and failed."""

from __future__ import annotations

import gzip
import json
import lzma
import os
import shutil
import subprocess
import sys

from tests.conftest import ROOT, SEED
from tests.match.test_loader import MINIMAL

SPECIFIC = "gso-tunnel-tcp-metadata-geometry-mismatch"


def cli(tmp_path, *args, env=None, timeout=180):
    e = dict(os.environ, PYTHONPATH=str(ROOT), GSOTRIAGE_DB=str(tmp_path / "h.sqlite3"), NO_COLOR="1")
    e.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "gsotriage", *args], capture_output=True, text=True, env=e, cwd=tmp_path, timeout=timeout
    )


def test_f8_one_leading_nul_byte_does_not_make_a_log_binary(tmp_path):
    log = tmp_path / "console.log"
    log.write_bytes(b"\0" + SEED.read_bytes())
    p = cli(tmp_path, "analyze", str(log), "--format", "json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["summary"]["root_cause"] == SPECIFIC


def test_f11_batch_walks_gzip_and_xz_logs(tmp_path):
    d = tmp_path / "logs"
    d.mkdir()
    (d / "a.log.gz").write_bytes(gzip.compress(SEED.read_bytes()))
    (d / "b.log.xz").write_bytes(lzma.compress(SEED.read_bytes()))
    p = cli(tmp_path, "batch", str(d), "-o", "r.jsonl", "--no-record", "--no-progress", "--format", "json")
    assert p.returncode == 0, p.stderr
    lines = [json.loads(x) for x in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert sorted(os.path.basename(x["batch"]["input"]) for x in lines) == ["a.log.gz", "b.log.xz"]
    assert all(x["summary"]["root_cause"] == SPECIFIC for x in lines)


def test_f12_no_file_name_makes_a_production_worker_misbehave(tmp_path):
    """x__segv__.txt crashed workers when GSOTRIAGE_TEST_HOOKS=1 was set; hooks live in tests only."""
    d = tmp_path / "in"
    d.mkdir()
    for hook in ("__segv__", "__raise__"):
        shutil.copy(SEED, d / f"x{hook}.txt")
    p = cli(
        tmp_path,
        "batch",
        str(d),
        "-o",
        "r.jsonl",
        "--no-record",
        "--no-progress",
        env={"GSOTRIAGE_TEST_HOOKS": "1"},
    )
    assert p.returncode == 0, p.stderr
    statuses = [json.loads(x)["batch"]["status"] for x in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert statuses == ["ok", "ok"]


def test_lint_error_severity_exits_4(tmp_path):
    """'maturity stable needs a real positive' was printed as an error, and lint still exited 0."""
    text = MINIMAL.format(id="stable-without-real").replace("maturity: experimental", "maturity: stable")
    path = tmp_path / "stable-without-real.yaml"
    path.write_text(text)
    p = cli(tmp_path, "signatures", "lint", str(path))
    assert p.returncode == 4, p.stdout + p.stderr
    assert "needs a real positive" in p.stderr


def _peak_rss_kb(target, out):
    code = (
        "import sys\n"
        "from gsotriage.cli import run\n"
        "rc = run(['analyze', sys.argv[1], '--format', 'json', '-o', sys.argv[2], '--no-progress'])\n"
        # VmHWM, not ru_maxrss: the latter keeps the forking parent's peak across exec.
        "hwm = next(int(x.split()[1]) for x in open('/proc/self/status') if x.startswith('VmHWM:'))\n"
        "print(rc, hwm)\n"
    )
    p = subprocess.run(
        [sys.executable, "-c", code, str(target), str(out)],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        timeout=300,
    )
    rc, rss_kb = map(int, p.stdout.split())
    assert rc == 0, p.stderr
    assert json.loads(out.read_text())["summary"]["root_cause"] == SPECIFIC
    return rss_kb


def test_crash_dir_kernel_log_is_streamed_not_read_whole(tmp_path):
    """A 200 MB vmcore-dmesg.txt took 625 MB of RSS in a crash directory, 30 MB when passed alone."""
    crash = tmp_path / "crash"
    crash.mkdir()
    noise = b"[    1.000000] systemd[1]: Started session-1.scope - Session 1 of User root.\n" * 125_000  # 10 MB
    (crash / "vmcore-dmesg.txt").write_bytes(noise + SEED.read_bytes())
    alone = _peak_rss_kb(crash / "vmcore-dmesg.txt", tmp_path / "a.json")
    in_dir = _peak_rss_kb(crash, tmp_path / "b.json")
    # Read whole, the 10 MB log cost ~30 MB more in the directory than alone.
    assert in_dir < alone + 12 * 1024, f"peak RSS {in_dir // 1024} MB in the directory, {alone // 1024} MB alone"
