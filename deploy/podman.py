"""Gatehouse's images built and run with podman, where no image registry is reachable.

    python -m deploy.podman base     # a Debian base image from the machine's own package mirror
    python -m deploy.podman build    # the application and edge images on it (makes the base if missing)
    python -m deploy.podman services # those, and PostgreSQL and Redis images for compose.yaml

The base is debootstrap's minimal Debian (the suite the machine runs, from the mirror its apt uses) with
Python and its venv module, imported with `podman import`: deploy/Dockerfile takes it as its BASE argument,
so the same file builds from python:3.11-slim where a registry is reachable. Podman runs here with runc
(crun fails on these cgroups), no default ulimits and host networking: `containers_conf()` writes that
configuration and every call passes it in CONTAINERS_CONF.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASE = "localhost/gatehouse-base:bookworm"
APP = "localhost/gatehouse:latest"
EDGE = "localhost/gatehouse-edge:latest"
POSTGRES = "localhost/gatehouse-postgres:15"
REDIS = "localhost/gatehouse-redis:7"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
_CONF = """\
# Written by deploy/podman.py: runc, as crun fails on these cgroups; no default ulimits (podman's raise
# the open-files limit above what an unprivileged sandbox may set).
[containers]
default_ulimits = []

[engine]
runtime = "runc"
"""


def containers_conf() -> Path:
    path = Path(tempfile.gettempdir()) / "gatehouse-containers.conf"
    if not path.exists() or path.read_text() != _CONF:
        path.write_text(_CONF)
    return path


def podman_env() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(containers_conf())}


def podman(*args: str, check: bool = True, capture: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], env=podman_env(), check=check, capture_output=capture, text=True)


def has_image(tag: str) -> bool:
    return podman("image", "exists", tag, check=False).returncode == 0


def image_size(tag: str) -> int:
    """Bytes, as `podman images` counts them (every layer, uncompressed)."""
    return int(podman("image", "inspect", "--format", "{{.Size}}", tag).stdout.strip())


def _mirror() -> str:
    """The Debian mirror this machine's apt uses (deb822 or one-line sources), else Debian's own."""
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    if sources.exists():
        found = re.search(r"^URIs:\s*(\S+)", sources.read_text(), re.M)
        if found:
            return found.group(1)
    listed = Path("/etc/apt/sources.list")
    if listed.exists():
        found = re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s", listed.read_text(), re.M)
        if found:
            return found.group(1)
    return "http://deb.debian.org/debian"


def _suite() -> str:
    release = Path("/etc/os-release").read_text() if Path("/etc/os-release").exists() else ""
    found = re.search(r"^VERSION_CODENAME=(\w+)", release, re.M)
    return found.group(1) if found else "bookworm"


def make_base(tag: str = BASE) -> None:
    """debootstrap's minimal Debian with Python, without apt's downloads, documents or translations."""
    if shutil.which("debootstrap") is None:
        raise SystemExit("debootstrap is missing: apt-get install debootstrap")
    rootfs = Path(tempfile.mkdtemp(prefix="gatehouse-rootfs-"))
    try:
        subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=python3,python3-venv,ca-certificates",
                _suite(),
                str(rootfs),
                _mirror(),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        for waste in (
            "var/cache/apt",
            "var/lib/apt/lists",
            "usr/share/doc",
            "usr/share/man",
            "usr/share/locale",
        ):
            shutil.rmtree(rootfs / waste, ignore_errors=True)
        (rootfs / "var/lib/apt/lists/partial").mkdir(parents=True)
        (rootfs / "var/cache/apt/archives/partial").mkdir(parents=True)  # apt's own cache: rebuilt on use
        with subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE) as tar:
            subprocess.run(
                ["podman", "import", "--change", "ENV LANG=C.UTF-8", "--change", 'CMD ["python3"]', "-", tag],
                stdin=tar.stdout,
                env=podman_env(),
                check=True,
                stdout=subprocess.DEVNULL,
            )
        if tar.returncode != 0:
            raise SystemExit("tar of the debootstrapped tree failed")
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)


def build(target: str, tag: str, base: str = BASE, dockerfile: str = "Dockerfile") -> None:
    """One target of deploy/Dockerfile. Docker's format keeps the HEALTHCHECK (OCI's has none); the host's
    certificate bundle is lent to the build, so pip trusts what the host trusts (a proxy's authority)."""
    args = ["build", "--format", "docker", "--network", "host", "--layers"]
    args += ["--file", str(ROOT / "deploy" / dockerfile), "--target", target, "--tag", tag]
    args += ["--build-arg", f"BASE={base}"]
    if Path(CA_BUNDLE).exists():
        args += ["--volume", f"{CA_BUNDLE}:{CA_BUNDLE}:ro", "--build-arg", f"PIP_CERT={CA_BUNDLE}"]
    done = podman(*args, str(ROOT), check=False)
    if done.returncode != 0:
        raise SystemExit(f"podman build of {target} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")


def build_all(base: str = BASE, services: bool = False) -> dict[str, float]:
    """The base where missing, then the application and edge images, and with ``services`` PostgreSQL and
    Redis for compose.yaml; the seconds each step took."""
    took: dict[str, float] = {}
    if not has_image(base):
        started = time.monotonic()
        make_base(base)
        took["base"] = time.monotonic() - started
    steps = [("gatehouse", APP, "Dockerfile"), ("edge", EDGE, "Dockerfile")]
    if services:
        steps += [("postgres", POSTGRES, "Dockerfile.services"), ("redis", REDIS, "Dockerfile.services")]
    for target, tag, dockerfile in steps:
        started = time.monotonic()
        build(target, tag, base, dockerfile)
        took[target] = time.monotonic() - started
    return took


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m deploy.podman", description=__doc__.split("\n")[0])
    parser.add_argument("step", choices=["base", "build", "services"])
    args = parser.parse_args(argv)
    if args.step == "base":
        make_base()
        print(f"{BASE}: {image_size(BASE) / 1e6:.0f} MB")
        return
    services = args.step == "services"
    for step, seconds in build_all(services=services).items():
        print(f"built {step} in {seconds:.0f} s", file=sys.stderr)
    for tag in (BASE, APP, EDGE, *((POSTGRES, REDIS) if services else ())):
        print(f"{tag}: {image_size(tag) / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
