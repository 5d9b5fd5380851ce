"""iOS devices bound to variants through the UDID profile, and their registration with Apple."""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from store.accounts import require_writer, visible_team_ids
from store.apple import AppleClient, AppleError
from store.catalog import app_scope
from store.db import conflict_on_duplicate, unit_of_work
from store.errors import NotFound
from store.models import (
    App,
    IosDevice,
    IosDeviceBinding,
    Team,
    User,
    Variant,
    utcnow,
)
from store.pagination import keyset
from store.products import new_id
from store.releases import NO_FILTERS, Filters

# -- iOS devices -------------------------------------------------------------------------------------


class Capture(NamedTuple):
    udid: str
    product: str
    os_version: str
    serial: str
    device_name: str


def bind_device(target: Variant, capture: Capture, ip: str) -> IosDevice:
    """Stores (or refreshes) the device in the variant's team and binds it to the variant."""
    team_id = target.app.team_id
    device = IosDevice.get_or_none((IosDevice.team == team_id) & (IosDevice.udid == capture.udid))
    now = utcnow()
    if device is None:
        with conflict_on_duplicate("device already bound"):
            device = IosDevice.create(team=team_id, public_id=new_id("dev"), udid=capture.udid)
    device.product, device.os_version, device.serial = capture.product, capture.os_version, capture.serial
    device.device_name = capture.device_name or device.device_name
    device.last_ip, device.verified_at = ip[:64], now
    device.save()
    IosDeviceBinding.insert(device=device, variant=target, created_at=now).on_conflict_ignore().execute()
    return device


def _device_query(
    caller: User, variant_id: str | None, search: str | None = None, days: Filters = NO_FILTERS
):
    require_writer(caller)
    q = days.on(IosDevice.select().where(IosDevice.team.in_(visible_team_ids(caller))), IosDevice.created_at)
    if search:
        like = f"%{search}%"
        q = q.where(
            IosDevice.udid.ilike(like)
            | IosDevice.device_name.ilike(like)
            | IosDevice.product.ilike(like)
            | IosDevice.os_version.ilike(like)
        )
    if variant_id is not None:
        bound = (
            IosDeviceBinding.select(IosDeviceBinding.device)
            .join(Variant)
            .where(Variant.public_id == variant_id)
        )
        q = q.where(IosDevice.id.in_(bound))
    return q


def list_ios_devices(
    caller: User,
    variant_id: str | None,
    limit: int,
    offset: int,
    search: str | None = None,
    days: Filters = NO_FILTERS,
) -> tuple[list, int]:
    q = _device_query(caller, variant_id, search, days)
    return list(
        q.order_by(IosDevice.created_at.desc(), IosDevice.id.desc()).limit(limit).offset(offset)
    ), q.count()


def iter_ios_devices(caller: User, filters: Filters = NO_FILTERS, batch: int = 2000) -> Iterator[IosDevice]:
    """Every iOS device of the caller's teams in keyset batches; the caller is checked now."""
    return keyset(_device_query(caller, filters.variant_id, None, filters), IosDevice.id, batch)


def device_variants(devices: list[IosDevice]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {d.id: [] for d in devices}
    if devices:
        q = (
            IosDeviceBinding.select(IosDeviceBinding.device, Variant.public_id)
            .join(Variant)
            .where(IosDeviceBinding.device.in_([d.id for d in devices]))
            .order_by(IosDeviceBinding.id)
        )
        for row in q:
            out[row.device_id].append(row.variant.public_id)
    return out


def ios_device(caller: User, device_id: str) -> IosDevice:
    require_writer(caller)
    row = IosDevice.get_or_none(
        (IosDevice.public_id == device_id) & IosDevice.team.in_(visible_team_ids(caller))
    )
    if row is None:
        raise NotFound("device not found")
    return row


def ios_variants(caller: User) -> list[Variant]:
    """The iOS variants of the caller's teams, oldest first, their products joined (the devices page's
    filter)."""
    require_writer(caller)
    return list(
        Variant.select(Variant, App)
        .join(App)
        .where((Variant.platform == "ios") & app_scope(caller) & App.deleted_at.is_null())
        .order_by(Variant.created_at, Variant.id)
    )


def team_devices(team: Team, device_ids: list[str]) -> dict[str, IosDevice]:
    """The team's devices among ``device_ids``, by public id (another team's ids are simply absent)."""
    return {
        d.public_id: d
        for d in IosDevice.select().where((IosDevice.team == team) & IosDevice.public_id.in_(device_ids))
    }


def mark_registered(device: IosDevice, apple_device_id: str) -> None:
    device.apple_registered, device.apple_registered_at = True, utcnow()
    device.apple_device_id, device.apple_error = apple_device_id, ""
    device.save()


def mark_failed(device: IosDevice, error: str) -> None:
    device.apple_error = error[:1000]
    device.save()


class Registration(NamedTuple):
    """What registering a device with Apple came to: registered, already_registered or failed."""

    status: str
    apple_device_id: str | None = None
    error: str | None = None


def register_with_apple(client: AppleClient, device: IosDevice) -> Registration:
    """One device registered with Apple (one Apple already has counts as registered), and the outcome
    committed on its own, so one refusal touches nothing else."""
    name = (device.device_name or f"{device.product or 'iOS device'} {device.udid[-6:]}")[:50]
    try:
        try:
            apple_id, status = client.register(device.udid, name), "registered"
        except AppleError as exc:
            found = client.find(device.udid) if exc.status == 409 else None
            if found is None:
                raise
            apple_id, status = found, "already_registered"
    except AppleError as exc:
        with unit_of_work():
            mark_failed(device, exc.detail)
        return Registration("failed", error=exc.detail)
    with unit_of_work():
        mark_registered(device, apple_id)
    return Registration(status, apple_id)
