"""CRUD resources over store functions, for any dialect: the dialect gives its authentication, its
shapes and its schemas; a route's template fields reach the store functions by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import falcon
from pydantic import BaseModel

from api.write.http import parse_model, send
from store.pagination import Page
from store.service import unit_of_work

# What a dialect's route table binds after building its resources (its auth and its list shape).
BOUND_LATER: Any = None


def _withhold(resource, *responders: str) -> None:
    """Removes responders a route does not offer, so Falcon's 405 and OPTIONS name exactly the methods it
    has (its Allow header once advertised PUT, PATCH and POST that the route refused and the document omits)."""
    for name in responders:
        setattr(resource, name, None)


@dataclass
class Collection:
    """GET lists (paginated), POST creates. The route's template fields reach the functions as keyword
    arguments of the same names (``app_id=...``), with ``req`` for lists and ``body`` for creates."""

    list_fn: Callable | None = None
    create_fn: Callable | None = None
    schema: type[BaseModel] | None = None
    render: Callable | None = None
    limit: int = 1_048_576
    # The created record's shape, when it differs from a listed one's (a client token shows its secret once).
    render_created: Callable | None = None
    caller: Callable = BOUND_LATER  # the dialect's authentication: request -> user
    page: Callable = BOUND_LATER  # the dialect's list shape: (Page, item shape) -> JSON

    def __post_init__(self) -> None:
        _withhold(
            self,
            *(["on_get"] if self.list_fn is None else []),
            *(["on_post"] if self.create_fn is None else []),
        )

    def on_get(self, req, resp, **ids):
        result = self.list_fn(self.caller(req), req=req, **ids)
        if isinstance(result, Page):
            send(resp, self.page(result, self.render))
        else:
            send(resp, {"items": [self.render(r) for r in result]})

    def on_post(self, req, resp, **ids):
        user = self.caller(req)
        body = parse_model(req, self.schema, self.limit)
        with unit_of_work():
            obj = self.create_fn(user, body=body, **ids)
        send(resp, (self.render_created or self.render)(obj), falcon.HTTP_201)


@dataclass
class Item:
    """GET, update (PATCH or PUT) and DELETE of one record; template fields arrive as keyword arguments,
    the changed fields as ``fields``."""

    get_fn: Callable
    render: Callable
    update_fn: Callable | None = None
    schema: type[BaseModel] | None = None
    delete_fn: Callable | None = None
    update_method: str = "PATCH"
    limit: int = 1_048_576
    caller: Callable = BOUND_LATER  # the dialect's authentication: request -> user

    def __post_init__(self) -> None:
        offered = {
            "on_patch": self.update_fn is not None and self.update_method == "PATCH",
            "on_put": self.update_fn is not None and self.update_method == "PUT",
            "on_delete": self.delete_fn is not None,
        }
        _withhold(self, *(name for name, on in offered.items() if not on))

    def on_get(self, req, resp, **ids):
        send(resp, self.render(self.get_fn(self.caller(req), **ids)))

    def _update(self, req, resp, ids):
        user = self.caller(req)
        body = parse_model(req, self.schema, self.limit)
        with unit_of_work():
            obj = self.update_fn(user, fields=body.model_dump(exclude_unset=True), **ids)
        send(resp, self.render(obj))

    def on_patch(self, req, resp, **ids):
        self._update(req, resp, ids)

    def on_put(self, req, resp, **ids):
        self._update(req, resp, ids)

    def on_delete(self, req, resp, **ids):
        user = self.caller(req)
        with unit_of_work():
            self.delete_fn(user, **ids)
        resp.status = falcon.HTTP_204
