#!/usr/bin/env bash
# ctest driver of one libFuzzer target (fuzz/CMakeLists.txt).
#   run_fuzzer.sh replay <binary> <corpus dir>
#       runs every corpus file once: fails on any crash, leak, sanitizer report or timeout.
#   run_fuzzer.sh run <binary> <corpus dir> <work dir> <seconds>
#       fuzzes for <seconds> starting from the corpus; new inputs go to <work dir>/new (never into
#       the source tree), a crashing input to <work dir>/crash-*, which the log names: copy it into
#       the corpus with the fix (docs/testing.md).
set -euo pipefail
mode=$1 binary=$2 corpus=$3
# Hostile inputs must not take long: a single input over 10 s is a finding (libFuzzer -timeout).
common=(-timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 -print_final_stats=1)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:suppressions=$here/ubsan.supp}
case $mode in
  replay)
    shopt -s nullglob
    files=("$corpus"/*)
    ((${#files[@]})) || { echo "empty corpus: $corpus" >&2; exit 1; }
    exec "$binary" "${common[@]}" "${files[@]}"
    ;;
  run)
    work=$4 seconds=$5
    rm -rf "$work"
    mkdir -p "$work/new"
    exec "$binary" "${common[@]}" -max_total_time="$seconds" -artifact_prefix="$work/" "$work/new" "$corpus"
    ;;
  *)
    echo "usage: $0 replay|run <binary> <corpus> [<work dir> <seconds>]" >&2
    exit 2
    ;;
esac
