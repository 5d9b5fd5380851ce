"""The CLI commands that talk to a running write API over HTTP: `login`, `upload` (UpdateForge builds),
`bundle upload` (Capgo bundles), `release upload` (distribution releases) and `rollout` (staged rollouts)."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import click
import httpx
from tqdm import tqdm

from store.vocabulary import BUILD_TYPES

CHUNK = 1024 * 1024


def credentials_path() -> Path:
    """In the user's config directory (XDG_CONFIG_HOME honoured), readable by the user alone."""
    return Path(click.get_app_dir("gatehouse")) / "credentials.json"


def save_credentials(server: str, token: str, email: str) -> Path:
    path = credentials_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an older file may have been created with looser permissions
    with os.fdopen(fd, "w") as f:
        json.dump({"server": server, "token": token, "email": email}, f)
    return path


def load_credentials() -> dict:
    """GATEHOUSE_TOKEN (an admin token or an API key) and GATEHOUSE_URL from the environment, as a CI job
    holds them; else what `gatehouse login` saved."""
    token = os.environ.get("GATEHOUSE_TOKEN", "").strip()
    url = (os.environ.get("GATEHOUSE_URL") or os.environ.get("GATEHOUSE_SERVER") or "").strip()
    if token:
        if not url:
            raise click.ClickException("GATEHOUSE_TOKEN is set: set GATEHOUSE_URL to the server too")
        return {"server": url.rstrip("/"), "token": token, "email": ""}
    try:
        saved = json.loads(credentials_path().read_text())
    except FileNotFoundError:
        raise click.ClickException(
            "not logged in: run `gatehouse login`, or set GATEHOUSE_URL and GATEHOUSE_TOKEN"
        ) from None
    if url:
        saved["server"] = url.rstrip("/")
    return saved


def _error(res: httpx.Response) -> str:
    try:
        return f"{res.status_code}: {res.json()['error']}"
    except (ValueError, KeyError, TypeError):
        return f"{res.status_code}: {res.text[:200]}"


@click.command()
@click.option(
    "--server",
    envvar="GATEHOUSE_SERVER",
    default="http://127.0.0.1:8000",
    show_default=True,
    help="Base URL of the write API (or the edge in front of it).",
)
@click.option("--email", prompt=True)
@click.option("--password", envvar="GATEHOUSE_PASSWORD", prompt=True, hide_input=True)
def login(server: str, email: str, password: str) -> None:
    """Log in and keep an admin token for the other commands."""
    server = server.rstrip("/")
    try:
        res = httpx.post(f"{server}/admin/v1/login", json={"email": email, "password": password}, timeout=30)
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot reach {server}: {exc}") from None
    if res.status_code != 200:
        raise click.ClickException(f"login failed ({_error(res)})")
    path = save_credentials(server, res.json()["token"], email)
    click.echo(f"logged in to {server} as {email}; token saved in {path}")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with (
        open(path, "rb") as f,
        tqdm(
            total=path.stat().st_size,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc="checksum",
            leave=False,
        ) as bar,
    ):
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            bar.update(len(chunk))
    return digest.hexdigest()


def _find_build(client: httpx.Client, app_id: str, build_type: str, version: str) -> dict | None:
    page = 1
    while True:
        res = client.get(f"/admin/v1/apps/{app_id}/builds", params={"page": page, "per_page": 100})
        if res.status_code != 200:
            raise click.ClickException(f"cannot list versions ({_error(res)})")
        body = res.json()
        for b in body["items"]:
            if b["build_type"] == build_type and b["version"] == version:
                return b
        if page * 100 >= body["total"]:
            return None
        page += 1


def _version(
    client: httpx.Client, app_id: str, build_type: str, version: str, name: str, public: bool
) -> dict:
    """Creates the version, or finds the one an earlier (maybe interrupted) run created."""
    res = client.post(
        f"/admin/v1/apps/{app_id}/builds",
        json={"build_type": build_type, "version": version, "name": name, "public": public},
    )
    if res.status_code == 201:
        return res.json()
    if res.status_code == 409:
        found = _find_build(client, app_id, build_type, version)
        if found is not None:
            return found
    raise click.ClickException(f"cannot create version {version} ({_error(res)})")


def _stream(path: Path, bar: tqdm) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            bar.update(len(chunk))
            yield chunk


def _multipart(fields: dict[str, str], file: Path, bar: tqdm, boundary: str) -> tuple[int, Callable]:
    """A multipart/form-data body whose file part streams from disk: its length, and a body factory. The
    fields come first, as the distribution server's upload reads the variant before the file."""
    head = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n'.encode() + v.encode() + b"\r\n"
        for k, v in fields.items()
    )
    name = file.name.replace('"', "_").replace("\r", "_").replace("\n", "_")
    head += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="app_file"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def body() -> Iterator[bytes]:
        yield head
        yield from _stream(file, bar)
        yield tail

    return len(head) + file.stat().st_size + len(tail), body


def _send_file(
    client: httpx.Client,
    method: str,
    url: str,
    params: dict,
    file: Path,
    retries: int,
    form: dict[str, str] | None = None,
) -> httpx.Response:
    """Streams the file with a progress bar (as the raw body, or with ``form`` as a multipart form); a lost
    connection or a 5xx is retried from the start (the server keeps nothing of an interrupted upload)."""
    size = file.stat().st_size
    attempt = 0
    with tqdm(total=size, unit="B", unit_scale=True, unit_divisor=1024, desc=file.name) as bar:
        while True:
            bar.reset()
            if form is None:
                length, body = size, lambda: _stream(file, bar)
                kind = "application/octet-stream"
            else:
                boundary = f"gatehouse-{secrets.token_hex(12)}"
                length, body = _multipart(form, file, bar, boundary)
                kind = f"multipart/form-data; boundary={boundary}"
            try:
                res = client.request(
                    method,
                    url,
                    params=params,
                    content=body(),
                    headers={"Content-Length": str(length), "Content-Type": kind},
                )
            except httpx.TransportError as exc:
                failure = f"connection lost ({exc.__class__.__name__})"
            else:
                if res.status_code < 500:
                    return res
                failure = f"server error {_error(res)}"
            if attempt == retries:
                raise click.ClickException(f"upload failed after {retries + 1} attempts: {failure}")
            attempt += 1
            bar.write(f"{failure}; retrying ({attempt}/{retries})", file=sys.stderr)
            time.sleep(min(2 ** (attempt - 1), 10))


@click.command()
@click.option("--app", "app_id", required=True, help="Public app id (app_...).")
@click.option("--build-type", type=click.Choice(BUILD_TYPES), required=True)
@click.option(
    "--version",
    "version",
    default=None,
    help="Semantic version, e.g. 1.2.0; left out, read from the IPA or APK.",
)
@click.option("--name", default="", help="Human-readable label of the version.")
@click.option("--public", is_flag=True, help="Intended for all testers.")
@click.option(
    "--replace", is_flag=True, help="Replace the file of a version that already has a different one."
)
@click.option(
    "--retries", default=3, show_default=True, help="Attempts after a lost connection or a server error."
)
@click.option("--server", envvar="GATEHOUSE_SERVER", default=None, help="Override the server saved by login.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def upload(
    app_id: str,
    build_type: str,
    version: str | None,
    name: str,
    public: bool,
    replace: bool,
    retries: int,
    server: str | None,
    file: Path,
) -> None:
    """Create a version and upload its artifact, with progress; an interrupted upload is retried from the start.

    The server keeps nothing of an interrupted upload, so each attempt sends the whole file; running the
    command again after a failure finds the version it created and finishes it. Without --version the
    version is read from the file (an IPA's or APK's own).
    """
    creds = load_credentials()
    if not version:
        version = _version_of(file)
    size, sha256 = file.stat().st_size, _sha256(file)
    timeout = httpx.Timeout(
        30, read=600
    )  # the server finishes storing (fsync, S3 completion) before it answers
    with httpx.Client(
        base_url=(server or creds["server"]).rstrip("/"),
        timeout=timeout,
        headers={"Authorization": f"Bearer {creds['token']}"},
    ) as client:
        try:
            build = _version(client, app_id, build_type, version, name, public)
        except httpx.HTTPError as exc:
            raise click.ClickException(f"cannot reach the server: {exc}") from None
        if build.get("sha256") == sha256:
            click.echo(f"version {version} ({build_type}) already has this file; nothing to do")
            return
        if build.get("hasFile") and not replace:
            raise click.ClickException(
                f"version {version} ({build_type}) already has another file; pass --replace to replace it"
            )
        url = f"/admin/v1/apps/{app_id}/builds/{build['id']}/artifact"
        res = _send_file(client, "PUT", url, {"filename": file.name}, file, retries)
    if res.status_code != 200:
        raise click.ClickException(f"upload refused ({_error(res)})")
    stored = res.json()
    if stored["sha256"] != sha256 or stored["size"] != size:
        raise click.ClickException("the server stored different bytes than were sent; upload again")
    click.echo(
        f"uploaded {file.name} as {build_type} {version} (version id {stored['id']}): "
        f"{size} bytes, sha256 {sha256}"
    )


@click.group()
def bundle() -> None:
    """Live-update bundles (the Capgo API)."""


def _transfer_options(command):
    """--retries, --server and the file, as every streamed upload takes them."""
    for decorate in (
        click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path)),
        click.option(
            "--server", envvar="GATEHOUSE_SERVER", default=None, help="Override the server saved by login."
        ),
        click.option(
            "--retries", default=3, show_default=True, help="Attempts after a lost connection or a 5xx."
        ),
    ):
        command = decorate(command)
    return command


@bundle.command("upload")
@click.option("--app", "package", required=True, help="The app's package identifier (com.example.app).")
@click.option("--version", "version", required=True, help="The bundle's version, e.g. 1.2.3.")
@click.option("--channel", default=None, help="Point this channel at the new bundle (created if missing).")
@click.option(
    "--min-update-version", default=None, help="For channels with disableAutoUpdate=version_number."
)
@_transfer_options
def bundle_upload(
    package: str,
    version: str,
    channel: str | None,
    min_update_version: str | None,
    retries: int,
    server: str | None,
    file: Path,
) -> None:
    """Upload a bundle zip with progress; the server checks its SHA-256 against the one computed here."""
    creds = load_credentials()
    size, sha256 = file.stat().st_size, _sha256(file)
    params = {"app_id": package, "version": version}
    if channel:
        params["channel"] = channel
    if min_update_version:
        params["minUpdateVersion"] = min_update_version
    with httpx.Client(
        base_url=(server or creds["server"]).rstrip("/"),
        timeout=httpx.Timeout(30, read=600),
        headers={"Authorization": f"Bearer {creds['token']}"},
    ) as client:
        res = _send_file(client, "POST", "/bundle/upload", params, file, retries)
    if res.status_code != 201:
        raise click.ClickException(f"upload refused ({_error(res)})")
    stored = res.json()
    if stored["checksum"] != sha256 or stored["size"] != size:
        raise click.ClickException(
            "the server stored different bytes than were sent; delete it and upload again"
        )
    where = f", channel {channel} now serves it" if channel else ""
    click.echo(f"uploaded {file.name} as bundle {version} of {package}: {size} bytes, sha256 {sha256}{where}")
    if channel:
        with httpx.Client(
            base_url=(server or creds["server"]).rstrip("/"),
            timeout=30,
            headers={"Authorization": f"Bearer {creds['token']}"},
        ) as client:
            warning = _unreachable(client, package, channel)
        if warning:
            click.echo(warning, err=True)


@click.group()
def release() -> None:
    """Releases of the distribution API (a product's variant builds)."""


@release.command("upload")
@click.option("--variant", "variant_id", required=True, help="The variant's id (var_...).")
@click.option(
    "--version",
    "version",
    default=None,
    help="The release's version; left out, the server reads it from the file.",
)
@click.option("--build", "build", default=None, type=click.IntRange(0, 10**18), help="Build number.")
@click.option("--channel", default="", help="A label such as beta or internal.")
@click.option("--min-os", default="", help="Minimum OS version.")
@click.option("--changelog", default="", help="Release notes shown on the product page.")
@_transfer_options
def release_upload(
    variant_id: str,
    version: str | None,
    build: int | None,
    channel: str,
    min_os: str,
    changelog: str,
    retries: int,
    server: str | None,
    file: Path,
) -> None:
    """Upload a release through the distribution server's upload call, with progress."""
    creds = load_credentials()
    size, sha256 = file.stat().st_size, _sha256(file)
    form = {"variant_id": variant_id, "channel": channel, "min_os": min_os, "changelog": changelog}
    form |= ({"version": version} if version else {}) | ({"build": str(build)} if build is not None else {})
    # Without a version the server reads the build (its smart upload): version, build, minimum OS, and the
    # identifier checked against the variant's.
    call = "/upload" if version else "/smart-upload"
    with httpx.Client(
        base_url=(server or creds["server"]).rstrip("/"),
        timeout=httpx.Timeout(30, read=600),
        headers={"X-Auth-Token": creds["token"]},
    ) as client:
        res = _send_file(client, "POST", call, {}, file, retries, form=form)
        if res.status_code != 201:
            try:
                reason = f"{res.status_code}: {res.json()['error']['message']}"
            except (ValueError, KeyError, TypeError):
                reason = _error(res)
            raise click.ClickException(f"upload refused ({reason})")
        data = res.json()["data"]
        # The answer does not carry the stored digest; the product's listing does.
        product = client.get(f"/admin/api/products/{data['app']['id']}").json()["data"]
    stored = next(r for v in product["variants"] for r in v["releases"] if r["id"] == data["release"]["id"])
    if (stored["sha256"], stored["size_bytes"]) != (sha256, size):
        raise click.ClickException(
            "the server stored different bytes than were sent; delete it and upload again"
        )
    click.echo(
        f"uploaded {file.name} as release {data['release']['id']} ({version}): {size} bytes, sha256 {sha256}"
    )
    click.echo(f"page: {data['urls']['page']}")
    click.echo(f"download: {data['urls']['download']}")


def _admin_client(server: str | None) -> httpx.Client:
    creds = load_credentials()
    return httpx.Client(
        base_url=(server or creds["server"]).rstrip("/"),
        timeout=30,
        headers={"Authorization": f"Bearer {creds['token']}"},
    )


def _app_id(client: httpx.Client, app: str) -> str:
    """A public app id as given, or the app whose package identifier it is."""
    if app.startswith("app_"):
        return app
    page = 1
    while True:
        res = client.get("/admin/v1/apps", params={"page": page, "per_page": 200})
        if res.status_code != 200:
            raise click.ClickException(f"cannot list apps ({_error(res)})")
        body = res.json()
        for a in body["items"]:
            if a["package_name"] == app:
                return a["id"]
        if page * 200 >= body["total"]:
            raise click.ClickException(f"no app of yours has the package identifier {app}")
        page += 1


def parse_ramp(ramp: str) -> list[dict]:
    """ "1%:now,10%:+1h,100%:+3d" -> steps for the admin API."""
    steps = []
    for part in ramp.split(","):
        percent, sep, at = part.strip().partition(":")
        if not sep or not percent.endswith("%"):
            raise click.BadParameter(f"{part!r}: write each step as PERCENT%:WHEN, e.g. 10%:+1h")
        try:
            steps.append({"percent": float(percent[:-1]), "at": at.strip() or "now"})
        except ValueError:
            raise click.BadParameter(f"{part!r}: {percent} is not a percentage") from None
    return steps


def _show(r: dict) -> None:
    upcoming = r["next_step"]
    then = f", next {upcoming['percent']:g} % at {upcoming['at']}" if upcoming else ""
    why = f" ({r['reason']})" if r.get("reason") else ""
    click.echo(
        f"rollout {r['id']} of {r['bundle']} on {r['channel']}: {r['state']}, {r['share_percent']:g} %{then}{why}"
    )


def _rollout_call(
    app: str, channel: str, server: str | None, method: str, suffix: str = "", body=None
) -> None:
    with _admin_client(server) as client:
        path = f"/admin/v1/apps/{_app_id(client, app)}/channels/{channel}/rollout{suffix}"
        res = client.request(method, path, json=body)
    if res.status_code not in (200, 201):
        raise click.ClickException(_error(res))
    _show(res.json())


_app_option = click.option("--app", required=True, help="Package identifier (com.example.app) or app id.")
_channel_option = click.option("--channel", required=True, help="The live-update channel.")
_server_option = click.option(
    "--server", envvar="GATEHOUSE_SERVER", default=None, help="Override the saved server."
)


@click.group()
def rollout() -> None:
    """Staged rollouts of a bundle on a channel."""


@rollout.command("start")
@_app_option
@_channel_option
@click.option("--bundle", required=True, help="The bundle (version) to roll out.")
@click.option(
    "--ramp", required=True, help="Steps PERCENT%:WHEN, e.g. 1%:now,10%:+1h,100%:+3d (or an ISO instant)."
)
@click.option("--on-failure", type=click.Choice(["pause", "rollback"]), default="pause", show_default=True)
@click.option("--threshold", default=5.0, show_default=True, help="Failure rate (%) that pauses it.")
@click.option("--min-samples", default=50, show_default=True)
@click.option("--window", "window_seconds", default=3600, show_default=True, help="Seconds of stats judged.")
@_server_option
def rollout_start(app, channel, bundle, ramp, on_failure, threshold, min_samples, window_seconds, server):
    """Start a rollout."""
    body = {
        "bundle": bundle,
        "steps": parse_ramp(ramp),
        "on_failure": on_failure,
        "failure_threshold_percent": threshold,
        "min_samples": min_samples,
        "window_seconds": window_seconds,
    }
    _rollout_call(app, channel, server, "PUT", body=body)


def _simple(name: str, method: str, suffix: str, doc: str):
    @rollout.command(name)
    @_app_option
    @_channel_option
    @_server_option
    def command(app, channel, server):
        _rollout_call(app, channel, server, method, suffix)

    command.__doc__ = doc
    return command


_simple("status", "GET", "", "The share in effect now and the next step.")
_simple("pause", "POST", "/pause", "Hold the share where it is.")
_simple("resume", "POST", "/resume", "Back on the schedule.")
_simple("promote", "POST", "/promote", "The bundle becomes the channel's, for every device.")
_simple("abort", "DELETE", "", "Every device back on the channel's bundle.")


def _unreachable(client: httpx.Client, package: str, channel: str) -> str | None:
    """What to say when devices cannot reach a channel: a private one serves only devices pinned to it."""
    res = client.get("/channel", params={"app_id": package, "channel": channel})
    if res.status_code != 200 or res.json().get("public"):
        return None
    return (
        f"note: channel {channel} is private: devices get it only when pinned to it (gatehouse device pin), "
        f"so others answer no_channel. To make it their default: "
        f"gatehouse channel set --app {package} --channel {channel} --public"
    )


def _client(server: str | None = None) -> httpx.Client:
    creds = load_credentials()
    return httpx.Client(
        base_url=(server or creds["server"]).rstrip("/"),
        timeout=30,
        headers={"Authorization": f"Bearer {creds['token']}"},
    )


def _ok(res: httpx.Response, *statuses: int) -> dict | list:
    if res.status_code not in (statuses or (200,)):
        raise click.ClickException(_error(res))
    return res.json() if res.content else {}


@click.group()
def key() -> None:
    """Scoped API keys for scripts and CI (sign in as a user: a key cannot manage keys)."""


@key.command("create")
@click.option("--team", "team_id", type=int, required=True)
@click.option("--name", required=True)
@click.option("--mode", type=click.Choice(["read", "upload", "write", "all"]), required=True)
@click.option("--app", "apps", multiple=True, help="Limit the key to this app id (repeatable).")
@click.option("--expires", default=None, help="ISO 8601 instant, e.g. 2027-06-30T00:00:00Z.")
@click.option("--team-key", is_flag=True, help="Outlives you: acts as the team's own key user.")
@_server_option
def key_create(team_id, name, mode, apps, expires, team_key, server):
    """Create a key; it is printed once."""
    body = {"name": name, "mode": mode, "team_key": team_key}
    if apps:
        body["apps"] = list(apps)
    if expires:
        body["expires_at"] = expires
    with _client(server) as client:
        made = _ok(client.post(f"/admin/v1/teams/{team_id}/keys", json=body), 201)
    click.echo(f"key {made['id']} ({made['mode']}): {made['key']}")
    click.echo("shown once: store it as a CI secret (GATEHOUSE_TOKEN)", err=True)


@key.command("list")
@click.option("--team", "team_id", type=int, required=True)
@_server_option
def key_list(team_id, server):
    with _client(server) as client:
        page = _ok(client.get(f"/admin/v1/teams/{team_id}/keys", params={"per_page": 200}))
    for k in page["items"]:
        apps = ",".join(k["apps"]) if k["apps"] else "every app"
        used = (
            f"last used {k['last_used_at']} from {k['last_used_from']}" if k["last_used_at"] else "never used"
        )
        click.echo(f"{k['id']}  {k['hint']}  {k['mode']:<6}  {k['name']}  ({apps}; {used})")


@key.command("revoke")
@click.option("--team", "team_id", type=int, required=True)
@click.option("--id", "key_id", type=int, required=True)
@_server_option
def key_revoke(team_id, key_id, server):
    with _client(server) as client:
        _ok(client.delete(f"/admin/v1/teams/{team_id}/keys/{key_id}"), 204)
    click.echo(f"key {key_id} revoked")


@click.group()
def channel() -> None:
    """Live-update channels (the Capgo API)."""


@channel.command("set")
@click.option("--app", "package", required=True, help="The app's package identifier.")
@click.option("--channel", "name", required=True)
@click.option("--bundle", default=None, help="The bundle (version) it serves.")
@click.option(
    "--public/--private", default=None, help="Public: the default channel of the platforms it serves."
)
@click.option("--ios/--no-ios", default=None)
@click.option("--android/--no-android", default=None)
@click.option("--self-set/--no-self-set", "self_set", default=None, help="Devices may choose it themselves.")
@click.option("--emulators/--no-emulators", default=None)
@click.option("--dev-builds/--no-dev-builds", default=None)
@click.option(
    "--under-native/--no-under-native",
    "under_native",
    default=None,
    help="Refuse bundles older than the native build.",
)
@click.option(
    "--auto-update", type=click.Choice(["major", "minor", "patch", "version_number", "none"]), default=None
)
@_server_option
def channel_set(
    package,
    name,
    bundle,
    public,
    ios,
    android,
    self_set,
    emulators,
    dev_builds,
    under_native,
    auto_update,
    server,
):
    """Create a channel or change the flags given (others keep their value)."""
    body: dict = {"app_id": package, "channel": name}
    for field, value in (
        ("version", bundle),
        ("public", public),
        ("ios", ios),
        ("android", android),
        ("allow_device_self_set", self_set),
        ("allow_emulator", emulators),
        ("allow_dev", dev_builds),
        ("disableAutoUpdateUnderNative", under_native),
        ("disableAutoUpdate", auto_update),
    ):
        if value is not None:
            body[field] = value
    with _client(server) as client:
        _ok(client.post("/channel", json=body))
        shown = _ok(client.get("/channel", params={"app_id": package, "channel": name}))
        warning = _unreachable(client, package, name)
    click.echo(
        f"channel {name}: " + ", ".join(f"{k}={v}" for k, v in sorted(shown.items()) if k not in ("app_id",))
    )
    if warning:
        click.echo(warning, err=True)


@channel.command("list")
@click.option("--app", "package", required=True)
@_server_option
def channel_list(package, server):
    with _client(server) as client:
        rows = _ok(client.get("/channel", params={"app_id": package}))
    for c in rows:
        click.echo(
            f"{c['name']}  {'public' if c['public'] else 'private'}  bundle {c.get('version', {}).get('name') if isinstance(c.get('version'), dict) else c.get('version')}"
        )


@click.group()
def device() -> None:
    """Devices of an app: find them, pin them to a channel or bundle, unpin them."""


@device.command("find")
@click.option("--app", "package", required=True)
@click.option("--device", "device_id", default=None, help="One device; without it, the latest seen.")
@_server_option
def device_find(package, device_id, server):
    params = {"app_id": package} | ({"device_id": device_id} if device_id else {})
    with _client(server) as client:
        found = _ok(client.get("/device", params=params))
    for d in [found] if isinstance(found, dict) else found:
        click.echo(json.dumps(d, sort_keys=True))


@device.command("pin")
@click.option("--app", "package", required=True)
@click.option("--device", "device_id", required=True)
@click.option("--channel", default=None)
@click.option("--bundle", default=None, help="A bundle (version) for this device alone.")
@_server_option
def device_pin(package, device_id, channel, bundle, server):
    body = {"app_id": package, "device_id": device_id} | ({"channel": channel} if channel else {})
    if bundle:
        body["version_id"] = bundle
    with _client(server) as client:
        _ok(client.post("/device", json=body))
    click.echo(f"device {device_id} pinned")


@device.command("unpin")
@click.option("--app", "package", required=True)
@click.option("--device", "device_id", required=True)
@_server_option
def device_unpin(package, device_id, server):
    with _client(server) as client:
        _ok(client.request("DELETE", "/device", json={"app_id": package, "device_id": device_id}))
    click.echo(f"device {device_id} unpinned")


@click.command("app-config")
@click.option("--app", "app_id", required=True, help="The app id (app_...).")
@click.option("--min-version", required=True)
@click.option("--current-version", required=True)
@click.option("--notes", default=None, help="Release notes.")
@_server_option
def app_config(app_id, min_version, current_version, notes, server):
    """Set the app's active configuration (what /app-config/public answers)."""
    body = {"minVersion": min_version, "currentVersion": current_version}
    if notes is not None:
        body["releaseNotes"] = notes
    with _client(server) as client:
        shown = _ok(client.put("/app-config/active", params={"app_id": app_id}, json=body), 200, 201)
    click.echo(json.dumps(shown, sort_keys=True))


def _version_of(file: Path) -> str:
    """The version an IPA or APK carries (store/buildinfo.py reads it as the server does)."""
    from store.buildinfo import read_build
    from store.errors import InvalidInput

    try:
        with file.open("rb") as f:
            info = read_build(f, file.name)
    except InvalidInput as exc:
        raise click.ClickException(f"--version is needed: {exc.message}") from None
    if not info.version:
        raise click.ClickException(f"--version is needed: {file.name} names no version")
    click.echo(f"{file.name}: {info.platform} {info.identifier} {info.version} ({info.build})", err=True)
    return info.version
