"""The Celery application of the fleet: queues, delivery guarantees, the one task's name.

Everything a worker and a submitter must agree on is set here, from :class:`FleetConfig`:

- ``task_acks_late`` + ``task_reject_on_worker_lost``: a message is acknowledged after its
  analysis is recorded, so a worker killed mid-task leaves it to be delivered again;
- on Redis, ``visibility_timeout`` derived from ``--timeout`` (Celery's default is an hour),
  and unacknowledged messages swept back every few seconds (``unacked_restore_interval``);
- ``worker_prefetch_multiplier = 1``: a worker holds no more messages than it has threads;
- ``result_backend_always_retry``: a result stored while the broker's Redis restarts waits
  for it (up to about 10 minutes) instead of failing the task;
- one queue per shard plus the general queue, declared up front (with priorities).
"""

from __future__ import annotations

from typing import Any

from .config import FleetConfig, visibility_timeout
from .routing import GENERAL_QUEUE, all_queues

__all__ = ["TASK_NAME", "make_app"]

TASK_NAME = "gsotriage.analyze"
RESTORE_INTERVAL = 5  # seconds between sweeps for expired unacknowledged messages (Redis)


def make_app(config: FleetConfig) -> Any:
    """A Celery app for ``config`` (celery and kombu are imported here, not at package import)."""
    from celery import Celery
    from kombu import Queue

    app = Celery("gsotriage", broker=config.broker, backend=config.backend, set_as_current=False)
    transport: dict = {}
    if config.kind == "redis":
        transport = {
            "visibility_timeout": visibility_timeout(config.task_timeout),
            "unacked_restore_interval": RESTORE_INTERVAL,
            "unacked_restore_throttle": 1,
            "priority_steps": list(range(10)),
            "socket_timeout": 30,
            "socket_connect_timeout": 10,
        }
    queue_args = {"x-max-priority": 9} if config.kind == "amqp" else None
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_queues=[Queue(q, routing_key=q, queue_arguments=queue_args) for q in all_queues(config.shards)],
        task_default_queue=GENERAL_QUEUE,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_expires=7 * 24 * 3600,
        result_extended=False,
        broker_transport_options=transport,
        result_backend_transport_options=transport,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # a running worker waits out a broker restart
        # A task that ends while Redis (also the result backend) restarts waits to store its
        # result instead of failing "outside body": Celery 5.7 with the threads pool then stops
        # the worker (Unrecoverable error: AttributeError on a request's hostname).
        result_backend_always_retry=True,
        result_backend_max_retries=120,
        result_backend_max_sleep_between_retries_ms=5000,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
    )
    return app
