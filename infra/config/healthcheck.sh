#!/bin/sh
# The image's HEALTHCHECK: the gateway's liveness probe (docs/operations.md, "Health probes"):
# Orthanc answers and the plugin's Lua engine hands out a state in time. An IdP outage does not fail
# it (readiness is /dicomweb-oauth/health/ready). With Orthanc authentication on, the user and
# password come from ORTHANC_HEALTHCHECK_USER / ORTHANC_HEALTHCHECK_PASSWORD: best an Orthanc user
# named in DicomWebOAuth.Health.ProbeUser, which the gateway confines to the health routes.
set -eu
url="http://127.0.0.1:${ORTHANC_HTTP_PORT:-8042}/dicomweb-oauth/health/live"
if [ -n "${ORTHANC_HEALTHCHECK_USER:-}" ]; then
  exec curl -fsS -o /dev/null --max-time 4 -u "${ORTHANC_HEALTHCHECK_USER}:${ORTHANC_HEALTHCHECK_PASSWORD:-}" "$url"
fi
exec curl -fsS -o /dev/null --max-time 4 "$url"
