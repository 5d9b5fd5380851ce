"""Fills deploy/nginx/gatehouse.conf.template: `python deploy/render_nginx.py > /etc/nginx/nginx.conf`.

Values come from keyword arguments or the environment (GATEHOUSE_EDGE_*), with the defaults below.
"""

from __future__ import annotations

import os
import string
import sys
from pathlib import Path

TEMPLATE = Path(__file__).parent / "nginx" / "gatehouse.conf.template"
DEFAULTS = {
    "LISTEN": "80",
    "READ_UPSTREAM": "127.0.0.1:8001",
    "WRITE_UPSTREAM": "127.0.0.1:8002",
    "RUN_DIR": "/var/lib/gatehouse-edge",
    "CACHE_SECONDS": "5",
    "MAX_BODY": "2g",  # GATEHOUSE_UPLOAD_MAX_BYTES; the write API enforces the exact figure
}


def render(**values: str) -> str:
    from api.dialects.registry import read_paths_regex  # the one list of read paths

    merged = {k: os.environ.get(f"GATEHOUSE_EDGE_{k}", v) for k, v in DEFAULTS.items()} | values
    merged.setdefault("READ_PATHS_REGEX", read_paths_regex())
    return string.Template(TEMPLATE.read_text()).safe_substitute(merged)


if __name__ == "__main__":
    sys.stdout.write(render())
