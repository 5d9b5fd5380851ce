"""The distribution admin API's request bodies: strict types, bounded strings, unknown keys refused.

fenfa's own server (Go's encoding/json) ignores unknown keys; its admin UI sends only the documented ones
(web/admin: products {name, slug, description} and {published}, variants {published}), so refusing the rest
breaks no client and turns a misspelt field into a 400 instead of a silent no-op.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.write.http import OMITTED

Text = Annotated[str, StringConstraints(max_length=255)]
LongText = Annotated[str, StringConstraints(max_length=20_000)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ProductIn(_Body):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    slug: Annotated[str, StringConstraints(max_length=100)] = ""
    description: LongText = ""
    # Left out: None (not validated); an explicit null is refused, as the document allows only booleans.
    published: bool = OMITTED
    team_id: Annotated[int, Field(ge=1, le=2**31)] | None = None


class ProductUpdate(_Body):
    name: Annotated[str, StringConstraints(max_length=200)] = ""
    slug: Annotated[str, StringConstraints(max_length=100)] = ""
    description: LongText = ""
    published: bool = OMITTED  # see ProductIn


class VariantUpdate(_Body):
    platform: Annotated[str, StringConstraints(max_length=16)] = ""
    display_name: Text = ""
    identifier: Text = ""
    arch: Annotated[str, StringConstraints(max_length=32)] = ""
    installer_type: Annotated[str, StringConstraints(max_length=32)] = ""
    min_os: Annotated[str, StringConstraints(max_length=64)] = ""
    sort_order: Annotated[int, Field(ge=-(2**31), le=2**31 - 1)] | None = None
    published: bool = OMITTED  # see ProductIn


class VariantIn(VariantUpdate):
    platform: Annotated[str, StringConstraints(min_length=1, max_length=16)]


class SettingsIn(_Body):
    # Unknown fields are refused: a misspelt setting was dropped with a 200 (issue 20).
    team_id: Annotated[int, Field(ge=1, le=2**31)] | None = None
    upload_domain: Text | None = None
    primary_domain: Text | None = None
    secondary_domains: Annotated[list[Text], Field(max_length=20)] | None = None
    organization: Text | None = None
    storage_type: Annotated[str, StringConstraints(max_length=16)] | None = None
    s3_endpoint: Text | None = None
    s3_bucket: Text | None = None
    s3_region: Annotated[str, StringConstraints(max_length=64)] | None = None
    s3_public_url: Text | None = None
    s3_access_key: Text | None = None
    s3_secret_key: Text | None = None
    apple_key_id: Annotated[str, StringConstraints(max_length=64)] | None = None
    apple_issuer_id: Annotated[str, StringConstraints(max_length=64)] | None = None
    apple_team_id: Annotated[str, StringConstraints(max_length=32)] | None = None
    apple_private_key: Annotated[str, StringConstraints(max_length=10_000)] | None = None


class RegisterIn(_Body):
    device_ids: Annotated[
        list[Annotated[str, StringConstraints(min_length=1, max_length=64)]],
        Field(min_length=1, max_length=100),
    ]
