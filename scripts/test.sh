#!/usr/bin/env bash
# Install everything (Python packages, Debian's PostgreSQL and Chromium) and run the whole
# test suite, against SQLite and a throwaway PostgreSQL server started here.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
if ! command -v chromium >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql chromium >/dev/null
fi
bash scripts/install.sh --test

# a throwaway PostgreSQL cluster on a free port, owned by the postgres user
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
PGDIR=$(mktemp -d /tmp/fruehwarn-pg.XXXXXX)
PGPORT=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
chown -R postgres "$PGDIR" 2>/dev/null || true
as_pg() { if [ "$(id -u)" -eq 0 ]; then su postgres -c "$*"; else bash -c "$*"; fi; }
as_pg "$PGBIN/initdb -D $PGDIR/data -A trust -U postgres -E UTF8 --locale=C.UTF-8" >/dev/null
as_pg "$PGBIN/pg_ctl -D $PGDIR/data -o '-p $PGPORT -k $PGDIR -c listen_addresses=127.0.0.1 -c fsync=off' -l $PGDIR/log -w start" >/dev/null
trap 'as_pg "$PGBIN/pg_ctl -D $PGDIR/data -m fast stop" >/dev/null 2>&1 || true; rm -rf "$PGDIR"' EXIT
export FRUEHWARN_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$PGPORT/postgres"

.venv/bin/ruff check config storage crawlers classifiers alerting dashboard fruehwarn tests benchmarks
.venv/bin/python -m pytest "$@"
