"""The longest value each device-reported column holds: one definition for the columns (store/models.py)
and for the edge that validates what devices send (the Capgo dialect), importable without the ORM.

A device field the edge accepted but a column could not hold failed the worker's whole batch, with every
other device's sighting in it, so the two must never disagree (tests/test_device_batches.py checks it).
"""

DEVICE_ID = 64
PLATFORM = 16
PLUGIN_VERSION = 64
OS_VERSION = 64
VERSION_BUILD = 64
VERSION_NAME = 64  # a bundle name, as Bundle.name
CUSTOM_ID = 255
BUNDLE_NAME = 64
CHANNEL_NAME = 128
ACTION = 32
PACKAGE_NAME = 255


def has_nul(value) -> bool:
    """True when any string in a decoded JSON value holds NUL, which PostgreSQL text cannot store."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_nul(v) for v in value)
    return False
