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

from api.multiprocess import prepare, worker_exited
from api.settings import Settings

# uvicorn's worker (httptools, uvloop) with the request head bounded: api/read/server.py.
worker_class = "api.read.server.ReadWorker"
_settings = Settings.from_env()
# X-Forwarded-Proto (the scheme of every URL built) and X-Forwarded-For count only from the edge:
# GATEHOUSE_TRUSTED_PROXIES, and nobody's while GATEHOUSE_FORWARDED_FOR_HOPS is 0 (api/forwarding.py).
forwarded_allow_ips = _settings.forwarded_allow_ips
workers = _settings.read_workers or multiprocessing.cpu_count()
reuse_port = True
# The binary upgrade (USR2, deploy/README.md "Upgrade") re-executes the master with its listeners'
# descriptors in GUNICORN_FD. With reuse_port the master holds none, so it passes "", which gunicorn 27's new
# master fails to parse before it starts any worker; the workers bind their own sockets, so the value is
# never used and any number lets the new master start (tests/test_upgrade.py).
if os.environ.get("GUNICORN_FD") == "":
    os.environ["GUNICORN_FD"] = "0"
keepalive = 75
backlog = 4096
accesslog = None
graceful_timeout = 10


# Metrics: each worker writes its samples under the metrics directory (prometheus-client's multiprocess
# mode), so a scrape of /metrics on any worker reports the whole service. Set before any worker starts.
prepare("read", _settings.effective_metrics_dir)
# gunicorn 24+ opens a control socket at one fixed path per user: two masters on a host (read and write)
# claimed the same one. Gatehouse does not use it.
control_socket_disable = True


def child_exit(server, worker):
    worker_exited(worker.pid)


def when_ready(server):
    # With reuse_port the master binds nothing, so gunicorn's own line reads "Listening at:  (pid)".
    server.log.info("Listening at: %s (each worker binds it with SO_REUSEPORT)", ", ".join(server.cfg.bind))
