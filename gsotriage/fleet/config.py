"""Settings shared by the fleet's worker and submitter: broker, result backend, shards, timeouts.

The broker is Redis (``redis://``) or RabbitMQ (``amqp://``); nothing else in gsotriage knows
which. Task results (what ``submit --wait`` reads) go to the broker's Redis by default, or to
Celery's RPC backend over RabbitMQ; ``--result-backend`` overrides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional
from urllib.parse import urlsplit

from .routing import DEFAULT_SHARDS

__all__ = [
    "PRIORITY_NORMAL",
    "PRIORITY_URGENT",
    "FleetConfig",
    "broker_kind",
    "redact",
    "visibility_timeout",
]

# Message priorities (0..9). Redis serves the lowest number first and treats a message without
# priority as 0, so normal work is sent at 6 and urgent work at 0; RabbitMQ serves the highest
# first (queues are declared with x-max-priority 9).
PRIORITY_URGENT = {"redis": 0, "amqp": 9}
PRIORITY_NORMAL = {"redis": 6, "amqp": 0}


def broker_kind(url: str) -> str:
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("redis", "rediss", "redis+socket", "sentinel"):
        return "redis"
    if scheme in ("amqp", "amqps", "pyamqp", "librabbitmq"):
        return "amqp"
    raise ValueError(f"unsupported broker URL scheme {scheme!r} (redis:// or amqp://)")


def redact(url: str) -> str:
    """A URL with its password replaced, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def visibility_timeout(task_timeout: float) -> int:
    """Seconds a delivered, unacknowledged message stays invisible on Redis before it is given
    to another worker: the deadline of a task whose worker was killed. Celery's default is an
    hour; a task here is bounded by its timeout plus the analysis process start and the
    history write, so twice the timeout plus a minute covers a live task with margin."""
    return int(2 * task_timeout + 60)


@dataclass(frozen=True)
class FleetConfig:
    broker: str
    result_backend: Optional[str] = None
    shards: int = DEFAULT_SHARDS
    task_timeout: float = 300.0

    @property
    def kind(self) -> str:
        return broker_kind(self.broker)

    @property
    def backend(self) -> str:
        if self.result_backend:
            return self.result_backend
        return self.broker if self.kind == "redis" else "rpc://"
