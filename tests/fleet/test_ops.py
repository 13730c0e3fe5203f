"""Operations without services: the JSON log lines and the Prometheus metrics of a worker."""

from __future__ import annotations

import io
import json
import logging

from gsotriage.fleet.config import FleetConfig, redact, visibility_timeout
from gsotriage.fleet.logs import configure_json_logging, log_event
from gsotriage.fleet.metrics import WorkerMetrics


def test_logs_are_one_json_object_per_line():
    stream = io.StringIO()
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    try:
        configure_json_logging("info", stream)
        log_event("analysed", input="/srv/crash/a", status="ok", seconds=0.5, queue="gsotriage.shard.1")
        logging.getLogger("celery.worker").warning("Connection to broker lost")
        logging.getLogger("celery.app.trace").info("Task succeeded")  # dropped: our record says it
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        logging.captureWarnings(False)
    lines = [json.loads(x) for x in stream.getvalue().splitlines()]
    assert [x["msg"] for x in lines] == ["analysed", "Connection to broker lost"]
    assert lines[0]["input"] == "/srv/crash/a" and lines[0]["level"] == "info" and lines[0]["ts"].endswith("+00:00")
    assert lines[1]["level"] == "warning" and lines[1]["logger"] == "celery.worker"


def test_metrics_by_status_class_and_queue():
    m = WorkerMetrics()
    m.finished("ok", kind="dump", seconds=1.2, root_cause="gso-tunnel-tcp-metadata-geometry-mismatch")
    m.finished("ok", kind="text", seconds=0.02, root_cause=None)
    m.finished("timeout", kind="dump", seconds=30, root_cause=None)
    m.latency.labels(queue="gsotriage.shard.2").observe(3.0)
    m.build_loads.inc()
    text = m.text()
    assert 'gsotriage_tasks_total{status="ok"} 2.0' in text and 'gsotriage_tasks_total{status="timeout"} 1.0' in text
    assert 'gsotriage_verdicts_total{root_cause="gso-tunnel-tcp-metadata-geometry-mismatch"} 1.0' in text
    assert 'gsotriage_verdicts_total{root_cause="unknown"} 1.0' in text
    assert 'gsotriage_analysis_seconds_count{kind="dump"} 2.0' in text
    assert 'gsotriage_queue_latency_seconds_count{queue="gsotriage.shard.2"} 1.0' in text
    assert "gsotriage_build_loads_total 1.0" in text


def test_broker_settings():
    assert visibility_timeout(30) == 120  # redelivery within minutes, not Celery's default hour
    assert FleetConfig("redis://q:6379/0").backend == "redis://q:6379/0"
    assert FleetConfig("amqp://u:p@rabbit//").backend == "rpc://"
    assert FleetConfig("amqp://u:p@rabbit//").kind == "amqp"
    assert redact("redis://:s3cret@q:6379/0") == "redis://:***@q:6379/0"
