#!/usr/bin/env bash
# Runs the data-path benchmark (bench/data_path.py) in a private network namespace with real Orthanc,
# nginx and the plugin from a build folder.
# Usage: bench/run_data_path.sh [--build DIR] [--reps N] [--kinds orthanc,front,far] [--far-delay-ms MS]
#                               [--modes direct,proxy] [--workloads '50 x 2 MiB,4 jobs']
#                               [--smoke] [--memory] [--json FILE]   (see bench/data_path.py)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$root/build
if [[ ${1:-} == --build ]]; then build=$(cd "$2" && pwd); shift 2; fi
plugin=$(ls "$build"/plugin/libOrthancOAuthGateway.so* 2>/dev/null | head -1)
[[ -n $plugin ]] || { echo "build the plugin first: cmake --build $build --target OrthancOAuthGateway" >&2; exit 2; }
# Both Orthancs' storage goes to memory (tmpfs) when there is room: on disk, the writeback of each
# transfer's files was most of its time and of its noise, the same in every mode, so it diluted and
# hid what the modes themselves cost (docs/PERFORMANCE.md, "Storage in memory"). GW_TEST_TMPDIR
# chooses another place, e.g. a disk folder to measure with the disk in the picture.
tmpfs_dir=
if [[ -z ${GW_TEST_TMPDIR:-} ]]; then
  avail_kib=$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 { print $4 }')
  if [[ -w /dev/shm && ${avail_kib:-0} -gt $((8 * 1024 * 1024)) ]]; then
    tmpfs_dir=$(mktemp -d /dev/shm/gw-bench.XXXXXX)
    GW_TEST_TMPDIR=$tmpfs_dir
    # An interrupted run must not leave gigabytes of studies in memory.
    trap 'rm -rf "$tmpfs_dir"; exit 130' INT TERM
  else
    GW_TEST_TMPDIR=$build/bench-tmp
  fi
fi
export GW_PLUGIN=$plugin GW_SOURCE_DIR=$root GW_TEST_TMPDIR
echo "# storage: $GW_TEST_TMPDIR" >&2
unshare=(unshare -n --)
((EUID == 0)) || unshare=(unshare -r -n --)
rc=0
"${unshare[@]}" /usr/bin/python3 "$root/tests/integration/netns_run.py" "$root/bench/data_path.py" "$@" || rc=$?
if [[ -n $tmpfs_dir ]]; then
  # A failed run keeps its workspace (logs) there; it lives in memory, so say where it is.
  if ((rc == 0)); then rm -rf "$tmpfs_dir"; else echo "# the failed run's files are in $tmpfs_dir (memory)" >&2; fi
fi
exit "$rc"
