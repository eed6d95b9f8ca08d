# Sourced by scripts/test.sh and scripts/demo.sh: installs what the project needs on Debian 12.
# apt-get update runs once, and only when a package is missing.

GW_APT_PACKAGES=(
  # build
  cmake g++ make pkg-config
  clang libclang-rt-14-dev  # the libFuzzer targets of fuzz/ (clang's libFuzzer and sanitizer runtimes)
  clang-tidy  # static analysis of core/, plugin/, tools/ (ctest static/clang-tidy, .clang-tidy)
  liblua5.4-dev libcurl4-openssl-dev libssl-dev rapidjson-dev orthanc-dev catch2 libhiredis-dev
  # real components used by integration tests and the demo
  orthanc orthanc-dicomweb nginx libnginx-mod-http-js redis-server dcmtk dicom3tools openssl
  stunnel4  # the Redis TLS relay of the cloud deployments (tests/infra/test_redis_tls_relay.py)
  nodejs npm python3 iproute2 util-linux curl ca-certificates
  python3-botocore  # reference SigV4 signer of the AWS tests (tests/integration/harness/aws.py)
  chromium  # headless browser of the operator page's test (tests/integration/test_operator_ui.py)
  valgrind  # memcheck around Orthanc for the hostile-input integration tests (scripts/test.sh)
  prometheus  # promtool: checks and unit-tests infra/monitoring/alerts.yml (tests/infra/monitoring.cmake)
  # the package and image tests (tests/infra): build, lint, a clean Debian 12 root, podman
  dpkg-dev file lintian debootstrap podman buildah runc uidmap slirp4netns fuse-overlayfs catatonit yamllint
)

gw_install_deps() {
  local missing=()
  local p
  for p in "${GW_APT_PACKAGES[@]}"; do
    # nodejs/npm may come from another repository already set up on the machine: accept the commands.
    if [[ $p == nodejs ]] && command -v node >/dev/null 2>&1; then continue; fi
    if [[ $p == npm ]] && command -v npm >/dev/null 2>&1; then continue; fi
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "== installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
  # Debian's orthanc package starts a system service; we never use it.
  if command -v systemctl >/dev/null 2>&1; then systemctl disable --now orthanc >/dev/null 2>&1 || true; fi
}

gw_install_node_fixtures() {
  local dir=$1
  if [[ -f $dir/package-lock.json ]]; then
    if [[ ! -d $dir/node_modules || $dir/package-lock.json -nt $dir/node_modules/.package-lock.json ]]; then
      echo "== npm ci in ${dir#$GW_ROOT/}"
      (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    fi
  fi
}
