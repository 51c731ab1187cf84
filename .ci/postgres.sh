#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on loopback for the persistence tests.
# Usage: eval "$(bash .ci/postgres.sh start DIR)"   (prints: export RELAPSE_CDS_TEST_POSTGRES_URL=...)
#        bash .ci/postgres.sh stop DIR
# Installs PostgreSQL from Debian's packages when no initdb is found. initdb refuses to run as root, so
# the cluster belongs to the unprivileged user `nobody` when run as root.
set -euo pipefail
action="$1"; dir="$2"

find_bin() {
  command -v "$1" 2>/dev/null && return
  ls /usr/lib/postgresql/*/bin/"$1" 2>/dev/null | sort -V | tail -n 1
}

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u nobody -- "$@"; else "$@"; fi
}

if [ "$action" = stop ]; then
  pg_ctl="$(find_bin pg_ctl)"
  [ -n "$pg_ctl" ] && [ -f "$dir/data/postmaster.pid" ] && as_owner "$pg_ctl" -D "$dir/data" -m immediate stop >/dev/null || true
  exit 0
fi

if [ -z "$(find_bin initdb)" ]; then
  echo "installing PostgreSQL from Debian's packages" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 && apt-get install -y -qq postgresql >&2
fi
initdb="$(find_bin initdb)"; pg_ctl="$(find_bin pg_ctl)"
mkdir -p "$dir"
[ "$(id -u)" = 0 ] && chown nobody "$dir"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
as_owner "$initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-instructions >/dev/null
as_owner "$pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=on -c max_connections=100" start >&2
echo "export RELAPSE_CDS_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:$port/postgres"
