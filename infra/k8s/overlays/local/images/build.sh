#!/bin/bash
# Builds the local overlay's Redis and PostgreSQL images from the project's Debian 12 base (no
# registry needed): localhost/dicomweb-oauth-redis:bookworm, localhost/dicomweb-oauth-postgresql:bookworm.
# Run as root on the host's network (apt reaches the mirror), after ./scripts/image.sh.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/../../../../lib/podman.sh"
gw_podman_setup
# podman kube play builds its pods' pause image around catatonit.
if ! command -v catatonit >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends catatonit >/dev/null
fi
base=$(gw_podman_base_image)
for name in redis postgresql; do
  echo "== podman build localhost/dicomweb-oauth-$name:bookworm"
  podman build -q --network host --build-arg "BASE_IMAGE=$base" -f "$here/$name.Containerfile" \
    -t "localhost/dicomweb-oauth-$name:bookworm" "$here"
done
