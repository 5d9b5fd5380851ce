"""Fills deploy/nginx/gatehouse.conf.template: `python deploy/render_nginx.py > /etc/nginx/nginx.conf`.

Values come from keyword arguments or the environment (GATEHOUSE_EDGE_*), with the defaults below.
With TLS_CERT and TLS_KEY (paths of a PEM certificate chain and its key) the edge serves HTTPS on
TLS_LISTEN, and LISTEN only redirects there: 301 for GET and HEAD, 308 for the rest (a device's POST
keeps its method and body). Without them the edge serves plain HTTP on LISTEN, as before.

With ADMIN_UI_DIR (the `dist/` of fenfa's admin UI, built with npm) the edge serves those files at
/admin/ on the same origin as the API they call (/admin/api/, /admin/exports/), which stay Gatehouse's.
"""

from __future__ import annotations

import os
import string
import sys
from pathlib import Path

TEMPLATE = Path(__file__).parent / "nginx" / "gatehouse.conf.template"
DEFAULTS = {
    "LISTEN": "80",
    "TLS_LISTEN": "443",
    "TLS_CERT": "",
    "TLS_KEY": "",
    "ADMIN_UI_DIR": "",
    "READ_UPSTREAM": "127.0.0.1:8001",
    "WRITE_UPSTREAM": "127.0.0.1:8002",
    "RUN_DIR": "/var/lib/gatehouse-edge",
    "CACHE_SECONDS": "5",
    "MAX_BODY": "2g",  # GATEHOUSE_UPLOAD_MAX_BYTES; the write API enforces the exact figure
}
_ACCEPT = "reuseport backlog=4096"


def _port(listen: str) -> str:
    return listen.rsplit(":", 1)[-1] if ":" in listen else listen


def _servers(values: dict[str, str]) -> dict[str, str]:
    """LISTEN_DIRECTIVES of the main server and the REDIRECT_SERVER block (empty without TLS)."""
    cert, key = values["TLS_CERT"], values["TLS_KEY"]
    if bool(cert) != bool(key):
        raise ValueError("GATEHOUSE_EDGE_TLS_CERT and GATEHOUSE_EDGE_TLS_KEY go together")
    if not cert:
        return {"LISTEN_DIRECTIVES": f"        listen {values['LISTEN']} {_ACCEPT};", "REDIRECT_SERVER": ""}
    port = _port(values["TLS_LISTEN"])
    target = "https://$host" + ("" if port == "443" else f":{port}") + "$request_uri"
    listen = "\n".join(
        [
            # `listen ... http2` rather than 1.25's `http2 on`: Debian 12 ships nginx 1.22.
            f"        listen {values['TLS_LISTEN']} ssl http2 {_ACCEPT};",
            f"        ssl_certificate {cert};",
            f"        ssl_certificate_key {key};",
            "        ssl_protocols TLSv1.2 TLSv1.3;",
            "        ssl_session_cache shared:tls:10m;",
            "        ssl_session_timeout 1d;",
        ]
    )
    redirect = "\n".join(
        [
            "    server {",
            f"        listen {values['LISTEN']} {_ACCEPT};",
            "        location / {",
            f"            if ($request_method ~ ^(GET|HEAD)$) {{ return 301 {target}; }}",
            f"            return 308 {target};",
            "        }",
            "    }",
        ]
    )
    return {"LISTEN_DIRECTIVES": listen, "REDIRECT_SERVER": redirect}


def _admin_ui(directory: str) -> str:
    if not directory:
        return ""
    root = directory.rstrip("/") + "/"
    return "\n".join(
        [
            "        # fenfa's admin UI (GATEHOUSE_EDGE_ADMIN_UI_DIR): its files, its routes to index.html.",
            "        location = /admin { return 301 /admin/; }",
            "        location ^~ /admin/ {",
            f"            alias {root};",
            "            try_files $uri $uri/ /admin/index.html;",
            '            add_header Cache-Control "no-cache" always;',
            "        }",
            "        location ^~ /admin/api/ { proxy_pass http://write_api; }",
            "        location ^~ /admin/exports/ { proxy_pass http://write_api; proxy_buffering off; }",
            "        location ^~ /admin/v1/ { proxy_pass http://write_api; }",
        ]
    )


def _read_paths_regex() -> str:
    # The edge image has no Gatehouse package: its build wrote the registry's regex beside this file.
    shipped = Path(__file__).with_name("read-paths.regex")
    if shipped.exists():
        return shipped.read_text().strip()
    from api.dialects.registry import read_paths_regex  # the one list of read paths

    return read_paths_regex()


def render(**values: str) -> str:
    merged = _settings() | values
    if "READ_PATHS_REGEX" not in merged:
        merged["READ_PATHS_REGEX"] = _read_paths_regex()
    merged |= _servers(merged)
    merged["ADMIN_UI"] = _admin_ui(merged["ADMIN_UI_DIR"])
    return string.Template(TEMPLATE.read_text()).safe_substitute(merged)


def _settings() -> dict[str, str]:
    return {k: os.environ.get(f"GATEHOUSE_EDGE_{k}", v) for k, v in DEFAULTS.items()}


def health_url(values: dict[str, str]) -> str:
    """Where the edge answers /health itself: its HTTPS port when it serves TLS (the plain one only
    redirects then), on its own address, or loopback when it listens on every address."""
    tls = bool(values["TLS_CERT"] and values["TLS_KEY"])
    listen = values["TLS_LISTEN" if tls else "LISTEN"]
    host = listen.rsplit(":", 1)[0] if ":" in listen else ""
    if host in ("", "*", "0.0.0.0", "[::]"):
        host = "127.0.0.1"
    return f"{'https' if tls else 'http'}://{host}:{_port(listen)}/health"


def healthy(values: dict[str, str]) -> bool:
    """The edge image's HEALTHCHECK: /health through the edge. The certificate is not checked: the container
    asks itself, and a certificate for the public name does not name this address."""
    import ssl
    import urllib.request

    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        with urllib.request.urlopen(health_url(values), timeout=2, context=context):
            return True
    except OSError:
        return False


if __name__ == "__main__":
    if sys.argv[1:] == ["--health"]:
        sys.exit(0 if healthy(_settings()) else 1)
    sys.stdout.write(render())
