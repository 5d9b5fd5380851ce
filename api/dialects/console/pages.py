"""What every console resource shares: the signed-in visitor, the page frame, forms, and redirects."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import falcon
import orjson
import redis

from api.dialects.console import auth
from api.dialects.console.forms import read_form
from api.dialects.console.headers import SECURITY_HEADERS
from api.dialects.console.templating import render
from api.settings import Settings
from api.write.ratelimit import LoginLimiter
from store.storage import Backends, Storage

FORM_LIMIT = 64 * 1024
PER_PAGE = 50


@dataclass
class Console:
    """What the console's resources are built from."""

    lifetime: dt.timedelta
    settings: Settings
    limiter: LoginLimiter
    connection: redis.Redis
    storage: Storage
    # Opens the storage a team's uploads go to (the distribution's per-team backends).
    backends: Backends


class Resource:
    def __init__(self, console: Console) -> None:
        self.console = console

    def visitor(self, req: falcon.Request) -> auth.Visitor:
        return auth.visitor(req, self.console.lifetime)

    def form(self, req: falcon.Request, visitor: auth.Visitor) -> dict[str, str]:
        """The posted form, once its CSRF token has been checked against the visitor's session."""
        form = read_form(req, FORM_LIMIT)
        auth.check_csrf(form, visitor.csrf)
        return form


def page(
    resp: falcon.Response, template: str, visitor: auth.Visitor | None, status: int = 200, **context
) -> None:
    resp.status = falcon.code_to_http_status(status)
    resp.content_type = "text/html; charset=utf-8"
    resp.data = render(template, visitor=visitor, **context)
    resp.set_headers(SECURITY_HEADERS)


def uploaded(req: falcon.Request, resp: falcon.Response, answer: dict, back: str) -> None:
    """A console upload's answer: JSON (201) to the page's script, which shows progress and reloads; a
    redirect to the page for a browser without it."""
    if req.get_header("X-Requested-With") != "fetch":
        raise see_other(back)
    resp.status = falcon.HTTP_201
    resp.content_type = falcon.MEDIA_JSON
    resp.data = orjson.dumps(answer)


def see_other(location: str) -> falcon.HTTPSeeOther:
    """After a form: the browser fetches the page anew (a reload does not post twice)."""
    # A copy: Falcon adds Location to the headers it is given, and the shared mapping is read-only.
    return falcon.HTTPSeeOther(location, headers=dict(SECURITY_HEADERS))


def error_page(message: str, status: int) -> bytes:
    return render("error.html", visitor=None, message=message, status=status)


def number(req: falcon.Request, name: str, default: int, highest: int) -> int:
    value = req.get_param(name) or ""
    return min(int(value), highest) if value.isascii() and value.isdigit() and len(value) < 7 else default
