#!/usr/bin/env bash
# ctest infra/package-build: the package as operators build it (scripts/package.sh), plus a rebuild
# with the next Debian revision for the upgrade test, each alone in its folder under OUT.
#   build_packages.sh OUT
set -euo pipefail
out=${1:?usage: build_packages.sh OUT}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export GW_PACKAGE_BUILD_DIR=$out/build
"$root/scripts/package.sh" --output "$out/deb"
"$root/scripts/package.sh" --revision 2 --output "$out/deb-upgrade"
for d in deb deb-upgrade; do
  n=$(find "$out/$d" -maxdepth 1 -name '*.deb' | wc -l)
  [[ $n == 1 ]] || { echo "INF-012: $out/$d holds $n .deb files (expected one)" >&2; exit 1; }
done
