# static/clang-tidy/N: clang-tidy with the checks of .clang-tidy (bugs, the clang static analyzer,
# thread safety, performance) over every source file of core/src, plugin and tools, from this
# build's compile_commands.json. Any finding fails the test (WarningsAsErrors); a finding that is
# a false positive is silenced on its line with NOLINT(check) and a comment saying why.
find_program(GW_RUN_CLANG_TIDY NAMES run-clang-tidy run-clang-tidy-14)
find_program(GW_CLANG_TIDY NAMES clang-tidy clang-tidy-14)
if(NOT GW_RUN_CLANG_TIDY OR NOT GW_CLANG_TIDY)
  message(STATUS "static/clang-tidy not registered: install clang-tidy (scripts/lib/deps.sh does)")
else()
  # About 13 minutes of one core in all, cut into shards of every third file that ctest -j starts
  # first (COST): one long test started first kept one core busy long after the other tests were
  # done, and started last it would add its whole time to the run.
  set(shards 3)
  file(GLOB_RECURSE sources CONFIGURE_DEPENDS RELATIVE ${PROJECT_SOURCE_DIR}
       ${PROJECT_SOURCE_DIR}/core/src/*.cpp ${PROJECT_SOURCE_DIR}/plugin/*.cpp ${PROJECT_SOURCE_DIR}/tools/*.cpp)
  list(SORT sources)
  # run-clang-tidy joins its file arguments into one regular expression searched in each absolute
  # path of compile_commands.json: each file becomes "/<path>$", with '.' and '+' escaped.
  set(index 0)
  foreach(source ${sources})
    math(EXPR shard "${index} % ${shards} + 1")
    string(REGEX REPLACE "([.+])" "\\\\\\1" escaped "${source}")
    list(APPEND patterns_${shard} "/${escaped}$")
    math(EXPR index "${index} + 1")
  endforeach()
  foreach(shard RANGE 1 ${shards})
    add_test(NAME static/clang-tidy/${shard}
             COMMAND ${GW_RUN_CLANG_TIDY} -quiet -j 1 -clang-tidy-binary ${GW_CLANG_TIDY}
                     -p ${CMAKE_BINARY_DIR} ${patterns_${shard}}
             WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
    set_tests_properties(static/clang-tidy/${shard} PROPERTIES LABELS static TIMEOUT 1800 COST 10000)
  endforeach()
endif()
