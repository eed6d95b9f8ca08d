# Sourced by scripts/image.sh and the infra tests: a clean Debian 12 root made by debootstrap, cached
# as a tar file so that reruns only unpack it.
#
#   source infra/lib/debian-root.sh
#   tarball=$(gw_debian_root_tarball)     # builds it once (host network needed), then reuses it
#
# The root is `minbase` plus libboost-regex1.74.0: without it apt in that root cannot resolve
# Debian's orthanc (it depends on one of two boost-regex flavours and minbase's resolver picks none).
# GW_INFRA_CACHE (default /var/cache/dicomweb-oauth-gateway) holds the tar file and a lock, so that
# tests running at the same time build it once. GW_DEBIAN_MIRROR overrides the mirror.

GW_INFRA_CACHE=${GW_INFRA_CACHE:-/var/cache/dicomweb-oauth-gateway}
GW_DEBIAN_MIRROR=${GW_DEBIAN_MIRROR:-http://deb.debian.org/debian}
GW_DEBIAN_SUITE=bookworm
GW_DEBIAN_ROOT_INCLUDE=libboost-regex1.74.0,ca-certificates

gw_debian_root_tarball() {
  local tarball=$GW_INFRA_CACHE/debian-$GW_DEBIAN_SUITE-root.tar
  mkdir -p "$GW_INFRA_CACHE"
  (
    flock -w 1200 9 || { echo "INF-001: timed out waiting for $GW_INFRA_CACHE/root.lock" >&2; exit 1; }
    if [[ -s $tarball ]]; then exit 0; fi
    command -v debootstrap >/dev/null || { echo "INF-002: debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }
    local work
    work=$(mktemp -d "$GW_INFRA_CACHE/debootstrap.XXXXXX")
    echo "== debootstrap $GW_DEBIAN_SUITE (minbase) from $GW_DEBIAN_MIRROR (once; cached in $tarball)" >&2
    if ! debootstrap --variant=minbase --include="$GW_DEBIAN_ROOT_INCLUDE" \
         "$GW_DEBIAN_SUITE" "$work/root" "$GW_DEBIAN_MIRROR" >"$work/debootstrap.log" 2>&1; then
      echo "INF-003: debootstrap failed; last lines of its log:" >&2
      tail -n 20 "$work/debootstrap.log" >&2
      gw_debian_root_umount "$work/root"
      rm -rf "$work"
      exit 1
    fi
    # Security updates and package lists, so that `apt-get install` works inside the root at once.
    printf 'deb %s %s main\ndeb %s %s-updates main\ndeb http://deb.debian.org/debian-security %s-security main\n' \
      "$GW_DEBIAN_MIRROR" "$GW_DEBIAN_SUITE" "$GW_DEBIAN_MIRROR" "$GW_DEBIAN_SUITE" "$GW_DEBIAN_SUITE" \
      >"$work/root/etc/apt/sources.list"
    cp /etc/resolv.conf "$work/root/etc/resolv.conf"
    if ! chroot "$work/root" apt-get update -qq >"$work/apt.log" 2>&1; then
      echo "INF-004: apt-get update inside the new root failed:" >&2
      tail -n 20 "$work/apt.log" >&2
      rm -rf "$work"
      exit 1
    fi
    chroot "$work/root" apt-get clean
    tar -C "$work/root" --numeric-owner -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    rm -rf "$work"
  ) 9>"$GW_INFRA_CACHE/root.lock" || return 1
  echo "$tarball"
}

# Unmounts whatever is still mounted under a root (debootstrap's /proc and /sys after a failure, a
# test's /proc), deepest first, so that removing the folder can never reach the host's files.
gw_debian_root_umount() {
  local root
  root=$(realpath "$1")
  findmnt -rn -o TARGET | grep -F "$root/" | sort -r | while read -r m; do umount -l "$m" || true; done
}
