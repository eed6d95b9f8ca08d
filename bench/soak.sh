#!/usr/bin/env bash
# Soak run (bench/soak.py) in a private network namespace with real Orthanc, IdP, nginx, Redis and
# the plugin from a build folder. Not part of CI: an hour by default.
# Usage: nice bench/soak.sh [--build DIR] [--minutes 60] [--json FILE] [other options of soak.py]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$root/build
if [[ ${1:-} == --build ]]; then build=$(cd "$2" && pwd); shift 2; fi
plugin=$(ls "$build"/plugin/libOrthancOAuthGateway.so* 2>/dev/null | head -1)
[[ -n $plugin ]] || { echo "build the plugin first: cmake --build $build --target OrthancOAuthGateway" >&2; exit 2; }
export GW_PLUGIN=$plugin GW_SOURCE_DIR=$root GW_TEST_TMPDIR=${GW_TEST_TMPDIR:-$build/bench-tmp}
unshare=(unshare -n --)
((EUID == 0)) || unshare=(unshare -r -n --)
exec "${unshare[@]}" /usr/bin/python3 -B "$root/tests/integration/netns_run.py" "$root/bench/soak.py" "$@"
