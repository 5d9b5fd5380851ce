#!/usr/bin/env bash
# Makes PostgreSQL and Redis reachable for the tests: starts them where installed
# but stopped, installs them from Debian's packages where missing (as root).
set -euo pipefail

PG_HOST=${PGHOST:-127.0.0.1}
PG_PORT=${PGPORT:-5432}
REDIS_PORT=${GATEHOUSE_TEST_REDIS_PORT:-6379}
apt_updated=0

apt_install() {
  if [ "$(id -u)" != 0 ]; then echo "need root to install $*" >&2; exit 1; fi
  if [ $apt_updated = 0 ]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

pg_ready() { command -v pg_isready >/dev/null && pg_isready -q -h "$PG_HOST" -p "$PG_PORT"; }

if ! pg_ready; then
  command -v pg_ctlcluster >/dev/null || apt_install postgresql postgresql-client
  for version in $(ls /etc/postgresql 2>/dev/null); do
    for cluster in $(ls "/etc/postgresql/$version"); do
      pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" start || true
    done
  done
  for _ in $(seq 1 50); do pg_ready && break; sleep 0.2; done
  pg_ready || { echo "PostgreSQL did not start" >&2; exit 1; }
fi
# A fresh Debian cluster asks for a password on TCP; give postgres the one the tests use.
if ! PGPASSWORD=postgres psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -qtAc 'select 1' >/dev/null 2>&1; then
  runuser -u postgres -- psql -qc "ALTER USER postgres PASSWORD 'postgres'" >/dev/null
fi

redis_ready() { command -v redis-cli >/dev/null && redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }
if ! redis_ready; then
  command -v redis-server >/dev/null || apt_install redis-server
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir /tmp --logfile /tmp/gatehouse-test-redis.log
  for _ in $(seq 1 50); do redis_ready && break; sleep 0.1; done
  redis_ready || { echo "Redis did not start" >&2; exit 1; }
fi
# The edge-tier test runs real nginx in front of the read service; the read-limit test drives it with wrk.
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || apt_install nginx-light || apt_install nginx
command -v wrk >/dev/null || apt_install wrk
# The fault suite starts private PostgreSQL clusters (initdb, pg_ctl) and finds child processes with pgrep.
command -v pgrep >/dev/null || apt_install procps
# The distribution page is tested in Debian's headless Chromium through its driver; zbar decodes its QR code.
command -v chromium >/dev/null && command -v chromedriver >/dev/null || apt_install chromium chromium-driver
command -v zbarimg >/dev/null || apt_install zbar-tools
echo "services: PostgreSQL on $PG_HOST:$PG_PORT, Redis on 127.0.0.1:$REDIS_PORT"
