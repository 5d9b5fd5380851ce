"""Build versions and the UpdateForge view of a user's teams and apps."""

from __future__ import annotations

from typing import NamedTuple

import peewee as pw

from store.accounts import visible_team_ids
from store.catalog import app_row, app_scope, get_app
from store.db import conflict_on_duplicate
from store.errors import BuildOfAnotherTeam, InvalidInput, NoBuildFile, NoSuchBuild
from store.models import BUILD_TYPES, App, Build, DownloadEvent, Team, User, utcnow
from store.pagination import Page, paginate
from store.versions import canonical, parse_key


def create_build(
    caller: User, app_id: str, build_type: str, version: str, name: str = "", public: bool = False
) -> Build:
    app = get_app(caller, app_id, write=True)
    if build_type not in BUILD_TYPES:
        raise InvalidInput(f"build_type must be one of {', '.join(BUILD_TYPES)}")
    parse_key(version)
    with conflict_on_duplicate("this version already exists for this build type"):
        return Build.create(app=app, build_type=build_type, version=version.strip(), name=name, public=public)


def _highest(builds: list[Build]) -> Build | None:
    return max(builds, key=lambda b: (parse_key(b.version), b.id), default=None)


class AppBuilds(NamedTuple):
    app: App
    # build type -> (current: the highest version with a file, pending: the highest without one)
    latest: dict[str, tuple[Build | None, Build | None]]


def teams_with_apps(user: User) -> list[tuple[Team, list[AppBuilds]]]:
    """The caller's teams and their live apps, oldest first, with each build type's current and pending."""
    teams = list(Team.select().where(Team.id.in_(visible_team_ids(user))).order_by(Team.created_at, Team.id))
    apps = list(
        App.select()
        .where(App.team.in_([t.id for t in teams]) & App.deleted_at.is_null())
        .order_by(App.created_at, App.id)
    )
    builds: dict[tuple[int, str], list[Build]] = {}
    for b in Build.select().where(Build.app.in_([a.id for a in apps])):
        builds.setdefault((b.app_id, b.build_type), []).append(b)
    out = []
    for team in teams:
        team_apps = []
        for app in (a for a in apps if a.team_id == team.id):
            latest = {}
            for build_type in BUILD_TYPES:
                rows = builds.get((app.id, build_type), [])
                latest[build_type] = (
                    _highest([b for b in rows if b.file_key is not None]),
                    _highest([b for b in rows if b.file_key is None]),
                )
            team_apps.append(AppBuilds(app, latest))
        out.append((team, team_apps))
    return out


def _download_count():
    return (
        DownloadEvent.select(pw.fn.COUNT(DownloadEvent.id))
        .where(DownloadEvent.build == Build.id)
        .alias("downloads")
    )


def download_count(build: Build) -> int:
    """Download events of a build (precomputed on rows from list_builds)."""
    counted = getattr(build, "downloads", None)
    return (
        counted if counted is not None else DownloadEvent.select().where(DownloadEvent.build == build).count()
    )


def list_builds(caller: User, app_id: str, page: int, per_page: int) -> Page:
    app = get_app(caller, app_id)
    query = Build.select(Build, _download_count()).where(Build.app == app).order_by(Build.id)
    return paginate(query, page, per_page)


def get_build(caller: User, app_id: str, build_id: int, write: bool = False) -> Build:
    return app_row(Build, "build", caller, app_id, build_id, write)


def update_build(caller: User, app_id: str, build_id: int, fields: dict) -> Build:
    build = get_build(caller, app_id, build_id, write=True)
    for name in ("name", "public"):
        if name in fields:
            setattr(build, name, fields[name])
    build.save()
    return build


def delete_build(caller: User, app_id: str, build_id: int) -> str | None:
    """Removes the version and its download events; returns its file's key, to delete after commit."""
    build = get_build(caller, app_id, build_id, write=True)
    build.delete_instance(recursive=True)
    return build.file_key


def attach_file(build: Build, key: str, file_name: str, size: int, sha256: str) -> str | None:
    """Points the build at its new artifact; returns the key of the file it replaced, to delete after commit."""
    old = build.file_key
    build.file_key, build.file_name, build.file_size, build.file_sha256 = key, file_name, size, sha256
    # Whole seconds: Last-Modified and If-Range dates carry no fraction, and must compare equal.
    build.file_uploaded_at = utcnow().replace(microsecond=0)
    build.save()
    return old


def downloadable_build(user: User, build_id: str) -> Build:
    """UpdateForge's checks for a download, in the spec's order: exists, caller's team, has a file."""
    build = (
        Build.select(Build).join(App).where((Build.id == int(build_id)) & App.deleted_at.is_null()).first()
        if build_id.isascii() and build_id.isdigit() and len(build_id) < 19
        else None
    )
    if build is None:
        raise NoSuchBuild("no such build")
    if not App.select().where((App.id == build.app_id) & app_scope(user)).exists():
        raise BuildOfAnotherTeam("the build's app belongs to another team")
    if build.file_key is None:
        raise NoBuildFile("the build has no file")
    return build


def record_download(build: Build, client: str, user: User | None = None) -> None:
    """Idempotent: the first request of a client counts; its resumed and repeated requests do not."""
    DownloadEvent.insert(build=build, client=client[:128], user=user).on_conflict_ignore().execute()


def check_artifact(build: Build, info) -> None:
    """A build file that names itself (an IPA or APK, store/buildinfo.py) must be the version it is uploaded
    as, and an app with a package identifier takes only files with that identifier."""
    if info.version and canonical(info.version) != canonical(build.version):
        raise InvalidInput(f"the file is version {info.version}; this build is {build.version}")
    package = build.app.package_name
    if package and info.identifier and info.identifier != package:
        raise InvalidInput(f"the file is {info.identifier}; this app is {package}")
