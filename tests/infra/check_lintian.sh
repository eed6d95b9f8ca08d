#!/usr/bin/env bash
# ctest infra/package-lintian: lintian reports no error (E:) on the package; every tag it reports
# (warnings, info, pedantic) is printed for the record.
#   check_lintian.sh DIR      (DIR holds the one .deb)
set -uo pipefail
dir=${1:?usage: check_lintian.sh DIR}
command -v lintian >/dev/null ||
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends lintian >/dev/null
debs=("$dir"/*.deb)
[[ -f ${debs[0]} ]] || { echo "INF-011: no package in $dir: run the test infra/package-build first" >&2; exit 2; }
out=$(lintian --fail-on error --display-level ">=pedantic" "${debs[0]}" 2>&1)
rc=$?
echo "$out"
if grep -q '^E: ' <<<"$out"; then
  echo "INF-013: lintian reports errors on $(basename "${debs[0]}")" >&2
  exit 1
elif ((rc != 0)); then
  echo "INF-014: lintian could not check $(basename "${debs[0]}") (exit $rc)" >&2
  exit 1
fi
echo "lintian: no error on $(basename "${debs[0]}")"
