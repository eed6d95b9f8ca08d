#pragma once
// Shared by the fuzz targets: an invariant that does not hold is a finding, reported like a crash
// (libFuzzer saves the input), so a target checks properties and not only "no crash".
#include <cstdio>
#include <cstdlib>

#define GW_FUZZ_CHECK(cond, what)                                                            \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      std::fprintf(stderr, "fuzz invariant failed at %s:%d: %s\n", __FILE__, __LINE__, what); \
      std::abort();                                                                          \
    }                                                                                        \
  } while (0)
