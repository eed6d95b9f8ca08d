# Sourced by scripts/image.sh and the infra tests: podman as it works on this machine kind.
#   gw_podman_setup          installs podman/buildah/runc if missing, exports CONTAINERS_CONF
#   gw_podman_base_image     prints the Debian 12 base image (imported once from the debootstrap root)
source "$(dirname "${BASH_SOURCE[0]}")/debian-root.sh"

GW_BASE_IMAGE=localhost/dicomweb-oauth-base:bookworm

gw_podman_setup() {
  local missing=() p
  for p in podman buildah runc debootstrap; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "== installing ${missing[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
      { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
  fi
  # crun fails here and the default ulimits are above what this machine grants a container.
  mkdir -p "$GW_INFRA_CACHE"
  cat >"$GW_INFRA_CACHE/containers.conf" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
CONF
  export CONTAINERS_CONF=$GW_INFRA_CACHE/containers.conf
}

gw_podman_base_image() {
  if ! podman image exists "$GW_BASE_IMAGE"; then
    local tarball work
    tarball=$(gw_debian_root_tarball) || return 1
    work=$(mktemp -d "$GW_INFRA_CACHE/base-image.XXXXXX")
    tar -C "$work" --numeric-owner -xf "$tarball"
    # What debian:bookworm-slim leaves out (docs but copyright, man pages, locales, apt lists and
    # caches), and the dpkg filter that keeps later installs just as lean.
    find "$work/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
    find "$work/usr/share/doc" -mindepth 1 -type d -empty -delete
    rm -rf "$work"/usr/share/man/* "$work"/usr/share/info/* "$work"/usr/share/locale/* \
           "$work"/var/lib/apt/lists/* "$work"/var/cache/apt/*.bin "$work"/var/log/*.log
    cat >"$work/etc/dpkg/dpkg.cfg.d/slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
CFG
    echo "== podman import of the debootstrap root (slimmed) as $GW_BASE_IMAGE" >&2
    tar -C "$work" --numeric-owner -cf - . |
      podman import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["/bin/bash"]' - "$GW_BASE_IMAGE" >/dev/null
    local rc=$?
    rm -rf "$work"
    ((rc == 0)) || return 1
  fi
  echo "$GW_BASE_IMAGE"
}
