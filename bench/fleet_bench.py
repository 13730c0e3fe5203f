#!/usr/bin/env python3
"""Fleet throughput vs local batch, and what build-id routing saves.

    python bench/fleet_bench.py [--texts 200] [--dumps 24] [--repeat 1]

Starts its own redis-server and PostgreSQL on loopback (tests/fleet/services.py). Inputs:
copies of the real logs in signatures/cases (as the batch benchmark) plus hard links to the
factory dumps of both kernels (kdump-compressed and flattened forms; skipped when not built).

1. inputs/s of ``gsotriage batch --jobs 1|2`` (recording into SQLite, start-up included) and of
   the fleet with 1 and 2 workers (``--concurrency 1`` each, already running and warmed up,
   recording into PostgreSQL): wall time of ``submit --wait``. Every run starts with empty
   per-build profile caches (one per batch run, one per worker).
2. Routing: the dumps alone through 2 workers, with build-id routing (each worker consumes the
   shard of one build) and without it (one queue both consume: ``--shards 1``). Each worker has
   its own per-build profile cache (``GSOTRIAGE_PROFILE_DIR``, as on its own machine): the first
   dump of a build on a worker loads the build's DWARF and writes its profile; later dumps of
   that build there load no DWARF (``gsotriage.collect.modes``). Counted: the profiles the
   workers wrote, i.e. the DWARF loads, per 100 dumps, and the wall time.
3. The same count for a bigger fleet, simulated with the real routing function: B builds with
   Zipf-distributed crash rates, W workers, shard groups as in docs/fleet.md, an LRU cache of C
   builds per worker, versus any-worker dispatch.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gsotriage.collect.elfinfo import elf_build_id  # noqa: E402
from gsotriage.fleet.routing import shard_of, shard_queue  # noqa: E402
from tests.batch.helpers import cli_env, make_corpus  # noqa: E402
from tests.fleet.helpers import Worker, copy_dumps, debuginfo_dirs, factory_dumps  # noqa: E402
from tests.fleet.services import PostgresServer, RedisServer, missing_services  # noqa: E402

GSOTRIAGE = [sys.executable, "-m", "gsotriage"]


def _run(tmp: Path, *args: str, profiles: Optional[Path] = None) -> Tuple[float, subprocess.CompletedProcess]:
    env = {"GSOTRIAGE_PROFILE_DIR": str(profiles or tmp / "profiles-submit")}
    t0 = time.monotonic()
    p = subprocess.run([*GSOTRIAGE, *args], cwd=tmp, env=cli_env(tmp, env), capture_output=True, text=True)
    return time.monotonic() - t0, p


def _dump_inputs(tmp: Path, count: int) -> List[str]:
    manifests = factory_dumps()
    if not manifests or count == 0:
        return []
    links = copy_dumps(tmp / "dumps-src", manifests)
    src = sorted(links)
    out = []
    for i in range(count):
        target = tmp / "dumps" / f"{i:03d}-{Path(src[i % len(src)]).name}"
        target.parent.mkdir(exist_ok=True)
        os.link(src[i % len(src)], target)
        out.append(str(target))
    return out


def _fleet(tmp, redis, pg, name, inputs, workers_args, debuginfo, shards="3") -> Tuple[float, List[List[dict]], int]:
    """Run ``inputs`` through running, warmed-up workers, each with its own profile cache;
    (wall time, each worker's "analysed" events, profiles the workers wrote)."""
    db = pg.create_database(name)
    caches = [tmp / f"profiles-{name}-{i}" for i in range(len(workers_args))]
    workers = [Worker(tmp, f"{name}-{i}", redis.url, db, "--shards", shards, *a, *debuginfo,
                      env={"GSOTRIAGE_PROFILE_DIR": str(caches[i])}) for i, a in enumerate(workers_args)]  # fmt: skip
    try:
        for w in workers:
            w.wait_ready(120)
        # Warm-up: each worker's analysis process starts on its first task.
        warm = [str(p) for p in sorted((tmp / "texts").iterdir())[:8]]
        _run(tmp, "submit", *warm, "--broker", redis.url, "--db", db, "--wait", "--shards", shards, "--no-progress")
        before = [len(w.events("analysed")) for w in workers]
        dt, p = _run(tmp, "submit", *inputs, "--broker", redis.url, "--db", db, "--wait", "--shards", shards,
                     "--no-progress")  # fmt: skip
        if p.returncode != 0:
            raise SystemExit(f"submit failed ({p.returncode}): {p.stderr}")
        events = [w.events("analysed")[n:] for w, n in zip(workers, before)]
    finally:
        for w in workers:
            w.stop()
    profiles = sum(1 for c in caches for d in c.glob("*") if (d / "profile.json").exists())
    return dt, events, profiles


def _pairs(events: Sequence[List[dict]]) -> Tuple[int, int]:
    """(worker, build) pairs seen and dumps analysed."""
    pairs = set()
    dumps = 0
    for i, worker_events in enumerate(events):
        for e in worker_events:
            if e.get("build"):
                dumps += 1
                pairs.add((i, e["build"]))
    return len(pairs), dumps


def _consumers(shard: int, workers: int, shards: int) -> List[int]:
    """The workers consuming a shard when shards are dealt out to workers as docs/fleet.md says:
    with more workers than shards each shard has workers // shards of them, else each worker
    takes every workers-th shard."""
    if workers >= shards:
        return [w for w in range(workers) if w % shards == shard]
    return [shard % workers]


def simulate(builds: int, workers: int, cache: int, dumps: int, shards: int, seed: int = 1) -> Tuple[float, float]:
    """Cache misses per 100 dumps: routed by build vs any worker, with an LRU of ``cache`` builds per worker."""
    rng = random.Random(seed)  # noqa: S311 - a simulation
    weights = [1 / (k + 1) for k in range(builds)]  # Zipf: a few kernels crash most
    keys = [f"build:{k:040x}" for k in range(builds)]
    stream = rng.choices(keys, weights, k=dumps)

    def run(assign) -> float:
        caches: Dict[int, OrderedDict] = {w: OrderedDict() for w in range(workers)}
        misses = 0
        for key in stream:
            c = caches[assign(key)]
            if key in c:
                c.move_to_end(key)
            else:
                misses += 1
                c[key] = True
                if len(c) > cache:
                    c.popitem(last=False)
        return 100 * misses / dumps

    def routed(key: str) -> int:
        return rng.choice(_consumers(shard_of(key, shards), workers, shards))

    return run(routed), run(lambda key: rng.randrange(workers))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--texts", type=int, default=200)
    ap.add_argument("--dumps", type=int, default=24)
    ap.add_argument("--sim-builds", type=int, default=40)
    ap.add_argument("--sim-workers", type=int, default=8)
    ap.add_argument("--sim-cache", type=int, default=2)
    ap.add_argument("--sim-shards", type=int, default=8)
    ap.add_argument("--sim-dumps", type=int, default=10000)
    args = ap.parse_args()
    reason = missing_services()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as tmpdir:
        tmp = Path(tmpdir)
        texts = [str(p) for p in make_corpus(tmp / "texts", args.texts)]
        dumps = _dump_inputs(tmp, args.dumps)
        inputs = texts + dumps
        debuginfo = [a for d in debuginfo_dirs() for a in ("--debuginfo", d)]
        print(f"{len(texts)} text inputs + {len(dumps)} dumps, {os.cpu_count()} CPUs\n")
        redis = RedisServer(tmp)
        redis.start()
        pg = PostgresServer()
        pg.start()
        try:
            print("throughput (inputs/s, wall time)")
            for jobs in (1, 2):
                dt, p = _run(tmp, "batch", *inputs, "-o", f"b{jobs}.jsonl", "--jobs", str(jobs), "--db",
                             str(tmp / f"b{jobs}.sqlite3"), "--no-progress", *debuginfo,
                             profiles=tmp / f"profiles-batch-{jobs}")  # fmt: skip
                assert p.returncode == 0, p.stderr
                print(f"  batch --jobs {jobs}            {len(inputs) / dt:6.1f}/s  ({dt:.1f}s, start-up included)")
            for n in (1, 2):
                dt, _, _ = _fleet(tmp, redis, pg, f"tp{n}", inputs, [("--concurrency", "1")] * n, debuginfo)
                print(f"  fleet, {n} worker(s) x 1      {len(inputs) / dt:6.1f}/s  ({dt:.1f}s, workers warm)")
            if dumps:
                print("\nrouting: DWARF loads (profiles written) per 100 dumps, 2 workers, a profile cache each")
                builds = {m.data["kernel"]["release"]: elf_build_id(m.file("vmlinux")) for m in factory_dumps()}
                first = sorted(builds.values())[0]
                home = shard_queue(shard_of(f"build:{first}", 3)).rsplit(".", 1)[1]
                rest = ",".join(["general"] + [str(i) for i in range(3) if str(i) != home])
                queues = [("--queues", home, "--concurrency", "1"), ("--queues", rest, "--concurrency", "1")]
                runs = {
                    "with build-id routing": _fleet(tmp, redis, pg, "routed", dumps, queues, debuginfo),
                    "without (one queue)": _fleet(
                        tmp, redis, pg, "flat", dumps, [("--concurrency", "1")] * 2, debuginfo, shards="1"
                    ),
                }
                for label, (dt, events, profiles) in runs.items():
                    pairs, n = _pairs(events)
                    print(f"  {label:24} {100 * profiles / max(1, n):6.1f}  ({profiles} loads for {n} dumps of "
                          f"{len(builds)} builds; {pairs} worker-build pairs; {dt:.1f}s)")  # fmt: skip
        finally:
            redis.stop()
            pg.remove()
    r, a = simulate(args.sim_builds, args.sim_workers, args.sim_cache, args.sim_dumps, args.sim_shards)
    print(
        f"\nsimulated fleet: {args.sim_builds} builds (Zipf), {args.sim_workers} workers, {args.sim_shards} shards, "
        f"LRU cache of {args.sim_cache} builds per worker, {args.sim_dumps} dumps"
    )
    print(f"  with build-id routing    {r:6.1f} loads per 100 dumps")
    print(f"  any worker               {a:6.1f} loads per 100 dumps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
