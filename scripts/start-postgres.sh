#!/usr/bin/env bash
# Starts the local Postgres cluster the tests use and lets the current user (root in CI)
# connect over the Unix socket: postgres:///DBNAME?host=/var/run/postgresql
# Idempotent. Set INVSYNC_TEST_POSTGRES_URL to use another server instead.
set -euo pipefail

if [[ -n "${INVSYNC_TEST_POSTGRES_URL:-}" ]]; then
  echo "using INVSYNC_TEST_POSTGRES_URL; not starting a local cluster"
  exit 0
fi

if ! command -v pg_lsclusters >/dev/null 2>&1; then
  echo "Postgres is not installed; installing it (Debian)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi

read -r version cluster status <<<"$(pg_lsclusters --no-header | awk 'NR==1 {print $1, $2, $4}')"
if [[ -z "${version:-}" ]]; then
  echo "no Postgres cluster found; creating one" >&2
  version="$(ls /usr/lib/postgresql | sort -V | tail -1)"
  pg_createcluster "$version" main
  cluster=main
  status=down
fi
if [[ "$status" != "online" ]]; then
  pg_ctlcluster "$version" "$cluster" start
fi

# Wait until it accepts connections.
for _ in $(seq 1 50); do
  if runuser -u postgres -- psql -qAtc 'select 1' >/dev/null 2>&1; then break; fi
  sleep 0.2
done

me="$(id -un)"
if [[ "$me" != "postgres" ]]; then
  if ! runuser -u postgres -- psql -qAtc "select 1 from pg_roles where rolname = '$me'" | grep -q 1; then
    runuser -u postgres -- createuser -s "$me"
  fi
fi
psql "postgres:///postgres?host=/var/run/postgresql" -qAtc 'select 1' >/dev/null
echo "Postgres $version/$cluster is up; $me can connect over /var/run/postgresql"
