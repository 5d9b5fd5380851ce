"""The images deploy/Dockerfile builds (`make image`), run with podman as deploy/README.md's "Install"
runs them: the read service, the write API, the worker and the nginx edge against the test PostgreSQL and
Redis, and each dialect's client call through the edge (tests/worlds.py)."""

from __future__ import annotations

import json
import ssl
import time

import httpx
import pytest
import redis

from deploy.podman import APP, BASE, EDGE, build_all, image_size, podman
from loadtest.processes import free_port, recreate_database, wait_until
from tests import lanes
from tests.containers import Containers, report, start_services, wait_answering
from tests.test_edge_tls import self_signed
from tests.worlds import answers, check_every_dialect, seed, wait_for_offer

pytestmark = pytest.mark.image


@pytest.fixture(scope="module")
def images():
    took = build_all()
    sizes = {tag: image_size(tag) for tag in (BASE, APP, EDGE)}
    report(f"build seconds: { {k: round(v) for k, v in took.items()} }")
    report(f"image sizes (MB): { {k: round(v / 1e6) for k, v in sizes.items()} }")
    return sizes


@pytest.fixture
def containers(request):
    database, redis_url = lanes.pg("gatehouse_container"), lanes.redis_url(6)
    recreate_database(database)
    redis.Redis.from_url(redis_url).flushdb()
    made = Containers(
        f"gh-test-{request.node.name[:20].replace('_', '-')}",
        {
            "GATEHOUSE_DATABASE_URL": database,
            "GATEHOUSE_REDIS_URL": redis_url,
            "GATEHOUSE_QUEUE_NAME": "gatehouse-container",
            "GATEHOUSE_SECRET_KEY": "container-test-secret-key-0123456789",
        },
    )
    try:
        yield made
    finally:
        for name in made.names:  # pytest shows what a test printed only when it failed
            print(f"--- {name}\n{made.logs(name)[-3000:]}")
        made.remove()


def test_the_application_image_is_lean_and_runs_as_its_own_user(images):
    image = json.loads(podman("image", "inspect", APP).stdout)[0]
    config = image["Config"]
    assert config["User"] == "gatehouse"
    assert image["Healthcheck"]["Test"] == ["CMD", "gatehouse", "ready"]
    assert json.loads(podman("image", "inspect", EDGE).stdout)[0]["Config"]["User"] == "www-data"
    # No compiler, no pip, no pip cache in the final stage; the virtual environment and the package only.
    found = podman(
        "run", "--rm", APP, "sh", "-c",
        "command -v gcc cc pip pip3; ls /root/.cache /opt/gatehouse/venv/bin/pip 2>/dev/null; id -un",
        check=False,
    ).stdout.split()  # fmt: skip
    assert found == ["gatehouse"]
    # Small: the application adds its virtual environment to the base and nothing else of size.
    assert images[APP] - images[BASE] < 200e6 and images[EDGE] - images[BASE] < 100e6, images


def test_the_stack_from_the_images_answers_every_dialect_through_the_edge(images, containers):
    services = start_services(containers)
    first_answer = wait_answering(f"{services.edge}/health")  # the read service, through the edge
    report(f"run to first answer through the edge: {time.monotonic() - services.started_at:.1f} s")
    assert first_answer < 60
    for name in containers.names:
        wait_until(lambda name=name: containers.healthy(name), timeout=30, interval=0.5)

    world = seed(services, product=True)
    wait_for_offer(services)
    got = answers(services, world)

    check_every_dialect(got)

    # The worker stops on SIGTERM after its job, with status 0; the read service and write API likewise.
    for name in containers.names:
        podman("stop", "--time", "15", name)
        assert containers.exit_code(name) == 0, (name, containers.logs(name)[-2000:])


def test_the_edge_image_serves_https_from_a_mounted_certificate(images, containers, tmp_path):
    """deploy/README.md, "TLS": the edge image given a certificate and key on a read-only volume serves HTTPS,
    and its plain port only redirects there (301 for GET, 308 keeping a device's POST)."""
    services = start_services(containers)
    wait_answering(f"{services.edge}/health")
    certs = tmp_path / "certs"
    certs.mkdir()
    cert, _ = self_signed(certs)
    plain, tls = free_port(), free_port()
    name = containers.start(
        "edge-tls",
        image=EDGE,
        volumes=(f"{certs}:/certs:ro",),
        GATEHOUSE_EDGE_LISTEN=f"127.0.0.1:{plain}",
        GATEHOUSE_EDGE_TLS_LISTEN=f"127.0.0.1:{tls}",
        GATEHOUSE_EDGE_TLS_CERT="/certs/cert.pem",
        GATEHOUSE_EDGE_TLS_KEY="/certs/key.pem",
        **services.upstreams,
    )
    trusted = ssl.create_default_context(cafile=str(cert))
    with httpx.Client(base_url=f"https://127.0.0.1:{tls}", verify=trusted, timeout=5) as client:

        def answers_https() -> bool:
            try:
                return client.get("/health").status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(answers_https, timeout=30, interval=0.2)
        assert containers.healthy(name)  # the image's own check, with the plain port only redirecting
        asked = {"app_id": "com.example.unknown", "device_id": "00000000-0000-4000-8000-000000000001",
                 "platform": "android", "version_build": "1.0.0"}  # fmt: skip
        offer = client.post("/updates", json=asked)
        assert offer.status_code == 200 and offer.json()["error"] == "app_not_found", offer.text
    with httpx.Client(base_url=f"http://127.0.0.1:{plain}", timeout=5) as client:
        got = client.get("/health")
        assert (got.status_code, got.headers["location"]) == (301, f"https://127.0.0.1:{tls}/health")
        assert client.post("/updates", json=asked).status_code == 308
