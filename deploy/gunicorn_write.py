"""gunicorn configuration of the write API (Falcon WSGI, threaded workers).

Requests wait on Postgres, so threads overlap that wait; the pool size
(GATEHOUSE_DB_POOL_SIZE) should be at least workers x threads.
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
