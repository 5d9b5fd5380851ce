"""Containers of Gatehouse's images for the image tests (`make image`): started with podman on the host's
network, as deploy/README.md runs them, and removed at the end whatever happened."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import httpx

from deploy.podman import APP, EDGE, podman
from loadtest.processes import free_port, wait_until


@dataclass
class Containers:
    """The containers one test started, named ``prefix-role``; ``env`` is given to every one."""

    prefix: str
    env: dict[str, str]
    names: list[str] = field(default_factory=list)

    def _env_args(self, extra: dict[str, str]) -> list[str]:
        return [arg for k, v in {**self.env, **extra}.items() for arg in ("--env", f"{k}={v}")]

    def run(self, *cmd: str, image: str = APP, **extra: str) -> str:
        """A one-off command in a new container (`gatehouse migrate`, `create-token`): its output."""
        done = podman("run", "--rm", "--network", "host", *self._env_args(extra), image, *cmd, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def start(
        self, role: str, *cmd: str, image: str = APP, volumes: tuple[str, ...] = (), **extra: str
    ) -> str:
        # No systemd here to time healthchecks: `podman healthcheck run` runs the image's check on demand.
        name = f"{self.prefix}-{role}"
        podman("rm", "--force", name, check=False)
        mounts = [arg for volume in volumes for arg in ("--volume", volume)]
        podman(
            "run", "--detach", "--name", name, "--network", "host", "--health-interval", "disable",
            *mounts, *self._env_args(extra), image, *cmd,
        )  # fmt: skip
        self.names.append(name)
        return name

    def healthy(self, name: str) -> bool:
        return podman("healthcheck", "run", name, check=False).returncode == 0

    def logs(self, name: str) -> str:
        done = podman("logs", name, check=False)
        return done.stdout + done.stderr

    def exit_code(self, name: str) -> int:
        return int(podman("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip())

    def remove(self) -> None:
        for name in self.names:
            podman("rm", "--force", "--time", "2", name, check=False)


@dataclass
class Services:
    """The read service, the write API, the worker and the edge from the images; ``edge`` is its base URL."""

    edge: str
    admin_token: str
    started_at: float
    # The edge's GATEHOUSE_EDGE_*_UPSTREAM settings, for another edge (compose's services have none).
    upstreams: dict[str, str] = field(default_factory=dict)

    @property
    def read(self) -> str:
        return self.edge

    @property
    def write(self) -> str:
        return self.edge


def start_services(containers: Containers) -> Services:
    """Migrates, makes the super admin of tests/worlds.py and its token, then starts the four services."""
    containers.run("gatehouse", "migrate")
    containers.run(
        "gatehouse", "create-user", "--email", "load@example.com", "--password", "load password",
        "--role", "super_admin",
    )  # fmt: skip
    token = containers.run("gatehouse", "create-token", "--email", "load@example.com").strip()
    read, write, edge = free_port(), free_port(), free_port()
    started = time.monotonic()
    containers.start("read", "gatehouse", "serve", "read", "--bind", f"127.0.0.1:{read}")
    containers.start(
        "write", "gatehouse", "serve", "write", "--bind", f"127.0.0.1:{write}", GATEHOUSE_WRITE_WORKERS="1"
    )
    containers.start("worker", "gatehouse", "worker")
    upstreams = {
        "GATEHOUSE_EDGE_READ_UPSTREAM": f"127.0.0.1:{read}",
        "GATEHOUSE_EDGE_WRITE_UPSTREAM": f"127.0.0.1:{write}",
    }
    containers.start("edge", image=EDGE, GATEHOUSE_EDGE_LISTEN=f"127.0.0.1:{edge}", **upstreams)
    return Services(f"http://127.0.0.1:{edge}", token, started, upstreams)


FIGURES: list[str] = []  # printed at the end of the run (tests/conftest.py's terminal summary)


def report(line: str) -> None:
    """A figure for `make image`'s output (and the notes): image sizes, times."""
    FIGURES.append(line)


def answering(url: str) -> bool:
    try:
        return httpx.get(url, timeout=3).is_success
    except httpx.HTTPError:
        return False


def wait_answering(url: str, timeout: float = 60) -> float:
    """Seconds until ``url`` answers 2xx."""
    started = time.monotonic()
    wait_until(lambda: answering(url), timeout=timeout, interval=0.05)
    return time.monotonic() - started
