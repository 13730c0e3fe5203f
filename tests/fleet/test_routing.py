"""Routing without services: the build read from a dump's VMCOREINFO is its vmlinux's GNU
build-id (factory dumps of two kernels, every dump format), logs name their release, and the
shard of a build is a stable function of it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from gsotriage.collect.elfinfo import elf_build_id
from gsotriage.fleet.buildid import build_of_dump, parse_vmcoreinfo, release_of_log
from gsotriage.fleet.routing import GENERAL_QUEUE, parse_queues, route_input, shard_of, shard_queue
from tests.conftest import CONSOLE_61, ROOT, SEED
from tests.vmcore.manifests import SKIP_REASON, discover, require


@pytest.fixture(scope="module")
def manifests():
    found = discover()
    if not found:
        if require():
            pytest.fail(f"GSOTRIAGE_REQUIRE_VMCORES=1 but {SKIP_REASON}")
        pytest.skip(SKIP_REASON)
    return found


@pytest.mark.vmcore
def test_vmcoreinfo_build_id_is_the_vmlinux_build_id_in_every_dump_format(manifests):
    seen = {}
    for m in manifests:
        vmlinux = m.file("vmlinux")
        release = m.data["kernel"]["release"]
        expected = elf_build_id(vmlinux) if vmlinux else None
        assert expected, f"{m.name}: no vmlinux build-id to compare with"
        for form, path in m.dumps().items():
            info = build_of_dump(path)
            assert (info.build_id, info.release, info.source) == (expected, release, "vmcoreinfo"), (m.name, form)
            route = route_input(path, 3)
            assert route.queue == shard_queue(shard_of(f"build:{expected}", 3)) and route.build == f"build:{expected}"
        seen[release] = expected
        console = m.file("console")
        if console:
            assert release_of_log(console) == release
            assert route_input(console, 3).queue == GENERAL_QUEUE
    assert len(set(seen.values())) == len(seen) >= 2  # two kernels, two builds


@pytest.mark.vmcore
def test_a_dump_without_build_id_is_routed_by_its_release(manifests, tmp_path):
    """Kernels before v5.9 put no BUILD-ID in VMCOREINFO: the release keys the shard."""
    m = next(m for m in manifests if m.file("kdump_makedumpfile"))
    data = bytearray(open(m.file("kdump_makedumpfile"), "rb").read())
    at = data.find(b"BUILD-ID=")
    assert at > 0
    data[at : at + 9] = b"XUILD-ID="
    old = tmp_path / "vmcore"
    old.write_bytes(bytes(data))
    release = m.data["kernel"]["release"]
    info = build_of_dump(str(old))
    assert info.build_id is None and info.release == release
    route = route_input(str(old), 5)
    assert route.build == f"release:{release}" and route.queue == shard_queue(shard_of(f"release:{release}", 5))
    # A crash directory routes by its dump; one whose dump is unreadable by the log beside it.
    crash = tmp_path / "crash"
    crash.mkdir()
    (crash / "vmcore").write_bytes(b"\x7fELF\x02\x01\x01" + bytes(9) + b"\x04\x00" + bytes(100))
    (crash / "vmcore-dmesg.txt").write_bytes(CONSOLE_61.read_bytes())
    route = route_input(str(crash), 5)
    assert route.kind == "crash-dir" and route.build == "release:6.1.0-56-cloud-amd64"


def test_text_logs_and_unreadable_inputs_go_to_the_general_queue(tmp_path):
    assert route_input(str(SEED), 8) == route_input(str(SEED), 3)
    assert route_input(str(SEED), 8).queue == GENERAL_QUEUE
    console = route_input(str(CONSOLE_61), 8)
    assert (console.queue, console.release, console.build) == (GENERAL_QUEUE, "6.1.0-56-cloud-amd64", None)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert route_input(str(empty), 8) == route_input(str(tmp_path / "missing"), 8)
    assert route_input(str(empty), 8).queue == GENERAL_QUEUE


def test_vmcoreinfo_text():
    info = parse_vmcoreinfo(b"OSRELEASE=6.1.0-57-cloud-amd64\nBUILD-ID=01D2640D3A\nPAGESIZE=4096\n")
    assert (info.build_id, info.release) == ("01d2640d3a", "6.1.0-57-cloud-amd64")
    assert parse_vmcoreinfo(b"OSRELEASE=4.18.0\nBUILD-ID=not hex\n").build_id is None
    assert parse_vmcoreinfo(b"garbage").source == "none"


def test_the_shard_of_a_build_does_not_depend_on_the_process():
    code = (
        "import json; from gsotriage.fleet.routing import shard_of;"
        " print(json.dumps([shard_of(f'build:{i:040x}', 7) for i in range(50)]))"
    )
    outs = set()
    for seed in ("0", "1", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(ROOT))
        outs.add(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env).stdout)
    assert len(outs) == 1
    spread = json.loads(outs.pop())
    assert set(spread) == set(range(7))  # 50 builds reach every shard


def test_parse_queues():
    assert parse_queues(["general,0", "shard.2", "gsotriage.shard.1"], 3) == [
        GENERAL_QUEUE,
        shard_queue(0),
        shard_queue(2),
        shard_queue(1),
    ]
    assert parse_queues(["all"], 2) == [GENERAL_QUEUE, shard_queue(0), shard_queue(1)]
    with pytest.raises(ValueError, match="unknown queue '3'"):
        parse_queues(["3"], 3)
    with pytest.raises(ValueError, match="unknown queue 'texts'"):
        parse_queues(["texts"], 3)
