"""Configuration, read only from environment variables (prefix GATEHOUSE_).

Every field's default and description is listed in the README; a test fails
when one is missing there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from api.forwarding import Proxies


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEHOUSE_", extra="ignore", frozen=True)

    data_dir: Path = Field(Path("./data"), description="Directory for the SQLite file and local state.")
    database_url: str = Field(
        "", description="postgresql://user:pass@host:port/db or sqlite:///path; empty = SQLite in data_dir."
    )
    db_pool_size: int = Field(16, description="Maximum pooled Postgres connections per process.")
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis for snapshots, pub/sub and RQ.")
    queue_name: str = Field("gatehouse", description="RQ queue the write API enqueues jobs on.")
    cache_max_age: int = Field(
        5, description="Seconds a shared cache may keep a client answer (Cache-Control s-maxage)."
    )
    snapshot_poll_interval: float = Field(
        0.5, description="Seconds between generation checks that heal a lost pub/sub message."
    )
    outbox_sweep_interval: int = Field(
        5, description="Seconds between sweeps that re-enqueue stale snapshots (outbox rows)."
    )
    outbox_grace_seconds: float = Field(
        2.0, description="Age an outbox row must reach before the sweep re-enqueues it."
    )
    session_retention_days: int = Field(365, description="Days authentication sessions are kept.")
    console_session_hours: int = Field(
        12, ge=1, le=24 * 30, description="Hours a console sign-in lasts before the user must sign in again."
    )
    stats_interval: int = Field(300, description="Seconds between statistics aggregation runs.")
    max_body_bytes: int = Field(1_048_576, description="Largest JSON request body the write API accepts.")
    jwt_secret: str = Field(
        "", description="HS256 secret for UpdateForge tokens; empty = generated once into data_dir."
    )
    jwt_lifetime_days: int = Field(365, description="Lifetime of UpdateForge login tokens.")
    # A Literal, so a typo fails at start-up instead of silently storing on local disk.
    storage_backend: Literal["local", "s3"] = Field(
        "local", description="Artifact storage: local (under data_dir/artifacts) or s3."
    )
    body_read_timeout: float = Field(
        30.0,
        description="Seconds the write API waits for the next bytes of a request body; past it, 408 and the "
        "connection closes (a stalled upload no longer holds a thread).",
    )
    uploads_per_address: int = Field(
        4,
        description="Uploads (bodies past GATEHOUSE_MAX_BODY_BYTES) one client address may have in progress "
        "at once per write process; 429 past it. All addresses together leave two threads free.",
    )
    upload_max_bytes: int = Field(2 * 1024**3, description="Largest artifact upload accepted (413 past it).")
    s3_bucket: str = Field("gatehouse", description="S3 bucket for artifacts.")
    s3_endpoint_url: str = Field("", description="S3 endpoint for S3-compatible servers; empty = AWS.")
    s3_region: str = Field("us-east-1", description="S3 region.")
    s3_access_key_id: str = Field("", description="S3 access key; empty = boto3's default credential chain.")
    s3_secret_access_key: str = Field("", description="S3 secret key.")
    s3_path_style: bool = Field(
        False, description="Path-style addressing (most S3-compatible servers need it)."
    )
    s3_checksums: Literal["when_required", "when_supported"] = Field(
        "when_required",
        description="boto3 checksum mode: when_required (compatible servers) or when_supported.",
    )
    s3_downloads: Literal["redirect", "proxy"] = Field(
        "redirect", description="S3 downloads: redirect to a presigned URL, or proxy through the write API."
    )
    s3_presign_seconds: int = Field(300, description="Lifetime of presigned S3 download URLs.")
    icon_max_bytes: int = Field(1_048_576, description="Largest app icon upload accepted (413 past it).")
    argon2_time_cost: int = Field(
        3, ge=1, le=100, description="argon2id passes per password hash (the library's recommendation: 3)."
    )
    argon2_memory_kib: int = Field(
        65536,
        ge=1024,
        le=4_194_304,
        description="argon2id memory per password hash, in KiB (64 MiB: about 120 ms a login on one core).",
    )
    login_max_failures: int = Field(
        10, description="Failed logins per account and address before login answers 429 for the window."
    )
    login_failure_window: int = Field(
        900, description="Seconds failed logins are counted (and a lockout lasts)."
    )
    forwarded_for_hops: int = Field(
        0,
        description="Trusted proxies in front of the services; 1 = the client address is X-Forwarded-For's last. "
        "0 = clients connect directly and no X-Forwarded-* header is believed.",
    )
    trusted_proxies: str = Field(
        "127.0.0.1,::1",
        description="Addresses or networks (comma-separated) of those proxies: only a request from one of them "
        "has its X-Forwarded-Proto (the scheme of every URL Gatehouse builds) and X-Forwarded-For believed.",
    )
    metrics_dir: Path = Field(
        Path(""),
        description="Directory of gunicorn workers' metric files (Prometheus multiprocess); empty = data_dir/metrics.",
    )
    appconfig_default_app: str = Field(
        "",
        description="App (public id) the app-config API serves when a request names none; `make run` sets its own.",
    )
    public_url: str = Field(
        "",
        description="Base URL devices reach the write API at (bundle download links); empty = the request's own.",
    )
    bundle_url_secret: str = Field(
        "",
        description="HMAC key of signed bundle download links; empty = one generated and kept in Redis.",
    )
    bundle_url_seconds: int = Field(
        3600, description="Bundle download links stay valid between this and twice this many seconds."
    )
    apple_api_url: str = Field(
        "https://api.appstoreconnect.apple.com",
        description="Base URL of App Store Connect's API (device registration for the distribution API).",
    )
    secret_key: str = Field(
        "",
        description="Key that secrets (webhook signing secrets) are encrypted under; empty = one kept in Redis.",
    )
    udid_per_link: int = Field(
        20,
        description="Devices one UDID registration link (a product page's profile) may register; 429 past it.",
    )
    udid_per_address: int = Field(
        10, description="UDID registrations one client address may make in an hour; 429 past it."
    )
    webhook_allow_private: bool = Field(
        False,
        description="Allow webhook destinations on loopback and private addresses (tests, local receivers).",
    )
    webhook_concurrency: int = Field(
        8, description="Webhook attempts in flight at once per deployment (threads of the delivering worker)."
    )
    webhook_per_team: int = Field(
        2,
        description="Of those, the most one team's endpoints may hold: slow endpoints delay only their team.",
    )
    storage_allow_private: bool = Field(
        False,
        description="Let teams point their S3 storage at private, loopback or link-local addresses "
        "(a private network's own S3); off, a team's endpoint must be a public address.",
    )
    webhook_timeout: float = Field(5.0, description="Seconds a webhook endpoint has to answer one attempt.")
    webhook_max_attempts: int = Field(8, description="Attempts before a webhook delivery is given up.")
    webhook_backoff_seconds: float = Field(
        2.0, description="Delay before the second attempt; doubled each time."
    )
    webhook_backoff_cap: float = Field(300.0, description="Longest delay between two webhook attempts.")
    audit_retention_days: int = Field(730, description="Days audit log entries are kept.")
    rollout_devices_per_address: int = Field(
        5,
        description="Devices of each kind (failing, updated) one address (an IPv6 /64) may add to a rollout's "
        "health over its window: /stats is anonymous, so one address cannot pause a rollout.",
    )
    rollout_min_devices: int = Field(
        10,
        description="Fewest distinct devices a rollout's failure rate is judged over, whatever its min_samples.",
    )
    rollout_check_interval: int = Field(
        5, description="Seconds between checks of live rollouts' failure rates (auto-pause) and last steps."
    )
    sighting_flush_interval: float = Field(
        0.5, description="Seconds between flushes of live-update device sightings to Redis."
    )
    stats_count_interval: float = Field(
        5.0,
        description="Seconds a read process gathers /stats action counts (per bundle, action and minute) before "
        "sending them with a flush: every flush of a fleet's events across 1,000 apps cost the worker a row per "
        "app, bundle and action.",
    )
    sighting_refresh_seconds: float = Field(
        60.0,
        description="A device seen again with the same details within this many seconds is not written again.",
    )
    sighting_buffer_devices: int = Field(
        200_000, description="Devices a read process buffers while Redis is down; past it they are dropped."
    )
    auth_buffer_events: int = Field(
        200_000,
        ge=1,
        description="Authentication events a read process keeps in memory until the worker has applied them "
        "(held while Redis is down, or sent and not yet applied); past it POST /v2/authenticate answers 500.",
    )
    auth_resend_seconds: float = Field(
        10.0,
        gt=0,
        description="A batch of authentication events the worker has not applied within this many seconds "
        "(Redis lost it) is sent again; the worker counts it once.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Log level: debug, info, warning, error."
    )
    log_json: bool = Field(True, description="Emit logs as JSON lines (false: human-readable).")
    host: str = Field("127.0.0.1", description="Address `gatehouse dev` and `serve` bind to.")
    port: int = Field(8000, description="Port of the single front door that `gatehouse dev` serves.")
    read_port: int = Field(8001, description="Port of the read service.")
    write_port: int = Field(8002, description="Port of the write API.")

    read_workers: int | None = Field(None, description="Read-service processes; empty = one per core.")
    read_hot_mb: int = Field(
        150,
        ge=1,
        description="Megabytes of resident memory a read process gives decoded answers (estimated; answers "
        "identical across apps are held once); other apps stay compressed in memory and are decoded on their "
        "next request.",
    )
    write_workers: int | None = Field(None, description="Write API processes; empty = one per core.")
    write_threads: int = Field(8, description="Threads per write API process (at most db_pool_size).")

    @field_validator("log_level", mode="before")
    @classmethod
    def _any_case(cls, value):
        return value.lower() if isinstance(value, str) else value

    @classmethod
    def from_env(cls, **overrides) -> Settings:
        return cls(**overrides)

    @property
    def proxies(self) -> Proxies:
        return Proxies(self.forwarded_for_hops, self.trusted_proxies)

    @property
    def forwarded_allow_ips(self) -> str:
        """gunicorn's and uvicorn's list of peers whose X-Forwarded-* headers count: none without hops."""
        return self.trusted_proxies if self.forwarded_for_hops > 0 else ""

    @property
    def effective_metrics_dir(self) -> Path:
        return self.metrics_dir if str(self.metrics_dir) not in ("", ".") else self.data_dir / "metrics"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'gatehouse.db').resolve()}"
