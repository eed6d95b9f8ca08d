#!/bin/sh
# First start: a cluster in $PGDATA owned by $POSTGRES_USER with $POSTGRES_PASSWORD (SCRAM), and
# the database $POSTGRES_DB; then the server, listening on every address (the NetworkPolicy limits
# who may connect). The password goes through a file in /tmp, never the command line.
set -eu
: "${PGDATA:?PGDATA is not set}" "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is not set}"
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  mkdir -p "$PGDATA" && chmod 0700 "$PGDATA"
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  initdb -D "$PGDATA" -U "$user" --pwfile="$pwfile" --auth-local=scram-sha-256 --auth-host=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$pwfile"
  echo "host all all 0.0.0.0/0 scram-sha-256" >>"$PGDATA/pg_hba.conf"
  if [ "$db" != postgres ]; then
    echo "CREATE DATABASE \"$db\" OWNER \"$user\";" | postgres --single -D "$PGDATA" postgres >/dev/null
  fi
fi
# The socket directory is an emptyDir: Kubernetes makes it writable, podman leaves it root's. Without
# it, no unix socket (everyone, pg_isready included, connects over TCP).
sockets=/var/run/postgresql
[ -w "$sockets" ] || sockets=
exec postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories="$sockets" "$@"
