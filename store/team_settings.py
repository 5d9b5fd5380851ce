"""Each team's distribution settings: its domains, organization, upload storage (local or its own S3
bucket) and Apple Developer API credentials, secrets sealed at rest."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from store import netguard
from store.accounts import require_writer
from store.errors import InvalidInput
from store.models import (
    DistSettings,
    Team,
    User,
    utcnow,
)
from store.products import choose_team
from store.secretbox import seal, unseal

STORAGE_TYPES = ("local", "s3")
SEALED = {"s3_access_key": "s3_access_key_sealed", "s3_secret_key": "s3_secret_key_sealed",
          "apple_private_key": "apple_private_key_sealed"}  # fmt: skip
PLAIN_SETTINGS = ("primary_domain", "secondary_domains", "organization", "storage_type", "s3_endpoint",
                  "s3_bucket", "s3_region", "s3_public_url", "apple_key_id", "apple_issuer_id",
                  "apple_team_id", "upload_domain")  # fmt: skip


# -- settings ----------------------------------------------------------------------------------------


def team_settings(team_id: int) -> DistSettings:
    """The team's settings row, or the defaults (unsaved) when it never set any."""
    return DistSettings.get_or_none(DistSettings.team == team_id) or DistSettings(team=team_id)


def _settings_or_defaults(team: Team, default_domain: str) -> DistSettings:
    """A team that never saved settings starts from its name as the organization and ``default_domain``
    (where testers reach the deployment) as the primary domain, so pages and links work at once."""
    return DistSettings.get_or_none(DistSettings.team == team.id) or DistSettings(
        team=team.id, organization=team.name[:255], primary_domain=default_domain[:255]
    )


def get_settings(caller: User, team_id: int | None, default_domain: str = "") -> DistSettings:
    require_writer(caller)
    return _settings_or_defaults(choose_team(caller, team_id), default_domain)


_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")
DOMAIN_SETTINGS = ("primary_domain", "upload_domain")


def _domain(name: str, value: str) -> str:
    """``value`` when it can begin a link: a host name (with a port) or an http(s) origin. Pages, manifests
    and upload answers are built on it; "[" once made every link of the team's pages unparseable."""
    if not value:
        return value
    refused = InvalidInput(f"{name} must be a host name or an http(s) origin such as https://dl.example.com")
    try:
        parts = urlsplit(value if "://" in value else f"https://{value}")
        host, _ = parts.hostname, parts.port
    except ValueError:
        raise refused from None
    if parts.scheme not in ("http", "https") or not host or parts.username is not None:
        raise refused
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise refused
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not _HOST.fullmatch(host):
            raise refused from None
    return value


def update_settings(
    caller: User,
    team_id: int | None,
    fields: dict,
    key: bytes,
    allow_private: bool = False,
    default_domain: str = "",
) -> DistSettings:
    """Applies the fields given; a secret given as "" is cleared, one left out is kept. An S3 endpoint must
    be an http(s) URL of a public address unless ``allow_private`` (the operator's setting): the write API
    would otherwise call into the deployment's own network on the team's behalf."""
    require_writer(caller)
    row = _settings_or_defaults(choose_team(caller, team_id), default_domain)
    if "storage_type" in fields and fields["storage_type"] not in STORAGE_TYPES:
        raise InvalidInput("storage_type must be local or s3")
    if fields.get("s3_endpoint"):
        try:
            netguard.check_url(fields["s3_endpoint"], allow_private)
        except netguard.Refused as refused:
            raise InvalidInput(f"s3_endpoint: {refused}") from None
    for name in DOMAIN_SETTINGS:
        if fields.get(name):
            _domain(name, fields[name].strip())
    for domain in fields.get("secondary_domains") or []:
        _domain("secondary_domains", domain.strip())
    for name in PLAIN_SETTINGS:
        if name in fields:
            setattr(row, name, fields[name])
    for name, column in SEALED.items():
        if name in fields:
            setattr(row, column, seal(key, fields[name]) if fields[name] else None)
    if row.storage_type == "s3" and not row.s3_bucket:
        raise InvalidInput("s3_bucket is required when storage_type is s3")
    row.updated_at = utcnow()
    row.save()
    return row


def secret(row: DistSettings, name: str, key: bytes) -> str:
    """A sealed setting in the clear, for the services that use it ("" when unset)."""
    sealed = getattr(row, SEALED[name])
    return unseal(key, sealed) if sealed else ""


def upload_backend(row: DistSettings) -> str:
    """The backend descriptor new uploads of the team go to: its S3 bucket, or the deployment's storage."""
    if row.storage_type == "s3":
        return f"s3|{row.s3_endpoint}|{row.s3_region}|{row.s3_bucket}"
    return "local"
