#!/bin/sh
# The image's HEALTHCHECK (and the Kubernetes probes' model): healthy when Orthanc answers and the
# gateway plugin reports its status. With Orthanc authentication on, the user and password come from
# ORTHANC_HEALTHCHECK_USER / ORTHANC_HEALTHCHECK_PASSWORD (an Orthanc user with read access).
set -eu
url="http://127.0.0.1:${ORTHANC_HTTP_PORT:-8042}/dicomweb-oauth/status"
if [ -n "${ORTHANC_HEALTHCHECK_USER:-}" ]; then
  exec curl -fsS -o /dev/null --max-time 4 -u "${ORTHANC_HEALTHCHECK_USER}:${ORTHANC_HEALTHCHECK_PASSWORD:-}" "$url"
fi
exec curl -fsS -o /dev/null --max-time 4 "$url"
