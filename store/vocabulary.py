"""Fixed vocabularies of the domain, importable without the ORM (the CLI's remote commands use them)."""

PLATFORMS = ("ios", "android")
ROLES = ("member", "admin", "super_admin")
SUBSCRIPTION = ("active", "expired")
BUILD_TYPES = ("release", "debug", "profile")
