"""The CLI in-process and as a subprocess: every exit code, formats, errors without tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CONSOLE_61, SEED, SIGNATURES


def run(*args: str, stdin: bytes | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    e = dict(os.environ)
    e.pop("FORCE_COLOR", None)
    e.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "gsotriage", *args], input=stdin, capture_output=True, env=e, timeout=120
    )


def test_seed_names_the_seed_class_and_exits_0():
    p = run("analyze", str(SEED), "--format", "json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["summary"]["root_cause"] == "gso-tunnel-tcp-metadata-geometry-mismatch"
    assert doc["summary"]["status"] == "match"
    by_id = {v["signature"]: v for v in doc["verdicts"]}
    fraglist = by_id["udp-fraglist-partial-pull-skb-segment"]
    assert fraglist["status"] == "ruled-out"
    assert any("FRAGLIST" in c for c in fraglist["contradicted_by"])
    assert any("__udp_gso_segment" in c for c in fraglist["contradicted_by"]), fraglist["contradicted_by"]
    mss = by_id["gso-partial-mss-overflow-gso-by-frags"]
    assert mss["status"] == "ruled-out" and any("gso_size" in c for c in mss["contradicted_by"])
    skb = doc["report"]["skbs"][0]["shinfo"]
    assert skb["frag_list"] == "0x0" and skb["gso_size"] == 1348
    assert skb["gso_type_flags"] == ["TCPV4", "DODGY", "UDP_TUNNEL"]


def test_console_of_the_same_crash_gives_the_same_class_as_partial():
    p = run("analyze", str(CONSOLE_61), "--format", "json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    top = doc["verdicts"][0]
    assert top["signature"] == "gso-tunnel-tcp-metadata-geometry-mismatch" and top["status"] == "partial"
    assert "shinfo.frag_list is null" in top["would_confirm"]
    assert doc["report"]["kernel"]["release"] == "6.1.0-56-cloud-amd64"


def test_text_output_is_plain_when_piped_and_shows_the_differential():
    p = run("analyze", str(SEED))
    out = p.stdout.decode()
    assert "\x1b[" not in out
    assert "Differential" in out and "udp-fraglist-partial-pull-skb-segment" in out


def test_no_color_is_honoured_even_when_forced():
    p = run("analyze", str(SEED), env={"FORCE_COLOR": "1", "NO_COLOR": "1"})
    assert "\x1b[" not in p.stdout.decode()
    p = run("analyze", str(SEED), env={"FORCE_COLOR": "1"})
    assert "\x1b[" in p.stdout.decode()


def test_markdown_and_output_file(tmp_path):
    out = tmp_path / "ticket.md"
    p = run("analyze", str(SEED), "--format", "markdown", "-o", str(out))
    assert p.returncode == 0 and p.stdout == b""
    text = out.read_text()
    assert text.startswith("# gsotriage report") and "## Differential" in text


def test_stdin_is_read_with_dash():
    p = run("analyze", "-", "--format", "json", stdin=CONSOLE_61.read_bytes())
    assert p.returncode == 0
    assert json.loads(p.stdout)["input"]["kind"] == "stdin"


def test_log_without_oops_exits_1(tmp_path):
    f = tmp_path / "boot.log"
    f.write_text("[    0.000000] Linux version 6.1.0-56-cloud-amd64\n[    1.0] systemd[1]: started\n")
    p = run("analyze", str(f), "--format", "json")
    assert p.returncode == 1, p.stderr
    assert json.loads(p.stdout)["summary"]["root_cause"] is None


def test_generic_only_exits_1(tmp_path):
    f = tmp_path / "sysrq.log"
    f.write_text(
        "[   12.000000] sysrq: Trigger a crash\n"
        "[   12.000100] Kernel panic - not syncing: sysrq triggered crash\n"
        "[   12.000200] CPU: 0 PID: 1 Comm: sh Not tainted 6.1.0-56-cloud-amd64 #1  Debian 6.1.192-2\n"
    )
    p = run("analyze", str(f), "--format", "json")
    assert p.returncode == 1, p.stderr
    assert json.loads(p.stdout)["summary"]["root_cause"] == "generic-sysrq-crash"


def test_usage_error_exits_2():
    assert run("analyze").returncode == 2
    assert run("analyze", str(SEED), "--format", "yaml").returncode == 2
    assert run("signatures", "show", "no-such-signature").returncode == 2


@pytest.mark.parametrize(
    "content,needle",
    [
        (b"", "empty file"),
        (bytes(range(256)) * 64, "not a crash dump"),
        (b"\x7fELF\x02\x01\x01" + b"\0" * 9 + b"\x02\x00" + b"\0" * 100, "not a core dump"),
    ],
    ids=["empty", "binary-garbage", "elf-executable"],
)
def test_bad_input_exits_3_with_one_line(tmp_path, content, needle):
    f = tmp_path / "vmcore"
    f.write_bytes(content)
    p = run("analyze", str(f))
    err = p.stderr.decode()
    assert p.returncode == 3, err
    assert needle in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_missing_file_exits_3():
    p = run("analyze", "/nonexistent/vmcore")
    assert p.returncode == 3 and "no such file" in p.stderr.decode()


def test_invalid_signature_library_exits_4_with_file_line(tmp_path):
    (tmp_path / "broken.yaml").write_text("id: broken\ntitle: [\n")
    p = run("analyze", str(SEED), "--signatures", str(tmp_path))
    err = p.stderr.decode()
    assert p.returncode == 4 and "broken.yaml:" in err and "Traceback" not in err


def test_signatures_lint_and_test_and_list():
    p = run("signatures", "lint")
    assert p.returncode == 0, p.stderr
    p = run("signatures", "test")
    assert p.returncode == 0, p.stdout.decode()[-2000:]
    assert b" passed, 0 failed" in p.stdout
    p = run("signatures", "list", "--format", "json")
    ids = {s["id"] for s in json.loads(p.stdout)["signatures"]}
    assert "gso-tunnel-tcp-metadata-geometry-mismatch" in ids


def test_signatures_test_fails_with_exit_5_when_a_case_fails(tmp_path):
    sig = (SIGNATURES / "generic-sysrq-crash.yaml").read_text().replace("expect: ruled-out", "expect: match")
    (tmp_path / "generic-sysrq-crash.yaml").write_text(sig)
    p = run("signatures", "test", "--signatures", str(tmp_path))
    assert p.returncode == 5 and b"FAIL" in p.stdout


def test_signatures_show_renders_a_page():
    p = run("signatures", "show", "udp-fraglist-partial-pull-skb-segment")
    out = p.stdout.decode()
    assert p.returncode == 0 and "## Fix" in out and "3382a1ed7f77" in out and "rx-gro-list off" in out


def test_help_lists_examples_and_exit_codes():
    out = run("analyze", "--help").stdout.decode()
    assert "Examples:" in out and "Exit codes:" in out and "3  unreadable" in out


def test_version():
    p = run("--version")
    assert p.returncode == 0 and b"gsotriage" in p.stdout


def test_docs_are_generated_from_the_signature_files(tmp_path):
    p = run("signatures", "docs", "-o", str(tmp_path))
    assert p.returncode == 0
    pages = {f.name for f in Path(tmp_path).glob("*.md")}
    assert "README.md" in pages and "gso-tunnel-tcp-metadata-geometry-mismatch.md" in pages
    repo_docs = SIGNATURES.parent / "docs" / "signatures"
    for page in pages:
        assert (repo_docs / page).read_text() == (tmp_path / page).read_text(), (
            f"docs/signatures/{page} is stale: run gsotriage signatures docs"
        )


@pytest.mark.parametrize("command", ["struct skb_shared_info", "struct sk_buff", "sys"])
def test_a_lone_crash_printout_names_no_root_cause(tmp_path, command):
    """crash(8) output without a stack (a struct dump, `sys`) is no crash site: exit 1."""
    session = (SIGNATURES.parent / "tests/data/text/factory-6.1-seed-twin-fraglist-flag-crash-session.txt").read_text()
    blocks = session.split("crash> ")
    block = next(b for b in blocks if b.startswith(command))
    f = tmp_path / "printout.txt"
    f.write_text("crash> " + block)
    p = run("analyze", str(f), "--format", "json")
    doc = json.loads(p.stdout)
    assert p.returncode == 1, doc["summary"]
    assert not doc["summary"]["specific"]


@pytest.mark.parametrize("suffix,compress", [("gz", "gzip"), ("xz", "lzma"), ("bz2", "bz2")])
def test_compressed_logs_are_read_as_streams(tmp_path, suffix, compress):
    import importlib

    mod = importlib.import_module(compress)
    f = tmp_path / f"console.log.{suffix}"
    f.write_bytes(mod.compress(CONSOLE_61.read_bytes()))
    doc = json.loads(run("analyze", str(f), "--format", "json").stdout)
    assert doc["summary"]["root_cause"] == "gso-tunnel-tcp-metadata-geometry-mismatch"


def test_a_truncated_compressed_log_is_analysed_up_to_the_cut(tmp_path):
    import gzip

    data = gzip.compress(CONSOLE_61.read_bytes())
    f = tmp_path / "console.log.gz"
    f.write_bytes(data[: len(data) * 3 // 4])
    p = run("analyze", str(f), "--format", "json")
    doc = json.loads(p.stdout)
    assert p.returncode in (0, 1) and any(n.startswith("log unreadable after line") for n in doc["report"]["notes"])


def test_a_compressed_binary_is_refused(tmp_path):
    import gzip

    f = tmp_path / "vmcore.gz"
    f.write_bytes(gzip.compress(bytes(range(256)) * 100))
    p = run("analyze", str(f))
    assert p.returncode == 3 and b"not a text log inside" in p.stderr
