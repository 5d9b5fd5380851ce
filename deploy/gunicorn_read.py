"""gunicorn configuration of the read service (Falcon ASGI under uvicorn's worker).

One process per core: a request is answered from memory without I/O, so the
event loop is CPU bound and more processes than cores only add switching.
reuse_port gives each process its own accept queue, so one process cannot take
most connections.

uvicorn's worker with httptools (and uvloop) over its h11 worker: 24,544 against 10,494 req/s
(`python -m loadtest.compare_workers`, median of 3 wrk runs on 2 cores).
"""

import multiprocessing
import os

# uvicorn's worker (httptools, uvloop) with the request head bounded: api/read/server.py.
worker_class = "api.read.server.ReadWorker"
workers = int(os.environ.get("GATEHOUSE_READ_WORKERS", multiprocessing.cpu_count()))
reuse_port = True
keepalive = 75
backlog = 4096
accesslog = None
graceful_timeout = 10
