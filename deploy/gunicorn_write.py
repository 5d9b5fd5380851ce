"""gunicorn configuration of the write API (Falcon WSGI, threaded workers).

Requests wait on Postgres, so threads overlap that wait; each thread keeps one pooled
connection, so GATEHOUSE_DB_POOL_SIZE must be at least the thread count.

gthread over sync: `python -m loadtest.compare_workers` measured them equal on ingestion
(2,397 against 2,323 events/s, within noise), but a sync worker is held by one slow client for
the whole of its request, and an artifact upload or download can last minutes.
"""

import multiprocessing
import os

worker_class = "gthread"
workers = int(os.environ.get("GATEHOUSE_WRITE_WORKERS", multiprocessing.cpu_count()))
threads = int(os.environ.get("GATEHOUSE_WRITE_THREADS", 8))
# Longer than clients' idle pools: with 5 s, a client reusing a connection the server was just
# closing got no answer (seen as status 0 in the locust run).
keepalive = 75
accesslog = None
timeout = 60
