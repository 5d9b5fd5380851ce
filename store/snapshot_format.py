"""Names and encoding of the snapshots in Redis, shared by the worker and the read service.

No ORM here: the read service imports this module.

Layout:
  gh:snap:app:<public_id>   the app's snapshot document (JSON, deterministic)
  gh:snap:etags             hash public_id -> ETag of that document (what changed)
  gh:snap:heads             hash public_id -> the document's head: {"state", "package", "tokens"} (JSON), what
                            a read process indexes every app by without decompressing its document
  gh:snap:gen               counter bumped on every published change
  gh:snap:changed           pub/sub channel: "<gen> <public_id> [<public_id> ...]", the apps one publish
                            changed and the generation it set (an older release sent a bare public_id)
  gh:snap:complete          set once a full rebuild has rendered every app (missing: rebuild everything)
  gh:snap:rebuild-pending   set of "low-high" app id ranges a full rebuild has still to render
  gh:write:gen              a new value set right after every commit that makes an app's snapshot stale
                            (the write API's client-token cache is valid while it stays the same)

A snapshot document:
  {"app_id", "state": active|expired|team_deleted|app_deleted,
   "tokens": [sha256 of each client token],
   "exact":   {"<platform>|<environment>|<canonical version>": [v1 body, v1 etag, v2 body, v2 etag]},
   "minimum": {"<platform>|<environment>": [minimum version, v1 body, v1 etag, v2 body, v2 etag]},
   "maintenance": {"<environment>": [body, etag]}}
Bodies are the exact response bytes (as text) and their ETags, rendered once by the worker.
Documents are stored zlib-compressed: bodies repeat their fields rule after rule, and a document shrinks
to a fraction (10,000 apps x 102 rules held 494 MB of JSON in Redis). A document starting with "{" is
plain JSON, as documents written before compression are.
"""

from __future__ import annotations

import hashlib
import zlib

import orjson

APP_KEY = "gh:snap:app:"
ETAGS_KEY = "gh:snap:etags"
HEADS_KEY = "gh:snap:heads"
GEN_KEY = "gh:snap:gen"
# When each app's current document was published (epoch seconds): what the console shows as "serving since".
PUBLISHED_KEY = "gh:snap:published"
CHANNEL = "gh:snap:changed"
# Set once a full rebuild has rendered every app; missing (a fresh Redis, a flush, a restart without
# persistence) it makes the worker's schedule rebuild everything. PENDING_KEY holds the id ranges of a full
# rebuild still to render.
COMPLETE_KEY = "gh:snap:complete"
PENDING_KEY = "gh:snap:rebuild-pending"


def decode_change(data: bytes) -> tuple[int | None, list[str]]:
    """(generation, apps) of a change message; the generation is None in an older release's message."""
    first, *rest = data.decode().split(" ")
    if rest and first.isdigit():
        return int(first), rest
    return None, [first, *rest]


def app_key(public_id: str) -> str:
    return APP_KEY + public_id


def etag(body: bytes) -> str:
    """The AppCockpit ETag: the MD5 of the body, quoted."""
    return '"' + hashlib.md5(body, usedforsecurity=False).hexdigest() + '"'


def body(obj) -> bytes:
    return orjson.dumps(obj)


def rendered(obj) -> tuple[str, str]:
    data = body(obj)
    return data.decode(), etag(data)


def encode_document(doc: dict) -> bytes:
    """Deterministic: the same document gives the same bytes (and ETag), so an unchanged app is not
    published again."""
    return zlib.compress(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS), 6)


def decode_document(raw: bytes) -> dict:
    return orjson.loads(raw if raw[:1] == b"{" else zlib.decompress(raw))


def encode_head(state: str, package: str, tokens: list[str]) -> bytes:
    """What a read process must know of every app up front (its standing, package and token digests): kept
    beside the document so it indexes 10,000 apps without decompressing 10,000 documents."""
    return orjson.dumps({"state": state, "package": package, "tokens": tokens})
