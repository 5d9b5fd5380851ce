"""Set-up of prometheus-client's multiprocess mode for the gunicorn configurations.

Kept apart from api/metrics.py because importing prometheus_client fixes where it keeps samples:
the environment variable must be set before the first import, in the gunicorn master.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare(service: str, metrics_dir: str | Path) -> Path:
    """Called by a gunicorn master: a clean directory for this service's worker files."""
    path = Path(metrics_dir) / service
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    os.environ[ENV] = str(path)
    return path


def worker_exited(pid: int) -> None:
    """gunicorn's child_exit hook: the dead worker's live gauges stop counting."""
    if os.environ.get(ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
