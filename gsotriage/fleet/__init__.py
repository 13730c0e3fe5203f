"""Fleet mode: gsotriage as Celery workers over a shared history database.

``routing`` (with ``buildid``) names a dump's kernel build from a few KB and picks its shard
queue; ``app`` is the Celery application (queues, late acks, redelivery deadline from the
timeout); ``tasks`` is the one task (the batch runner's child process, then an upsert into
the history); ``worker`` starts a worker, ``submit`` enqueues and waits, ``watch`` follows a
directory of crashes; ``metrics`` (Prometheus) and ``logs`` (JSON lines) are for operations.
Celery, kombu, redis, psycopg and prometheus-client are imported lazily: the rest of
gsotriage runs without them (``pip install 'gsotriage[fleet]'``).
"""
