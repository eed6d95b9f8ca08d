#!/bin/sh
# Writes stunnel's configuration from the environment and runs it in the foreground.
#   REDIS_HOST      the cache's name (<name>.redis.cache.windows.net): connected to and verified
#   REDIS_TLS_PORT  the cache's TLS port (6380)
#   LISTEN_PORT     where the gateway connects, on 127.0.0.1 (6380)
#   REDIS_CA_FILE   the CAs the cache's certificate must chain to (default: the system's)
set -eu
: "${REDIS_HOST:?RTLS-001: REDIS_HOST is not set}"
port=${REDIS_TLS_PORT:-6380}
listen=${LISTEN_PORT:-6380}
ca=${REDIS_CA_FILE:-/etc/ssl/certs/ca-certificates.crt}
[ -r "$ca" ] || { echo "RTLS-003: REDIS_CA_FILE $ca is not readable" >&2; exit 2; }
case $REDIS_HOST in
  *[!A-Za-z0-9.-]*) echo "RTLS-002: REDIS_HOST is not a host name: $REDIS_HOST" >&2; exit 2 ;;
esac
for p in "$port" "$listen"; do
  case $p in ''|*[!0-9]*) echo "RTLS-002: not a port number: $p" >&2; exit 2 ;; esac
done
conf=${TMPDIR:-/tmp}/stunnel-redis.conf
cat >"$conf" <<CONF
foreground = yes
pid =
syslog = no
debug = notice
[redis]
client = yes
accept = 127.0.0.1:$listen
connect = $REDIS_HOST:$port
sslVersionMin = TLSv1.2
verifyChain = yes
CAfile = $ca
checkHost = $REDIS_HOST
sni = $REDIS_HOST
CONF
exec stunnel "$conf"
