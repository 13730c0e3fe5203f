"""gsotriage/files.py: the bounded log reader and "is this text" (issue 15: F2/F3, F8)."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

from gsotriage.files import MAX_RATIO, MIN_BUDGET, decompression_budget, looks_like_text, open_log
from tests.conftest import ROOT, SEED

NUL_MIB = 1 << 20


def _bomb(path: Path, mib: int, filler: bytes = b"\0") -> Path:
    """The real seed log, then ``mib`` MiB of ``filler``, gzip-compressed (a 1 GiB NUL tail is ~1 MB)."""
    block = filler * NUL_MIB
    with gzip.open(path, "wb", 9) as f:
        f.write(SEED.read_bytes())
        for _ in range(mib):
            f.write(block)
    return path


def test_budget_scales_with_the_compressed_size():
    assert decompression_budget(1) == MIN_BUDGET
    assert decompression_budget(10 << 20) == MAX_RATIO * (10 << 20)


@pytest.mark.parametrize("opener", [gzip.open, lzma.open, bz2.open], ids=["gzip", "xz", "bzip2"])
def test_real_compressed_log_reads_whole_without_limits(tmp_path, opener):
    path = tmp_path / "seed.log.z"
    with opener(path, "wb") as f:
        f.write(SEED.read_bytes())
    with open_log(str(path)) as f:
        assert f.read() == SEED.read_bytes()
        assert f.limits == ()


def test_gzip_bomb_stops_at_the_budget_with_a_limit(tmp_path):
    path = _bomb(tmp_path / "bomb.gz", 1024)
    t0 = time.monotonic()
    with open_log(str(path)) as f:
        text = f.read()
        limits = f.limits
    assert time.monotonic() - t0 < 10
    # The log before the NULs is all there, the NULs are dropped, the bound is named.
    assert text == SEED.read_bytes()
    assert len(limits) == 1 and "decompression stopped" in limits[0] and "bomb.gz" in limits[0]


def test_plain_file_nul_padding_is_dropped_not_one_huge_line(tmp_path):
    path = tmp_path / "padded.log"
    path.write_bytes(b"\0" * (8 << 20) + SEED.read_bytes())
    with open_log(str(path)) as f:
        lines = list(f)
    assert max(len(x) for x in lines) < 4096
    assert b"".join(lines) == SEED.read_bytes()


def test_analyze_gzip_bomb_is_small_fast_and_says_it_was_cut(tmp_path):
    """F2/F3: a 1 MB .gz of the real log plus 1 GiB of NULs grew past 2 GB and 20 s."""
    path = _bomb(tmp_path / "console.log.gz", 1024)
    assert path.stat().st_size < 2 * NUL_MIB
    code = (
        "import json, sys\n"
        "from gsotriage.cli import run\n"
        "rc = run(['analyze', sys.argv[1], '--format', 'json', '-o', sys.argv[2]])\n"
        # VmHWM, not ru_maxrss: the latter keeps the forking parent's peak across exec.
        "hwm = next(int(x.split()[1]) for x in open('/proc/self/status') if x.startswith('VmHWM:'))\n"
        "print(rc, hwm)\n"
    )
    out = tmp_path / "r.json"
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", code, str(path), str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    elapsed = time.monotonic() - t0
    rc, maxrss_kb = map(int, proc.stdout.split())
    import json

    doc = json.loads(out.read_text())
    assert rc == 0, proc.stderr
    assert doc["summary"]["root_cause"] == "gso-tunnel-tcp-metadata-geometry-mismatch"
    assert any("decompression stopped" in x for x in doc["report"]["limits"])
    assert maxrss_kb < 300 * 1024, f"peak RSS {maxrss_kb} KB"
    assert elapsed < 30


def test_one_leading_nul_is_still_text():
    """F8: a NUL before a valid log made it 'not a text log' (exit 3)."""
    assert looks_like_text(b"\0" + SEED.read_bytes()[:8191])
    assert not looks_like_text(b"\0" * 4096)
    assert looks_like_text(b"")
    assert not looks_like_text(bytes(range(256)) * 16)


def _zlib_corrupted(data: bytes) -> bytes:
    """``data`` gzip-compressed with one bit flipped where zlib itself fails (not only the CRC check)."""
    packed = gzip.compress(data, mtime=0)
    for i in range(10, len(packed) - 8):
        for bit in range(8):
            bad = bytearray(packed)
            bad[i] ^= 1 << bit
            try:
                zlib.decompressobj(-15).decompress(bytes(bad[10:]))
            except zlib.error:
                return bytes(bad)
    raise AssertionError("no corruption found")


def test_corrupt_deflate_stream_is_bad_input_not_an_internal_error(tmp_path):
    """Found by bench/fuzz.py: zlib.error is no OSError, and detection let it through (exit 70)."""
    path = tmp_path / "console.log.gz"
    path.write_bytes(_zlib_corrupted(SEED.read_bytes() * 3))
    proc = subprocess.run(
        [sys.executable, "-m", "gsotriage", "analyze", str(path), "--no-progress"],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert proc.returncode in (0, 1, 3), proc.stderr
    assert "internal error" not in proc.stderr
