# Included by the top-level CMakeLists.txt before core/ when GW_FUZZ is on: the whole engine is built
# with libFuzzer's coverage instrumentation and ASan + UBSan, so a fuzz target finds bugs inside the
# code it calls and not only in its own lines. clang only (libFuzzer ships with it); the normal
# build stays on g++.
if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "GW_FUZZ needs clang (libFuzzer): configure a separate build directory with "
                      "CC=clang CXX=clang++ (Debian: packages clang and libclang-rt-14-dev)")
endif()
# Every UBSan check stops the run, except pointer-overflow, which reports and goes on so that
# fuzz/ubsan.supp can silence one known case in Debian's rapidjson 1.1.0 (internal/stack.h adds an
# offset to its null stack pointer before the first allocation); any other report still stops the
# run (UBSAN_OPTIONS=halt_on_error=1, set by run_fuzzer.sh).
# -O1 and line tables only, whatever the build type: a third less compile time than -O2 -g (CI
# builds this directory from scratch), and enough for libFuzzer's speed and symbolised reports.
add_compile_options(-O1 -gline-tables-only)
add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
                    -fsanitize-recover=pointer-overflow -fno-omit-frame-pointer)
add_link_options(-fsanitize=address,undefined)
