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
