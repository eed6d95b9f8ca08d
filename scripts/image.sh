#!/usr/bin/env bash
# Builds the container image from infra/Containerfile and tags it
# localhost/dicomweb-oauth-gateway:latest and :<version>. No registry is needed: the Debian 12 base
# image is made here from a debootstrap root (`podman import`), cached in /var/cache.
#
# Usage: ./scripts/image.sh [--base IMAGE]
#   --base IMAGE   build FROM this image instead (e.g. docker.io/library/debian:bookworm-slim where a
#                  registry is reachable)
# Sets up what podman needs on this machine kind: podman, buildah and runc from Debian, and a
# containers.conf (runc, lower ulimits) used through CONTAINERS_CONF; run containers of this image
# with the same: export CONTAINERS_CONF=/var/cache/dicomweb-oauth-gateway/containers.conf
set -euo pipefail
GW_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$GW_ROOT"
source infra/lib/podman.sh

base=
while (($#)); do
  case $1 in
    --base) base=${2:?--base needs an image}; shift 2 ;;
    *) echo "usage: $0 [--base IMAGE]" >&2; exit 2 ;;
  esac
done

gw_podman_setup
[[ -n $base ]] || base=$(gw_podman_base_image)
version=$(sed -n 's/^project(DicomWebOAuthGateway VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
[[ -n $version ]] || { echo "IMG-001: cannot read the project version from CMakeLists.txt" >&2; exit 1; }

# The build context: only what the build stage needs (no build folders, node_modules or .git), so
# that the COPY layer changes only when the sources do.
context=$GW_INFRA_CACHE/image-context
rm -rf "$context"
mkdir -p "$context"
cp -a CMakeLists.txt core plugin tools lua packaging scripts infra "$context/"

echo "== podman build FROM $base"
start=$(date +%s)
# --network host: apt in a RUN step reaches the mirror only from the host's network namespace.
podman build --format docker --network host --build-arg BASE_IMAGE="$base" \
  -t localhost/dicomweb-oauth-gateway:latest -t "localhost/dicomweb-oauth-gateway:$version" \
  -f infra/Containerfile "$context"
echo "== localhost/dicomweb-oauth-gateway:$version built in $(($(date +%s) - start)) s," \
     "$(podman image inspect --format '{{.Size}}' localhost/dicomweb-oauth-gateway:latest) bytes"
