"""Routing on real services with real dumps: the dumps of one kernel build land on its shard
and are analysed by the worker consuming that shard; text logs go to the general queue."""

from __future__ import annotations

import json

import pytest

from gsotriage.collect.elfinfo import elf_build_id
from gsotriage.fleet.routing import GENERAL_QUEUE, shard_of, shard_queue
from tests.conftest import CASES
from tests.fleet.helpers import copy_dumps, debuginfo_dirs, factory_dumps, run_submit
from tests.vmcore.manifests import SKIP_REASON, require

pytestmark = [pytest.mark.services, pytest.mark.vmcore]

SHARDS = 3


def test_one_builds_dumps_land_on_its_shard(tmp_path, postgres, pg_db, redis_server, start_worker):
    manifests = factory_dumps()
    if not manifests:
        if require():
            pytest.fail(f"GSOTRIAGE_REQUIRE_VMCORES=1 but {SKIP_REASON}")
        pytest.skip(SKIP_REASON)
    by_release = {}
    for m in manifests:
        by_release.setdefault(m.data["kernel"]["release"], []).append(m)
    assert len(by_release) >= 2, "the routing test needs dumps of two kernels"
    chosen = [m for ms in by_release.values() for m in ms[:3]]
    dumps = copy_dumps(tmp_path / "dumps", chosen)
    build = {p: elf_build_id(m.file("vmlinux")) for p, m in dumps.items()}
    shard = {p: shard_queue(shard_of(f"build:{b}", SHARDS)) for p, b in build.items()}
    first = next(iter(by_release))
    home = shard_queue(shard_of(f"build:{elf_build_id(by_release[first][0].file('vmlinux'))}", SHARDS))
    others = ",".join(["general"] + [str(i) for i in range(SHARDS) if shard_queue(i) != home])
    texts = [str(p) for p in sorted(CASES.glob("*.txt"))[:5]]
    # Each worker its own profile cache, as on its own machine: a build's first dump there loads DWARF
    # and writes the build's profile; the next ones load no DWARF.
    caches = {n: tmp_path / f"profiles-{n}" for n in ("p", "q")}
    args = ("--shards", str(SHARDS), "--concurrency", "1")
    p_worker = start_worker("p", redis_server.url, pg_db, *args, "--queues", home.rsplit(".", 1)[1],
                            env={"GSOTRIAGE_PROFILE_DIR": str(caches["p"])})  # fmt: skip
    q_worker = start_worker("q", redis_server.url, pg_db, *args, "--queues", others,
                            env={"GSOTRIAGE_PROFILE_DIR": str(caches["q"])})  # fmt: skip
    try:
        p_worker.wait_ready()
        q_worker.wait_ready()
        debuginfo = [a for d in debuginfo_dirs() for a in ("--debuginfo", d)]
        p = run_submit(tmp_path, *sorted(dumps), *texts, "--broker", redis_server.url, "--db", pg_db, "--wait",
                       "--shards", str(SHARDS), "--format", "json", *debuginfo)  # fmt: skip
    finally:
        p_worker.stop()
        q_worker.stop()
    assert p.returncode == 0, p.stderr
    submitted = {s["input"]: s for s in json.loads(p.stdout)["submitted"]}
    rows = {r[0]: r[1] for r in postgres.query(pg_db, "SELECT input_path, origin FROM analyses")}
    assert len(rows) == len(dumps) + len(texts)
    for path in dumps:
        _, queue, worker = rows[path].split(":", 2)
        assert submitted[path]["queue"] == queue == shard[path], path
        assert submitted[path]["build"] == f"build:{build[path]}"
        assert worker == ("p@test" if queue == home else "q@test"), (path, rows[path])
    for path in texts:
        assert rows[path] == f"fleet:{GENERAL_QUEUE}:q@test"
    # Each worker loaded the debug info of the builds of its shards only, once each: its profile
    # cache holds exactly those builds, and only the first dump of each was cold.
    for name, worker in (("p", p_worker), ("q", q_worker)):
        mine = {b for path, b in build.items() if (shard[path] == home) == (name == "p")}
        cached = {d.name for d in caches[name].glob("*") if (d / "profile.json").exists()}
        assert cached == mine, name
        assert {e["build"] for e in worker.events("analysed") if e["build"]} == {f"build:{b}" for b in mine}
        assert sum(e["cold_build"] for e in worker.events("analysed")) == len(mine)
