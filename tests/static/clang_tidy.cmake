# static/clang-tidy: clang-tidy with the checks of .clang-tidy (bugs, the clang static analyzer,
# thread safety, performance) over every source file of core/src, plugin and tools, from this
# build's compile_commands.json. Any finding fails the test (WarningsAsErrors); a finding that is
# a false positive is silenced on its line with NOLINT(check) and a comment saying why.
find_program(GW_RUN_CLANG_TIDY NAMES run-clang-tidy run-clang-tidy-14)
find_program(GW_CLANG_TIDY NAMES clang-tidy clang-tidy-14)
if(NOT GW_RUN_CLANG_TIDY OR NOT GW_CLANG_TIDY)
  message(STATUS "static/clang-tidy not registered: install clang-tidy (scripts/lib/deps.sh does)")
else()
  # One process, started first (COST): it runs beside the other tests in ctest -j for about 13
  # minutes of one core; started last, it would add that much to the run.
  add_test(NAME static/clang-tidy
           COMMAND ${GW_RUN_CLANG_TIDY} -quiet -j 1 -clang-tidy-binary ${GW_CLANG_TIDY}
                   -p ${CMAKE_BINARY_DIR} "^${PROJECT_SOURCE_DIR}/(core/src|plugin|tools)/.*\\.cpp$"
           WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(static/clang-tidy PROPERTIES LABELS static TIMEOUT 1800 COST 10000)
endif()
