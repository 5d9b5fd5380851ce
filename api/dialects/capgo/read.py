"""The plugin's device endpoints on the read service: POST /updates, POST /stats, /channel_self.

Answered from the app's snapshot in memory (no Redis or database round trip on the request path);
what devices report is recorded in process and flushed to the worker in batches (sightings.py).
Refusals are HTTP 200 {"error": code, "message": ...} as Capgo answers them; bad input is 400.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import time
from time import perf_counter

import falcon
import falcon.asgi
import orjson
import redis

from api import signing
from api.dialects.capgo.actions import STATS_ACTIONS
from api.dialects.capgo.checks import (
    BadRequest,
    live_app,
    parse_check,
    refusal,
    update_kind,
    worded,
)
from api.dialects.capgo.choices import Choices
from api.forwarding import Proxies
from api.metrics import RequestMetrics
from api.read.cache import AppView, SnapshotCache
from api.read.respond import respond
from api.read.sightings import Recorder
from store.liveupdate import Check, LiveApp, coerce, decide
from store.vocabulary import FAILURE_ACTIONS, SUCCESS_ACTION

MAX_BODY = 16_384
MAX_STATS_BODY = 1_048_576
APP_NOT_FOUND = refusal("app_not_found", "App not found")
PLAN = refusal("need_plan_upgrade", "Cannot update, upgrade plan to continue to update")
OK_BYTES = orjson.dumps({"status": "ok"})
CANNOT_OVERRIDE = refusal("cannot_override", "Cannot change device override current channel don't allow it")


_FLAGS = frozenset(("is_emulator", "is_prod"))
_VERSIONS = frozenset(("version_build", "version_name", "plugin_version"))


def _truthy(value: str | None) -> bool | str | None:
    return {"true": True, "false": False}.get(value.lower(), value) if isinstance(value, str) else value


class Devices:
    """What the three resources share: the snapshots, the recorder, the link signer, the metrics."""

    def __init__(self, cache: SnapshotCache, recorder: Recorder, settings, metrics: RequestMetrics):
        self.cache, self.recorder, self.settings, self.metrics = cache, recorder, settings, metrics
        self._live: dict[tuple[str, str], LiveApp] = {}
        self.links: dict[tuple, bytes] = {}
        self._secret: bytes | None = None
        # The clock rollout steps are evaluated against (a test sets its own).
        self.clock = time.time
        self.proxies = settings.proxies
        self.choices = Choices(settings.redis_url)
        # An admin's pin forgets the device's own choice by a message a process can miss (its subscription
        # down); the snapshot holding the pin arrives after the forget, so it squares the memory too.
        cache.watch(self.choices.reconcile)
        self.public_base = settings.public_url.rstrip("/")

    async def shutdown(self) -> None:
        """The process stops (api/read/app.py's Lifespan): the devices seen since the last flush leave."""
        await asyncio.to_thread(self.recorder.close)
        self.choices.stop()

    def pin(self, live: LiveApp, check: Check, known: tuple[bool, str | None]) -> tuple:
        """The device's (channel, bundle): its own recent choice (api/dialects/capgo/choices.py) until the
        snapshot agrees with it, else the snapshot's."""
        snapshot = live.pins.get(check.device_id, (None, None))
        found, channel = known
        if not found:
            return snapshot
        if snapshot[0] == channel:
            self.choices.settled(check.app_id, check.device_id)
            return snapshot
        return channel, snapshot[1]

    async def own_pin(self, live: LiveApp, check: Check) -> tuple:
        """As ``pin``, with the choice read from Redis: what any process took is seen (one round trip)."""
        known = await asyncio.to_thread(self.choices.lookup, check.app_id, check.device_id)
        return self.pin(live, check, known)

    def source(self, scope) -> str:
        """The address an event came from (``_source``, remembered by peer and X-Forwarded-For)."""
        client = scope.get("client")  # a sequence (Falcon's test client gives an iterator)
        peer = str(tuple(client)[0]) if client else "unknown"
        return _source(peer, _header(scope, b"x-forwarded-for"), self.proxies)

    def live(self, view: AppView) -> LiveApp:
        key = (view.public_id, view.digest)
        app = self._live.get(key)
        if app is None:
            if len(self._live) >= 2 * max(len(self.cache.state.apps), 1000):
                self._live.clear()  # bounded: digests of changed apps go too
            app = self._live[key] = live_app(view.package, view.part("capgo"))
        return app

    def app(self, check: Check) -> tuple[AppView | None, dict | None]:
        """The app a device names, or the refusal: unknown and deleted apps look the same."""
        view = self.cache.state.packages.get(check.app_id)
        if view is None or view.state in ("app_deleted", "team_deleted"):
            return None, APP_NOT_FOUND
        if view.state == "expired":
            return None, PLAN
        return view, None

    async def body(self, req: falcon.asgi.Request) -> dict:
        """The JSON body (or, for GET and DELETE without one, the query parameters)."""
        length = req.content_length
        if length is not None and length > MAX_BODY:
            raise BadRequest("invalid_json_body", "Request body too large")
        if length is not None:
            raw = await req.stream.read()  # bounded by Content-Length, checked above
        else:  # chunked: read up to the bound
            chunks: list[bytes] = []
            size = 0
            async for chunk in req.stream:
                size += len(chunk)
                if size > MAX_BODY:
                    raise BadRequest("invalid_json_body", "Request body too large")
                chunks.append(chunk)
            raw = b"".join(chunks)
        if not raw.strip():
            if req.method in ("GET", "DELETE"):
                # Only the flags are booleans: a version_build of "false" stays a string. A space in a
                # version is the "+" of a build suffix a client put in the query unencoded.
                return {
                    k: _truthy(v) if k in _FLAGS else v.replace(" ", "+") if k in _VERSIONS else v
                    for k, v in req.params.items()
                    if isinstance(v, str)
                }
            raise BadRequest("invalid_json_body", "Cannot parse json: empty body")
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise BadRequest("invalid_json_body", "Cannot parse json") from None

    async def secret(self) -> bytes:
        if self._secret is None:
            r = redis.Redis.from_url(self.settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
            try:
                self._secret = await asyncio.to_thread(
                    signing.shared_secret, r, self.settings.bundle_url_secret
                )
            finally:
                r.close()
        return self._secret

    def link_key(self, scope, bundle) -> tuple:
        """What an update answer is kept by: the bundle, this period's expiry and the base URL."""
        expires = signing.expiry(self.settings.bundle_url_seconds)
        return bundle.id, bundle.checksum, expires, self.public_base or _base(scope)

    async def answer(self, key: tuple, bundle) -> bytes:
        """Makes and keeps the update answer under ``link_key``'s key: version, url, checksum (and
        session_key when the bundle has one). Almost every offer finds it in ``links`` and never awaits this."""
        expires, base = key[2], key[3]
        url = bundle.external_url or base + signing.path(await self.secret(), bundle.id, bundle.name, expires)
        doc = {"version": bundle.name, "url": url, "checksum": bundle.checksum}
        if bundle.session_key:
            doc["session_key"] = bundle.session_key
        if len(self.links) >= 10_000:
            self.links.clear()  # bounded: the Host header is the client's to choose
        data = self.links[key] = orjson.dumps(doc)
        return data

    async def checked(self, req, resp, need_versions: bool = True, validate=None):
        """The request's body, parsed, and the app it names: (check, body, view); or None once the
        refusal is sent (400 for bad input, 200 with Capgo's code for an unknown app)."""
        try:
            body = await self.body(req)
            check = parse_check(body, need_versions=need_versions)
            if validate is not None:
                validate(body)
        except BadRequest as bad:
            return self.send(req, resp, 400, refusal(bad.code, bad.message))
        view, refused = self.app(check)
        if refused is not None:
            return self.send(req, resp, 200, refused)
        return check, body, view

    def send(self, req, resp, status: int, data: bytes | dict) -> None:
        resp.status = status
        resp.content_type = falcon.MEDIA_JSON
        resp.set_header("Cache-Control", "no-store")
        resp.data = data if isinstance(data, bytes) else orjson.dumps(data)
        self.metrics.observe(req.uri_template, req.method, status, req.context.started)


_HEADERS = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]


@functools.lru_cache(maxsize=4096)
def _frame(length: int) -> list[tuple[bytes, bytes]]:
    """The response headers for a body of ``length`` bytes (what differs between answers), built once
    each: the server only reads them."""
    return [*_HEADERS, (b"content-length", str(length).encode())]


async def _asgi_body(receive, limit: int = MAX_BODY) -> bytes:
    """The request body from ASGI messages, refused past ``limit``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise BadRequest("invalid_json_body", "The client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BadRequest("invalid_json_body", "Request body too large")
        if not message.get("more_body") and not chunks:
            return chunk
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def _base(scope) -> str:
    """scheme://host of the request, as Falcon's ``req.prefix`` reads it."""
    host = _header(scope, b"host")
    if host is not None:
        return _based(scope["scheme"], host, scope.get("root_path", ""))
    server = tuple(scope.get("server") or ("127.0.0.1", 80))
    return f"{scope['scheme']}://{server[0]}:{server[1]}{scope.get('root_path', '')}"


@functools.lru_cache(maxsize=1024)
def _based(scheme: str, host: bytes, root: str) -> str:
    # Memoised (bounded: the Host header is the client's): every offer of a download link needs it.
    return f"{scheme}://{host.decode('latin-1')}{root}"


class Direct:
    """A POST device endpoint answered straight from ASGI (api/read/app.py's ReadApp): the body is read
    and parsed here, ``answer(devices, scope, payload)`` gives status and bytes. Other methods are
    Falcon's (405 in Capgo's error shape)."""

    def __init__(self, devices: Devices, answer, limit: int = MAX_BODY):
        self.d, self.answer, self.limit = devices, answer, limit
        self.asgi = {"POST": self.post}
        self.shutdown = devices.shutdown  # both Direct resources stop the shared recorder: idempotent

    async def post(self, scope, receive, send, route: str) -> bool:
        started = perf_counter()
        try:
            body = await _asgi_body(receive, self.limit)
            try:
                payload = orjson.loads(body)
            except orjson.JSONDecodeError:
                raise BadRequest("invalid_json_body", "Cannot parse json") from None
            status, data = await self.answer(self.d, scope, payload)
        except BadRequest as bad:
            status, data = 400, orjson.dumps(refusal(bad.code, bad.message))
        await respond(scope, send, status, _frame(len(data)), data)
        self.d.metrics.observe(route, "POST", status, started)
        return True


def _header(scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


@functools.lru_cache(maxsize=10_000)
def _source(peer: str, forwarded: bytes | None, proxies: Proxies) -> str:
    """The address a request came from, as the edge saw it (api/forwarding), IPv6 as its /64: what one
    address may contribute is bounded. Memoised (bounded: both strings are the client's to choose): a
    fleet's events come from the same addresses again and again."""
    address = proxies.client(peer, None if forwarded is None else forwarded.decode("latin-1"))
    if ":" in address:
        try:
            return str(ipaddress.ip_network(f"{address}/64", strict=False))
        except ValueError:
            return address[:64]
    return address[:64]


def _labelled(refused: dict) -> bytes:
    # Capgo labels every refused update (up_to_date, blocked, failed); plugins 7.x+ read it.
    return orjson.dumps(refused | {"kind": update_kind(refused["error"])})


# A refusal's wording depends on the refusal and, for two of them, on the device's platform or native
# version: its bytes are kept by those three (most checks are refused: "no new version" is the usual
# answer). Bounded, as the versions come from devices; ~1.2 us a check saved (wording, merge, encoding).
_REFUSALS: dict[tuple, bytes] = {}
_APP_REFUSALS = {r["error"]: _labelled(r) for r in (APP_NOT_FOUND, PLAN)}


def _refusal_bytes(held, check: Check) -> bytes:
    key = (held, check.platform, check.version_build)
    data = _REFUSALS.get(key)
    if data is None:
        if len(_REFUSALS) >= 10_000:
            _REFUSALS.clear()
        data = _REFUSALS[key] = _labelled(worded(held, check))
    return data


async def updates(d: Devices, scope, payload) -> tuple[int, bytes]:
    """POST /updates (the plugin's updateUrl)."""
    check = parse_check(payload)
    view, refused = d.app(check)
    if view is None:
        assert refused is not None  # Devices.app gives the view or the refusal
        return 200, _APP_REFUSALS[refused["error"]]
    live = d.live(view)
    pin = d.pin(live, check, d.choices.held(check.app_id, check.device_id))
    held, bundle = decide(live, check, d.clock(), pin)
    d.recorder.seen(check, offered=None if bundle is None else bundle.name)
    if held is not None:
        return 200, _refusal_bytes(held, check)
    key = d.link_key(scope, bundle)
    data = d.links.get(key)  # made already, so no coroutine (most offers)
    if data is not None:
        return 200, data
    try:
        return 200, await d.answer(key, bundle)
    except (redis.RedisError, OSError):
        return 503, orjson.dumps(refusal("server_error", "Cannot sign the download link; retry"))


async def stats(d: Devices, scope, payload) -> tuple[int, bytes]:
    """POST /stats (the plugin's statsUrl): one event, or a JSON array of them (plugins 5.50.1, 6.50.1,
    7.50.1, 8.42.0 and later always send arrays), answered as Capgo's server does: an array gets
    {"status": "ok", "results": [{"status": "ok" | "error", "index", ...}]}, one result per event."""
    if type(payload) is list:
        return 200, orjson.dumps(_stats_batch(d, scope, payload))
    refused = _one_stat(d, scope, payload)
    return 200, OK_BYTES if refused is None else orjson.dumps(refused)


MAX_EVENTS = 1_000


def _stats_batch(d: Devices, scope, events: list) -> dict:
    if not events:
        return {"status": "ok", "results": []}
    if len(events) > MAX_EVENTS:
        raise BadRequest("invalid_json_body", f"A batch holds at most {MAX_EVENTS} events")
    apps = [e.get("app_id") if type(e) is dict else None for e in events]
    if not isinstance(apps[0], str) or not apps[0]:
        raise BadRequest("invalid_app_id", "app_id is missing or not a string")
    if any(not isinstance(a, str) or not a for a in apps[1:]):
        return refusal("invalid_app_id", "app_id is missing or not a string")
    if any(a != apps[0] for a in apps[1:]):
        return refusal("mixed_app_ids", "All events in a batch must have the same app_id")
    results = []
    for index, event in enumerate(events):
        try:
            refused = _one_stat(d, scope, event)
        except BadRequest as bad:
            refused = refusal(bad.code, bad.message)
        results.append({"status": "ok", "index": index} if refused is None else
                       {"status": "error", **refused, "index": index})  # fmt: skip
    return {"status": "ok", "results": results}


def _one_stat(d: Devices, scope, payload) -> dict | None:
    """Records one event; the refusal Capgo answers for it, or None. Bad input raises BadRequest."""
    check = parse_check(payload, need_versions=False)
    _action(payload)
    view, refused = d.app(check)
    if view is None:
        return refused
    d.recorder.seen(check)
    action, bundle = payload["action"], check.version_name
    live = d.live(view)
    if bundle in live.bundles:
        # Only bundles the app has are counted: anonymous /stats naming made-up versions grew the stats
        # tables a row each (the worker checks again against the database). A device's outcome is kept
        # only for a bundle under a live rollout, whose health reads it; every update wave wrote a row a
        # device that nothing read (and /stats at scale spent most of its database time on them).
        kind = _OUTCOMES.get(action) if bundle in live.watched else None
        d.recorder.reported(
            check.app_id, check.device_id, bundle, action, None if kind is None else (kind, d.source(scope))
        )
    return None


# The actions that report how a bundle fared on a device (a rollout's health counts them).
_OUTCOMES = {SUCCESS_ACTION: "success"} | dict.fromkeys(FAILURE_ACTIONS, "failure")


def _action(body: dict) -> None:
    action = body.get("action")
    if not isinstance(action, str) or action not in STATS_ACTIONS:
        raise BadRequest("invalid_json_body", "action must be one of the actions Capgo's plugins send")


# Plugins from these versions keep their channel choice on the device (Capgo's CHANNEL_SELF_MIN_*).
_LOCAL_CHANNEL_FROM = {5: (5, 34, 0), 6: (6, 34, 0), 7: (7, 34, 0)}


def _keeps_channel_on_server(check) -> bool:
    """Whether the plugin keeps its channel choice on the server (older than 5.34, 6.34, 7.34; every 8.x
    keeps it on the device); an unreadable version counts as old, as Capgo reads it."""
    version = coerce(check.plugin_version)
    if version is None:
        return True
    if version[0] >= 8:
        return False
    floor = _LOCAL_CHANNEL_FROM.get(version[0])
    return floor is None or version < floor


MISSING_CHANNEL = refusal("missing_channel", "Cannot find channel in body")
NOT_SELF_SET = refusal(
    "channel_self_set_not_allowed", "This channel does not allow devices to self associate"
)
PUBLIC_NOT_SELF_SET = refusal(
    "public_channel_self_set_not_allowed",
    "This channel is public and does not allow device self-assignment. Unset the channel and the device "
    "will automatically use the public channel.",
)


def _valid_channel(body: dict) -> None:
    name = body.get("channel")
    if name is not None and (type(name) is not str or len(name) > 128 or "\x00" in name):
        raise BadRequest("invalid_json_body", "channel must be a string of at most 128 characters")


class ChannelSelf:
    """/channel_self (the plugin's channelUrl): GET lists the channels a device may choose, PUT tells a
    device its channel, POST sets it, DELETE unsets it.

    GET lists, whatever else the query holds: Capgo's server reads a device_id there only to rate-limit,
    and answering like PUT named the private channel an admin had pinned a device to, to anyone who knew
    or guessed the device's id, without a body proving anything about the device."""

    def __init__(self, devices: Devices):
        self.d = devices

    async def on_get(self, req, resp):
        req.context.started = perf_counter()
        try:
            body = await self.d.body(req)
            package = body.get("app_id")
            if not isinstance(package, str) or not package:
                raise BadRequest("missing_info", "Cannot find app_id")
            if body.get("platform") not in (None, "", "ios", "android", "electron"):
                # As Capgo's server validates the listing's query (it listed every channel instead).
                raise BadRequest("invalid_platform", "platform must be ios, android or electron")
        except BadRequest as bad:
            return self.d.send(req, resp, 400, refusal(bad.code, bad.message))
        view = self.d.cache.state.packages.get(package)
        if view is None or view.state != "active":
            return self.d.send(req, resp, 200, APP_NOT_FOUND)
        platform, emulator, prod = (
            body.get("platform"),
            body.get("is_emulator") is True,
            body.get("is_prod") is not False,
        )
        out = [
            {"id": c.id, "name": c.name, "public": c.public, "allow_self_set": c.allow_self_set}
            for c in self.d.live(view).channels.values()
            if (c.public or c.allow_self_set)
            and (platform is None or c.serves(platform))
            and (c.allow_emulator or not emulator)
            and (c.allow_dev or prod)
        ]
        self.d.send(req, resp, 200, orjson.dumps(out))

    async def on_put(self, req, resp):
        req.context.started = getattr(req.context, "started", None) or perf_counter()
        if (checked := await self.d.checked(req, resp, False)) is None:
            return
        check, _, view = checked
        if check.version_build:
            self.d.recorder.seen(check)
        live = self.d.live(view)
        pin = await self.d.own_pin(live, check)
        channel, reason = live.channel_for(check.device_id, check.platform, check.default_channel, pin)
        if channel is None:
            return self.d.send(req, resp, 200, refusal("channel_not_found", "Cannot find channel"))
        allow = channel.allow_self_set if reason == "pin" else True
        self.d.send(
            req,
            resp,
            200,
            {"status": "ok", "channel": channel.name, "allowSet": allow, "message": "", "error": ""},
        )

    async def on_post(self, req, resp):
        """Refusals are HTTP 200 with Capgo's code in the body, in Capgo's order (plugin 7.x turns any
        other status into a bare response_error, losing the code)."""
        req.context.started = perf_counter()
        if (checked := await self.d.checked(req, resp, False, _valid_channel)) is None:
            return
        check, body, view = checked
        name = body.get("channel")
        if not name:
            return self.d.send(req, resp, 200, MISSING_CHANNEL)
        live = self.d.live(view)
        if self._pinned_by_admin(live, await self.d.own_pin(live, check)):
            return self.d.send(req, resp, 200, CANNOT_OVERRIDE)
        chosen = live.channels.get(name)
        if chosen is None:
            return self.d.send(
                req, resp, 200, refusal("channel_not_found", "Cannot find channel", channel=name)
            )
        if not chosen.allow_self_set:
            if chosen.public:
                return self.d.send(req, resp, 200, PUBLIC_NOT_SELF_SET | {"channel": name})
            return self.d.send(req, resp, 200, NOT_SELF_SET | {"channel": name})
        if check.version_build:
            self.d.recorder.seen(check)
        # Written where every process reads it before the answer leaves; persisted through the stream.
        await asyncio.to_thread(self.d.choices.record, check.app_id, check.device_id, name)
        self.d.recorder.choose("set", check.app_id, check.device_id, name)
        self.d.send(
            req,
            resp,
            200,
            {"status": "ok", "message": "Device assigned to channel successfully", "error": ""},
        )

    async def on_delete(self, req, resp):
        req.context.started = perf_counter()
        if (checked := await self.d.checked(req, resp, False)) is None:
            return
        check, _, view = checked
        live = self.d.live(view)
        pin = await self.d.own_pin(live, check)
        if self._pinned_by_admin(live, pin):
            return self.d.send(req, resp, 200, CANNOT_OVERRIDE)
        if pin[0] is None and _keeps_channel_on_server(check):
            # A plugin older than x.34 keeps its channel on the server: nothing to unset is Capgo's refusal.
            return self.d.send(req, resp, 200, CANNOT_OVERRIDE)
        if pin[0] is not None:
            await asyncio.to_thread(self.d.choices.record, check.app_id, check.device_id, None)
            self.d.recorder.choose("unset", check.app_id, check.device_id, None)
        self.d.send(
            req,
            resp,
            200,
            {"status": "ok", "message": "Device unassigned from channel successfully", "error": ""},
        )

    @staticmethod
    def _pinned_by_admin(live: LiveApp, pin: tuple) -> bool:
        pinned = pin[0]
        return pinned is not None and pinned in live.channels and not live.channels[pinned].allow_self_set


def routes(cache: SnapshotCache, settings, metrics: RequestMetrics) -> list[tuple[str, object]]:
    recorder = Recorder(
        settings.redis_url,
        settings.sighting_flush_interval,
        settings.sighting_buffer_devices,
        settings.sighting_refresh_seconds,
        settings.stats_count_interval,
    )
    devices = Devices(cache, recorder, settings, metrics)
    return [
        ("/updates", Direct(devices, updates)),
        # A batch of events is bigger than one device check.
        ("/stats", Direct(devices, stats, limit=MAX_STATS_BODY)),
        ("/channel_self", ChannelSelf(devices)),
    ]
