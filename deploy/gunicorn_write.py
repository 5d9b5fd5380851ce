"""gunicorn configuration of the write API (Falcon WSGI, threaded workers).

Requests wait on Postgres, so threads overlap that wait; each thread keeps one pooled
connection, so GATEHOUSE_DB_POOL_SIZE must be at least the thread count.

gthread over sync: `python -m loadtest.compare_workers` measured them equal on ingestion
(2,397 against 2,323 events/s, within noise), but a sync worker is held by one slow client for
the whole of its request, and an artifact upload or download can last minutes.
"""

import multiprocessing

from api.multiprocess import prepare, worker_exited
from api.settings import Settings
from api.write.bodies import pre_request  # noqa: F401 - gunicorn's hook: lets an answer close its connection

worker_class = "gthread"
_settings = Settings.from_env()
# X-Forwarded-Proto (the scheme of every URL built) and X-Forwarded-For count only from the edge:
# GATEHOUSE_TRUSTED_PROXIES, and nobody's while GATEHOUSE_FORWARDED_FOR_HOPS is 0 (api/forwarding.py).
forwarded_allow_ips = _settings.forwarded_allow_ips
workers = _settings.write_workers or multiprocessing.cpu_count()
threads = _settings.write_threads
# Longer than clients' idle pools: with 5 s, a client reusing a connection the server was just
# closing got no answer (seen as status 0 in the locust run).
keepalive = 75
accesslog = None
# Request lines and header fields up to 8 KiB, as the read service allows (documented: 414 past it).
limit_request_line = 8190
limit_request_field_size = 8190
timeout = 60


# Metrics: each worker writes its samples under the metrics directory (prometheus-client's multiprocess
# mode), so a scrape of /metrics on any worker reports the whole service. Set before any worker starts.
prepare("write", _settings.effective_metrics_dir)
# gunicorn 24+ opens a control socket at one fixed path per user: two masters on a host (read and write)
# claimed the same one. Gatehouse does not use it.
control_socket_disable = True


def child_exit(server, worker):
    worker_exited(worker.pid)
