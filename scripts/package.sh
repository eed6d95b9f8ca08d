#!/usr/bin/env bash
# Builds the Debian package dicomweb-oauth-gateway_<version>-<revision>_amd64.deb from this tree and
# leaves it (alone) in dist/. Layout, Depends and the rest: packaging/debian/Debian.cmake; the
# operator's guide: infra/README.md.
#
# Usage: ./scripts/package.sh [--revision N] [--output DIR]
#   --revision N   Debian revision (default 1); a rebuild with N+1 is an upgrade of the same code
#   --output DIR   where to leave the .deb (default dist/); any other .deb there is removed first
# Environment: GW_PACKAGE_BUILD_DIR (default build-deb), the CMake build folder of the package.
set -euo pipefail
GW_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$GW_ROOT"

revision=1
out=$GW_ROOT/dist
while (($#)); do
  case $1 in
    --revision) revision=${2:?--revision needs a value}; shift 2 ;;
    --output) out=${2:?--output needs a folder}; shift 2 ;;
    *) echo "usage: $0 [--revision N] [--output DIR]" >&2; exit 2 ;;
  esac
done
[[ $revision =~ ^[0-9]+$ ]] || { echo "PKG-001: --revision must be a number, got '$revision'" >&2; exit 2; }
build=${GW_PACKAGE_BUILD_DIR:-$GW_ROOT/build-deb}

# Build dependencies only (the container's build stage runs this too): those of scripts/lib/deps.sh's
# build group, dpkg-dev for dpkg-shlibdeps (Depends), and file, which CPack's DEB generator runs.
missing=()
for p in cmake g++ make pkg-config liblua5.4-dev libcurl4-openssl-dev libssl-dev rapidjson-dev orthanc-dev \
         libhiredis-dev dpkg-dev file; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "== installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Compiler flags: the project's RelWithDebInfo (-O2 -g), the same as every other build of the tree,
# so that ccache reuses their objects (a full compile is many minutes on 2 cores); Debian's gcc
# already builds PIE. Linker flags: Debian's hardening (full RELRO, immediate binding), which
# changes no object file.
ldflags=$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get LDFLAGS)
launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi

echo "== configure $build (prefix /usr, Debian layout, revision $revision)"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr -DGW_DEBIAN_LAYOUT=ON \
  -DGW_BUILD_TESTS=OFF -DGW_BUILD_BENCH=OFF -DGW_DEB_REVISION="$revision" "${launcher[@]}" \
  -DCMAKE_SHARED_LINKER_FLAGS="$ldflags" -DCMAKE_EXE_LINKER_FLAGS="$ldflags" >/dev/null
echo "== build the plugin and the CLI"
cmake --build "$build" -j"$(nproc 2>/dev/null || echo 2)" --target OrthancOAuthGateway dicomweb-oauth
echo "== cpack"
rm -f "$build"/package/*.deb
(cd "$build" && cpack -G DEB >/dev/null)
debs=("$build"/package/*.deb)
if ((${#debs[@]} != 1)) || [[ ! -f ${debs[0]} ]]; then
  echo "PKG-002: cpack left ${#debs[@]} .deb files in $build/package (expected one)" >&2
  exit 1
fi
mkdir -p "$out"
rm -f "$out"/*.deb
cp "${debs[0]}" "$out/"
deb=$out/$(basename "${debs[0]}")
echo "== $deb ($(stat -c %s "$deb") bytes)"
dpkg-deb --field "$deb" Package Version Depends
