"""Real redis-server and PostgreSQL instances on loopback, private to the test session.

Both are the distro's binaries (``apt-get install redis-server postgresql``: CI's .ci/run
installs them). PostgreSQL refuses to run as root (initdb and postgres both check), and CI
runs as root: then the cluster belongs to an unprivileged user (``postgres`` when the package
created it, else ``nobody``) and every PostgreSQL program runs under that uid, via
subprocess's ``user=``/``group=`` (setuid before exec, no su/sudo needed). Data lives in a
fresh directory under /tmp owned by that user; the server listens on 127.0.0.1 only, with
trust authentication, and is stopped and removed at the end.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

__all__ = ["PostgresServer", "RabbitServer", "RedisServer", "free_port", "missing_services", "pg_bindir"]

RABBITMQ_SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")  # Debian's rabbitmq-server package

PG_USER = "gsotriage"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pg_bindir() -> Optional[Path]:
    """The newest PostgreSQL server binaries: on PATH, or Debian's /usr/lib/postgresql/N/bin."""
    candidates: List[Path] = []
    found = shutil.which("pg_ctl")
    if found:
        candidates.append(Path(os.path.realpath(found)).parent)
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version, reverse=True)]
    for d in candidates:
        if (d / "initdb").exists() and (d / "pg_ctl").exists() and (d / "postgres").exists():
            return d
    return None


def _version(path: str) -> int:
    part = Path(path).parent.name
    return int(part) if part.isdigit() else 0


def missing_services() -> Optional[str]:
    """Why the services tests cannot run here, or None."""
    if shutil.which("redis-server") is None:
        return "redis-server not found (apt-get install redis-server)"
    if pg_bindir() is None:
        return "PostgreSQL server binaries not found (apt-get install postgresql)"
    for module, extra in (("celery", "fleet"), ("redis", "fleet"), ("psycopg", "fleet")):
        try:
            __import__(module)
        except ImportError:
            return f"python module {module} missing (pip install '.[{extra}]')"
    return None


def _wait_port(port: int, timeout: float, proc: Optional[subprocess.Popen] = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


class RedisServer:
    """redis-server with an append-only file fsynced on every write, so a restart keeps the queues
    (and the unacknowledged messages) as a production broker configured for durability would."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "redis"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: Optional[subprocess.Popen] = None
        self.log = self.dir / "redis.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir)]
        args += ["--appendonly", "yes", "--appendfsync", "always", "--save", "", "--logfile", str(self.log)]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(self.port, 20, self.proc)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: redis flushes the AOF and exits
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def restart(self, down_for: float = 0.0) -> None:
        self.stop()
        time.sleep(down_for)
        self.start()

    def client(self) -> Any:
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, db=0)


class PostgresServer:
    def __init__(self) -> None:
        bindir = pg_bindir()
        assert bindir is not None
        self.bin = bindir
        self.port = free_port()
        self.run_as: Dict[str, Any] = {}
        owner = None
        if os.geteuid() == 0:
            name = "postgres" if _user_exists("postgres") else "nobody"
            entry = pwd.getpwnam(name)
            owner = (entry.pw_uid, entry.pw_gid)
            self.run_as = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        self.dir = Path(tempfile.mkdtemp(prefix="gsotriage-pg-"))
        if owner:
            os.chown(self.dir, *owner)
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"

    def _run(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
        return subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            cwd=self.dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
            **self.run_as,
        )

    def start(self) -> None:
        if not self.data.exists():
            self._run("initdb", "-D", str(self.data), "-U", PG_USER, "--auth=trust", "-E", "UTF8", "--no-sync")
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", opts, "-w", "-t", "60", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{db}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def execute(self, url: str, *statements: str, params: tuple = ()) -> None:
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            for sql in statements:
                conn.execute(sql, params or None)

    def query(self, url: str, sql: str, params: tuple = ()) -> List[tuple]:
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            return list(conn.execute(sql, params).fetchall())


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


class RabbitServer:
    """A private RabbitMQ node (its own ports, data and epmd), run as the ``rabbitmq`` user when
    root. Optional: the fleet is tested on Redis in CI; this checks the amqp:// path when the
    distro's rabbitmq-server is installed."""

    def __init__(self) -> None:
        self.port, self.dist_port, self.epmd_port = free_port(), free_port(), free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="gsotriage-rabbit-"))
        self.run_as: Dict[str, Any] = {}
        if os.geteuid() == 0 and _user_exists("rabbitmq"):
            entry = pwd.getpwnam("rabbitmq")
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
            self.run_as = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        self.proc: Optional[subprocess.Popen] = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def _env(self) -> Dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.dir),
            "RABBITMQ_NODENAME": f"gsotriage{self.port}@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_PORT": str(self.epmd_port),
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.dir / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
        }

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [str(RABBITMQ_SERVER)],
            cwd=self.dir,
            env=self._env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            **self.run_as,
        )
        _wait_port(self.port, 90, self.proc)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(10)
        epmd = shutil.which("epmd") or next(iter(glob.glob("/usr/lib/erlang/erts-*/bin/epmd")), None)
        if epmd:  # the node started its own epmd on its own port, detached
            subprocess.run([epmd, "-port", str(self.epmd_port), "-kill"], capture_output=True, check=False, timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)
