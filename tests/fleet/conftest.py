"""Fleet fixtures: real redis-server and PostgreSQL on loopback, and worker processes.

Tests marked ``services`` skip with the reason when the binaries or the fleet extra are
missing, unless GSOTRIAGE_REQUIRE_SERVICES=1 (CI), which turns the skip into a failure.
"""

from __future__ import annotations

import os
import uuid

import pytest

from tests.fleet.helpers import Worker
from tests.fleet.services import PostgresServer, RedisServer, missing_services


def _require() -> None:
    reason = missing_services()
    if reason is None:
        return
    if os.environ.get("GSOTRIAGE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"GSOTRIAGE_REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres():
    _require()
    server = PostgresServer()
    server.start()
    yield server
    server.remove()


@pytest.fixture()
def pg_db(postgres):
    """A fresh, empty database on the session's server; its URL."""
    return postgres.create_database("t_" + uuid.uuid4().hex[:12])


@pytest.fixture()
def redis_server(tmp_path):
    """A fresh redis-server per test (tests restart it)."""
    _require()
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture()
def start_worker(tmp_path):
    """``start_worker(name, broker, db, *args)`` -> a running Worker; all are stopped at teardown."""
    started = []

    def start(name, broker, db, *args, env=None):
        w = Worker(tmp_path, name, broker, db, *args, env=env)
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()
