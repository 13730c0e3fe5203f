"""Results that hit a bound are marked degraded and --resume --retry degraded redoes them (issue 15)."""

from __future__ import annotations

import gzip
import json
import shutil

from tests.batch.helpers import read_jsonl, run_cli
from tests.conftest import SEED


def _bomb(path):
    with gzip.open(path, "wb", 9) as f:
        f.write(SEED.read_bytes())
        block = b"\0" * (1 << 20)
        for _ in range(300):
            f.write(block)


def test_a_bound_marks_the_line_degraded_and_retry_redoes_only_it(tmp_path):
    (tmp_path / "in").mkdir()
    shutil.copy(SEED, tmp_path / "in" / "plain.txt")
    _bomb(tmp_path / "in" / "bomb.log.gz")
    out = tmp_path / "r.jsonl"
    args = ["batch", "in", "-o", str(out), "--no-record", "--no-progress", "--format", "json", "-j", "1"]
    p = run_cli(tmp_path, *args)
    assert p.returncode == 0, p.stderr
    lines = {line["batch"]["input"]: line for line in read_jsonl(out)}
    bomb, plain = lines["in/bomb.log.gz"], lines["in/plain.txt"]
    assert bomb["batch"]["status"] == "ok" and bomb["batch"]["degraded"] is True
    assert any("decompression stopped" in x for x in bomb["report"]["limits"])
    assert bomb["summary"]["root_cause"] == plain["summary"]["root_cause"]  # what was read still counts
    assert plain["batch"]["degraded"] is False
    assert json.loads(p.stdout)["degraded"] == 1

    p = run_cli(tmp_path, *args, "--resume")
    assert json.loads(p.stdout)["ran"] == 0

    p = run_cli(tmp_path, *args, "--resume", "--retry", "degraded")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["ran"] == 1
    again = read_jsonl(out)[2:]
    assert [line["batch"]["input"] for line in again] == ["in/bomb.log.gz"]


def test_retry_input_error_and_retry_without_resume(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "empty.txt").write_text("")
    out = tmp_path / "r.jsonl"
    args = ["batch", "in/empty.txt", "-o", str(out), "--no-record", "--no-progress", "--format", "json"]
    assert run_cli(tmp_path, *args).returncode == 1
    assert json.loads(run_cli(tmp_path, *args, "--resume").stdout)["ran"] == 0
    assert json.loads(run_cli(tmp_path, *args, "--resume", "--retry", "input-error").stdout)["ran"] == 1
    p = run_cli(tmp_path, *args, "--retry", "degraded")
    assert p.returncode == 2 and "--retry needs --resume" in p.stderr
