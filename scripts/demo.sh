#!/usr/bin/env bash
# Runs the gateway in a real Orthanc on a self-contained local setup: a real OAuth2 identity
# provider (oidc-provider), a protected "cloud" DICOMweb service (a second Orthanc behind nginx that
# admits only tokens the IdP vouches for), and Orthanc with the DICOMweb plugin and this gateway.
# Everything listens on loopback inside a private network namespace and stops when the demo ends.
# Usage: ./scripts/demo.sh [--keep]   (--keep: leave the servers running until Enter is pressed, with
# Orthanc Explorer and the gateway's operator page reachable from this machine at
# http://127.0.0.1:${GW_DEMO_PORT:-8042}/; the IdP and the protected cloud stay private)
set -euo pipefail
GW_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$GW_ROOT"
source scripts/lib/deps.sh

gw_install_deps
gw_install_node_fixtures "$GW_ROOT/tests/fixtures/idp"

echo "== build"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" --target OrthancOAuthGateway dicomweb-oauth

export GW_SOURCE_DIR=$GW_ROOT
export GW_PLUGIN=$(ls "$GW_ROOT"/build/plugin/libOrthancOAuthGateway.so)
export GW_CLI=$GW_ROOT/build/tools/dicomweb-oauth
export GW_TEST_TMPDIR=$GW_ROOT/build/demo-tmp
for arg in "$@"; do
  # Binds the host port first, then enters the namespace itself (scripts/demo.py, host_relay).
  [[ $arg == --keep ]] && exec /usr/bin/python3 -B scripts/demo.py --host-relay "$@"
done
exec unshare -n -- /usr/bin/python3 -B tests/integration/netns_run.py scripts/demo.py "$@"
