"""Fixed vocabularies of the domain, importable without the ORM (the CLI's remote commands use them)."""

PLATFORMS = ("ios", "android")
ROLES = ("member", "admin", "super_admin")
SUBSCRIPTION = ("active", "expired")
BUILD_TYPES = ("release", "debug", "profile")
# How far a channel lets devices move on their own (Capgo's disableAutoUpdate).
AUTO_UPDATE_LIMITS = ("major", "minor", "patch", "version_number", "none")
# Tables whose changes are announced to webhooks (store/webhooks.py words them as events).
WEBHOOK_RESOURCES = frozenset(
    {"bundle", "channel", "rollout", "version_rule", "minimum_version_rule", "maintenance", "build", "app"}
)
# The plugin's /stats actions that report a bundle failing on a device, and the one that reports it applied:
# a rollout's health is read from these (store/rollouts.py).
FAILURE_ACTIONS = frozenset({"update_fail", "download_fail", "checksum_fail", "set_fail"})
SUCCESS_ACTION = "set"
