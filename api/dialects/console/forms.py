"""What the console's forms send: URL-encoded fields, bounded, parsed into the store's field dicts."""

from __future__ import annotations

from urllib.parse import parse_qsl

import falcon

from api.write.http import read_body
from store.errors import InvalidInput

MAX_FIELDS = 200


def read_form(req: falcon.Request, limit: int) -> dict[str, str]:
    """The posted form's fields (the last value of a repeated name); 400 for anything but a URL-encoded
    form, or for NUL, which the database cannot store."""
    kind = (req.content_type or "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise InvalidInput("the console takes forms (application/x-www-form-urlencoded)")
    body = read_body(req, limit)
    try:
        pairs = parse_qsl(
            body.decode(), keep_blank_values=True, strict_parsing=False, max_num_fields=MAX_FIELDS
        )
    except (UnicodeDecodeError, ValueError):
        raise InvalidInput("the form could not be read") from None
    form = {k: v for k, v in pairs}
    if any("\x00" in k or "\x00" in v for k, v in form.items()):
        raise InvalidInput("fields must not contain NUL characters")
    return form


def text(form: dict[str, str], name: str, required: bool = True, limit: int = 2000) -> str:
    value = form.get(name, "").strip()
    if required and not value:
        raise InvalidInput(f"{name.replace('_', ' ')} is required")
    if len(value) > limit:
        raise InvalidInput(f"{name.replace('_', ' ')} must be at most {limit} characters")
    return value


def flag(form: dict[str, str], name: str) -> bool:
    """A checkbox: present (any value but "0"/"off") is on."""
    return form.get(name, "off") not in ("", "0", "off", "false")


def integer(form: dict[str, str], name: str, lowest: int, highest: int) -> int:
    value = form.get(name, "").strip()
    if not (value.isascii() and value.isdigit() and lowest <= int(value) <= highest):
        raise InvalidInput(f"{name.replace('_', ' ')} must be a whole number from {lowest} to {highest}")
    return int(value)


def messages(form: dict[str, str]) -> dict[str, str]:
    """The localized-message editor's rows: ``locale_N`` and ``message_N`` pairs (ISO-639-1 keys, as the
    AppCockpit SDK reads them); empty rows are dropped, the store checks the codes."""
    out: dict[str, str] = {}
    for key, locale in form.items():
        if key.startswith("locale_") and locale.strip():
            text_value = form.get("message_" + key.removeprefix("locale_"), "").strip()
            if text_value:
                if len(text_value) > 2000:
                    raise InvalidInput("a message must be at most 2000 characters")
                out[locale.strip()] = text_value
    return out
