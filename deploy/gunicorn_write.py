"""gunicorn configuration of the write API (Falcon WSGI, threaded workers).

Requests wait on Postgres, so threads overlap that wait; the pool size
(GATEHOUSE_DB_POOL_SIZE) should be at least workers x threads.
"""

import multiprocessing
import os

worker_class = "gthread"
workers = int(os.environ.get("GATEHOUSE_WRITE_WORKERS", multiprocessing.cpu_count()))
threads = int(os.environ.get("GATEHOUSE_WRITE_THREADS", 8))
keepalive = 5
accesslog = None
timeout = 60
