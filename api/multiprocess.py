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
    """Called by a gunicorn master: a clean directory of its own for its workers' files.

    Each master gets ``<metrics_dir>/<service>/<master pid>``: two masters of one service on a host (a
    rolling upgrade, a second read service) share the setting, and one clearing the other's directory
    while its workers start made them fail to boot. Directories of masters no longer running go."""
    parent = Path(metrics_dir) / service
    parent.mkdir(parents=True, exist_ok=True)
    for old in parent.iterdir():
        if old.is_dir() and old.name.isdigit() and not _running(int(old.name)):
            shutil.rmtree(old, ignore_errors=True)
    path = parent / str(os.getpid())
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir()
    os.environ[ENV] = str(path)
    return path


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # somebody else's process, running: not ours to clear
    return True


def worker_exited(pid: int) -> None:
    """gunicorn's child_exit hook: the dead worker's live gauges stop counting."""
    if os.environ.get(ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
