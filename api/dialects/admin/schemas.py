"""One schema per write body: strict types, unknown keys rejected (no mass assignment)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.write.http import OMITTED


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


Name = Field(min_length=1, max_length=200)


class Login(Body):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)


class UserCreate(Body):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=8, max_length=1024)
    role: str = "member"


# In the update bodies below a field typed without ``| None`` may be left out but not sent as null:
# null would mean "clear it", which these columns cannot be (it was a 500).
class UserUpdate(Body):
    password: str = Field(OMITTED, min_length=8, max_length=1024)
    role: str = OMITTED


class TeamCreate(Body):
    name: str = Name
    subscription_status: str = "active"


class TeamUpdate(Body):
    name: str = Field(OMITTED, min_length=1, max_length=200)
    subscription_status: str = OMITTED


class MemberAdd(Body):
    email: str = Field(min_length=3, max_length=320)
    password: str | None = Field(None, min_length=8, max_length=1024)
    role: str | None = None


class AppCreate(Body):
    team_id: int
    title: str = Name
    package_name: str = Field("", max_length=255)
    environments: list[str] | None = Field(None, max_length=50)


class AppUpdate(Body):
    # No icon here: the icon is set only by uploading it (PUT .../icon), so it always names a stored file.
    title: str = Field(OMITTED, min_length=1, max_length=200)
    package_name: str = Field(OMITTED, max_length=255)


class EnvironmentBody(Body):
    alias: str = Field(min_length=1, max_length=64)


class TokenCreate(Body):
    name: str = Field("", max_length=200)


Message = Field(None, max_length=4000)
Messages = Field(None, max_length=200)


class VersionRuleCreate(Body):
    version: str = Field(min_length=1, max_length=64)
    platform: str
    environment: str
    status: bool = True
    force_update: bool = False
    update_message: str | None = Message
    update_messages: dict[str, str] | None = Messages


class VersionRuleUpdate(Body):
    version: str = Field(OMITTED, min_length=1, max_length=64)
    platform: str = OMITTED
    environment: str = OMITTED
    status: bool = OMITTED
    force_update: bool = OMITTED
    update_message: str | None = Message
    update_messages: dict[str, str] | None = Messages


class MinimumRuleCreate(Body):
    minimum_version: str = Field(min_length=1, max_length=64)
    platform: str
    environment: str
    force_update: bool = False
    update_message: str | None = Message
    update_messages: dict[str, str] | None = Messages


class MinimumRuleUpdate(Body):
    minimum_version: str = Field(OMITTED, min_length=1, max_length=64)
    platform: str = OMITTED
    environment: str = OMITTED
    force_update: bool = OMITTED
    update_message: str | None = Message
    update_messages: dict[str, str] | None = Messages


class Link(Body):
    title: str = Field(min_length=1, max_length=200)
    url: str = Field(min_length=1, max_length=2000)


class MaintenanceBody(Body):
    active: bool
    title: str | None = Field(None, max_length=500)
    description: str | None = Field(None, max_length=4000)
    links: list[Link] = Field(default_factory=list, max_length=20)


class BuildCreate(Body):
    build_type: str
    version: str = Field(min_length=1, max_length=64)
    name: str = Field("", max_length=200)
    public: bool = False


class BuildUpdate(Body):
    name: str = Field("", max_length=200)
    public: bool = False


def fields(body: Body) -> dict:
    """Only the keys the client sent, so PATCH leaves the others alone."""
    return body.model_dump(exclude_unset=True)


class RolloutStep(Body):
    percent: float = Field(ge=0, le=100)
    # "now", "+30m" / "+1h" / "+3d" (from the request), or an ISO 8601 instant ("2026-11-24T09:00:00Z")
    at: str = Field("now", min_length=1, max_length=40)


class RolloutStart(Body):
    bundle: str = Field(min_length=1, max_length=64)
    steps: list[RolloutStep] = Field(min_length=1, max_length=50)
    on_failure: Literal["pause", "rollback"] = "pause"
    failure_threshold_percent: float = Field(5.0, gt=0, le=100)
    min_samples: int = Field(50, ge=1, le=10_000_000)
    window_seconds: int = Field(3600, ge=60, le=604_800)


class WebhookCreate(Body):
    url: str = Field(min_length=8, max_length=2048)
    events: list[str] = Field(min_length=1, max_length=20)


class KeyCreate(Body):
    name: str = Name
    mode: Literal["read", "upload", "write", "all"]
    apps: list[str] | None = Field(None, min_length=1, max_length=100)
    # ISO 8601 UTC instant (store.timefmt.parse_instant reads it), or left out for a key that does not expire.
    expires_at: str | None = Field(None, max_length=40)
    team_key: bool = False
