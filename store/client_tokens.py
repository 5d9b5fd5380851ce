"""Client tokens: the x-api-token an app's clients send, stored as digests and shown once."""

from __future__ import annotations

from store import tokens
from store.catalog import app_row, get_app
from store.errors import NotFound
from store.models import (
    App,
    ClientToken,
    User,
)
from store.outbox import mark_stale
from store.pagination import Page, paginate

# -- client tokens -----------------------------------------------------------------------------------


def create_client_token(caller: User | None, app: App | str, name: str = "") -> tuple[ClientToken, str]:
    if not isinstance(app, App):
        if caller is None:
            raise NotFound("app not found")  # only an admin names an app by id
        app = get_app(caller, app, write=True)
    raw = tokens.new_token(tokens.CLIENT_PREFIX)
    tok = ClientToken.create(app=app, token_hash=tokens.digest(raw), name=name, hint=raw[:8] + "…")
    mark_stale(app.id)
    return tok, raw


def list_client_tokens(caller: User, app_id: str, page: int, per_page: int) -> Page:
    app = get_app(caller, app_id)
    q = ClientToken.select().where(ClientToken.app == app).order_by(ClientToken.id)
    return paginate(q, page, per_page)


def get_client_token(caller: User, app_id: str, token_id: int, write: bool = False) -> ClientToken:
    return app_row(ClientToken, "token", caller, app_id, token_id, write)


def delete_client_token(caller: User, app_id: str, token_id: int) -> None:
    tok = get_client_token(caller, app_id, token_id, write=True)
    tok.delete_instance()
    mark_stale(tok.app_id)
