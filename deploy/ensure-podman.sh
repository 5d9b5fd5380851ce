#!/usr/bin/env bash
# Makes podman usable for `make image`: podman, runc (crun fails on these cgroups) and debootstrap (the
# local base image) from Debian's packages where missing, as root. Exits 1 when they cannot be installed.
set -euo pipefail
missing=()
for tool in podman runc debootstrap; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "podman is not installable here (needs root and apt-get): ${missing[*]}" >&2; exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap >/dev/null
fi
