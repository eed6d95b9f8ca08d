#!/usr/bin/env bash
# Builds everything and runs every test: unit tests, Lua script tests, integration tests with a real
# Orthanc, a real identity provider, nginx and Redis (each inside a private network namespace) and
# static analysis (clang-tidy, docs/testing.md), then the
# unit and integration suites again under AddressSanitizer + UndefinedBehaviorSanitizer, then the
# libFuzzer targets of fuzz/ (clang) for a bounded time each.
# Usage: ./scripts/test.sh [--fast]   (--fast: skip the sanitizer and fuzzing passes)
set -euo pipefail
GW_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$GW_ROOT"
source scripts/lib/deps.sh

fast=0
[[ ${1:-} == --fast ]] && fast=1
jobs=$(nproc 2>/dev/null || echo 2)
# The integration tests run again with every Orthanc under valgrind (docs/testing.md).
GW_VALGRIND_TESTS='^integration/(test_hardening_json|test_hostile_recursion|test_hardening_routes|test_proxy_security)$'

gw_install_deps
gw_install_node_fixtures "$GW_ROOT/tests/fixtures/idp"
gw_install_node_fixtures "$GW_ROOT/tests/fixtures/dicomweb-client"
gw_install_node_fixtures "$GW_ROOT/tests/fixtures/browser"
gw_install_node_fixtures "$GW_ROOT/infra/monitoring/grafana-types"
gw_install_node_fixtures "$GW_ROOT/tests/infra/k8s-types"
gw_install_node_fixtures "$GW_ROOT/tests/infra/cloud-checks"

echo "== build (RelWithDebInfo)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"

status=0
echo "== tests"
ctest --test-dir build --output-on-failure -j"$jobs" || status=1

if ((fast == 0)); then
  echo "== build (ASan + UBSan)"
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DGW_SANITIZE=ON -DGW_BUILD_BENCH=OFF >/dev/null
  cmake --build build-asan -j"$jobs"
  echo "== tests under ASan + UBSan"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -j"$jobs" -L unit || status=1

  # docs/testing.md "Sanitizers inside a real Orthanc": the plugin of `build` inside Orthanc under
  # valgrind memcheck, on the hostile-input tests (ASan cannot run inside Debian's Orthanc).
  echo "== integration subset with Orthanc under valgrind memcheck"
  GW_ORTHANC_WRAPPER="valgrind --tool=memcheck --num-callers=40 --suppressions=$GW_ROOT/tests/integration/harness/valgrind.supp" \
    GW_ORTHANC_SLOWDOWN=10 \
    ctest --test-dir build --output-on-failure -j"$jobs" -R "$GW_VALGRIND_TESTS" || status=1

  # docs/testing.md "Fuzzing": every corpus replayed, then GW_FUZZ_SECONDS of fuzzing per target.
  echo "== build (libFuzzer targets, clang, ASan + UBSan)"
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -DGW_FUZZ=ON -DGW_BUILD_TESTS=OFF -DGW_BUILD_BENCH=OFF >/dev/null
  cmake --build build-fuzz -j"$jobs" --target fuzz
  echo "== fuzzing"
  ctest --test-dir build-fuzz --output-on-failure -j"$jobs" -L fuzz || status=1
fi
exit $status
