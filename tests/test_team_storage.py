"""A team's own S3 storage, as a hostile team admin would configure it (the second hardening round, item 6
and item 12's S3 refusal): no private or non-http endpoint is accepted, the address is checked again when
the write API connects (DNS rebinding), the deployment's AWS credentials never sign a team's requests,
and an endpoint that refuses answers a clear 502, never a 500."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from falcon import testing

from api.write.app import create_write_app
from store.models import DistSettings
from tests.test_distribution import make_product, upload


class Listener:
    """An S3 endpoint stand-in that records every request and answers 403, as a bucket refusing would."""

    def __init__(self):
        self.seen: list[dict] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self):
                listener.seen.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                body = b"<Error><Code>AccessDenied</Code><Message>no</Message></Error>"
                self.send_response(403)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _any  # noqa: N815 - http.server's names

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture
def listener():
    made = Listener()
    yield made
    made.close()


def client(settings, redis_conn, **overrides) -> testing.TestClient:
    return testing.TestClient(create_write_app(settings.model_copy(update=overrides), redis_conn))


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://169.254.169.254",
        "http://10.0.0.1:9000",
        "http://[::1]:6390",
        "http://127.0.0.1:5499",
        "http://100.64.0.1",  # carrier-grade NAT
        "http://[::ffff:127.0.0.1]:9000",  # an IPv4-mapped loopback
        "http://localhost:9000",  # a name resolving to loopback
        "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_PING",
        "not a url",
        "http://user:pass@s3.example.com",
    ],
)
def test_a_team_cannot_point_its_storage_at_the_deployments_network(dist, world, endpoint):
    res = dist(
        "PUT", "/admin/api/settings", {"storage_type": "s3", "s3_endpoint": endpoint, "s3_bucket": "b"}
    )
    assert res.status_code == 400, res.text
    assert "s3_endpoint" in res.json["error"]["message"]
    assert DistSettings.get_or_none(DistSettings.team == world.team.id) is None  # nothing half-written


def test_the_deployments_credentials_never_sign_a_teams_requests(
    settings, redis_conn, world, listener, monkeypatch
):
    # boto3's default chain would find these: a team without keys of its own must not get them.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "DEPLOYMENTKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "deployment-secret")
    api = client(settings, redis_conn, storage_allow_private=True)

    def dist(method, path, body=None):
        return api.simulate_request(method, path, json=body, headers={"X-Auth-Token": world.token})

    res = dist(
        "PUT", "/admin/api/settings", {"storage_type": "s3", "s3_endpoint": listener.url, "s3_bucket": "b"}
    )
    assert res.status_code == 200, res.text
    _, vid = make_product(dist)
    answer = upload(api, world, vid)
    # The bucket refused (403): a clear 502 in the distribution server's envelope, never a 500.
    assert answer.status_code == 502, answer.text
    assert "AccessDenied" in answer.json["error"]["message"]
    assert listener.seen, "the upload never reached the team's endpoint"
    assert all("DEPLOYMENTKEY" not in str(r) and "authorization" not in r for r in listener.seen)
    # With keys of its own, the team's requests are signed with them.
    dist("PUT", "/admin/api/settings", {"s3_access_key": "TEAMKEY", "s3_secret_key": "team-secret"})
    upload(api, world, vid, version="1.2.4")
    assert "Credential=TEAMKEY/" in listener.seen[-1]["authorization"]


def test_the_address_is_checked_again_when_connecting(settings, redis_conn, world, listener):
    api = client(settings, redis_conn, storage_allow_private=False)

    def dist(method, path, body=None):
        return api.simulate_request(method, path, json=body, headers={"X-Auth-Token": world.token})

    _, vid = make_product(dist)
    # As if a public name had been saved and now resolves to loopback (DNS rebinding): the row is written
    # past the save-time check.
    DistSettings.create(team=world.team.id, storage_type="s3", s3_endpoint=listener.url, s3_bucket="b")
    answer = upload(api, world, vid)
    assert answer.status_code == 502, answer.text
    assert "private address" in answer.json["error"]["message"]
    assert listener.seen == []  # refused once connected, before a byte was sent


def test_public_downloads_from_a_teams_bucket_follow_the_download_mode(
    settings, redis_conn, world, s3_endpoint
):
    """Item 15: /d/ redirected to a presigned URL even with GATEHOUSE_S3_DOWNLOADS=proxy."""
    import boto3

    boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="k",
        aws_secret_access_key="s",
    ).create_bucket(Bucket="team-proxy")
    for mode, status in (("proxy", 200), ("redirect", 302)):
        api = client(settings, redis_conn, storage_allow_private=True, s3_downloads=mode)

        def dist(method, path, body=None, api=api):
            return api.simulate_request(method, path, json=body, headers={"X-Auth-Token": world.token})

        dist(
            "PUT",
            "/admin/api/settings",
            {"storage_type": "s3", "s3_endpoint": s3_endpoint, "s3_bucket": "team-proxy", "s3_access_key": "k",
             "s3_secret_key": "s"},
        )  # fmt: skip
        _, vid = make_product(dist, slug=f"proxied-{mode}")
        release = upload(api, world, vid, data=b"through the write API").json["data"]["release"]["id"]
        got = api.simulate_get(f"/d/{release}")
        assert got.status_code == status, (mode, got.status_code)
        if mode == "proxy":
            assert got.content == b"through the write API"
        else:
            assert "Signature=" in got.headers["location"]
