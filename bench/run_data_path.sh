#!/usr/bin/env bash
# Runs the data-path benchmark (bench/data_path.py) in a private network namespace with real Orthanc,
# nginx and the plugin from a build folder.
# Usage: bench/run_data_path.sh [--build DIR] [--reps N] [--kinds orthanc,front,far] [--far-delay-ms MS]
#                               [--smoke] [--memory] [--json FILE]   (see bench/data_path.py)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$root/build
if [[ ${1:-} == --build ]]; then build=$(cd "$2" && pwd); shift 2; fi
plugin=$(ls "$build"/plugin/libOrthancOAuthGateway.so* 2>/dev/null | head -1)
[[ -n $plugin ]] || { echo "build the plugin first: cmake --build $build --target OrthancOAuthGateway" >&2; exit 2; }
export GW_PLUGIN=$plugin GW_SOURCE_DIR=$root GW_TEST_TMPDIR=${GW_TEST_TMPDIR:-$build/bench-tmp}
unshare=(unshare -n --)
((EUID == 0)) || unshare=(unshare -r -n --)
exec "${unshare[@]}" /usr/bin/python3 "$root/tests/integration/netns_run.py" "$root/bench/data_path.py" "$@"
