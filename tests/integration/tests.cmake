# Integration tests: every tests/integration/test_*.py becomes the ctest test integration/<name>
# (label "integration"), run as
#   unshare -n -- /usr/bin/python3 -B tests/integration/netns_run.py tests/integration/<name>.py
# i.e. in a private network namespace (only `lo`, brought up by the wrapper), with the paths of the
# built artefacts in the environment. Building is not required for tests that use neither the
# plugin nor the CLI: the paths are passed even when the files do not exist yet, and the harness
# reports a clear error only to a test that needs them.
#
# A script may declare, in a comment line of its own:
#   # gw-test-timeout: <seconds>      (default GW_INTEGRATION_TIMEOUT)
#   # gw-test-labels: <l1>;<l2>       (added to "integration", e.g. slow)

set(GW_INTEGRATION_TIMEOUT 300 CACHE STRING "Default timeout (s) of one integration test script")
set(GW_NODE_MODULES "${PROJECT_SOURCE_DIR}/tests/fixtures/idp/node_modules" CACHE PATH
    "node_modules of the IdP fixture (npm ci in tests/fixtures/idp)")
set(GW_INTEGRATION_TMPDIR "${CMAKE_BINARY_DIR}/integration-tmp" CACHE PATH
    "Where integration tests create their workspaces (kept there when a test fails)")

set(gw_python /usr/bin/python3)
find_program(GW_UNSHARE unshare)

if(NOT GW_UNSHARE OR NOT EXISTS ${gw_python})
  message(STATUS "Integration tests not registered: need /usr/bin/python3 and unshare (util-linux)")
else()
  # root gets a plain network namespace; anyone else maps itself to root in a user namespace first.
  execute_process(COMMAND id -u OUTPUT_VARIABLE gw_uid OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(gw_uid STREQUAL "0")
    set(gw_unshare_args -n)
  else()
    set(gw_unshare_args -r -n)
  endif()

  set(gw_integration_env
      "GW_SOURCE_DIR=${PROJECT_SOURCE_DIR}"
      "GW_NODE_MODULES=${GW_NODE_MODULES}"
      "GW_TEST_TMPDIR=${GW_INTEGRATION_TMPDIR}"
      "PYTHONDONTWRITEBYTECODE=1")
  if(TARGET OrthancOAuthGateway)
    list(APPEND gw_integration_env "GW_PLUGIN=$<TARGET_FILE:OrthancOAuthGateway>")
  endif()
  if(TARGET dicomweb-oauth)
    list(APPEND gw_integration_env "GW_CLI=$<TARGET_FILE:dicomweb-oauth>")
  endif()

  file(GLOB gw_integration_scripts CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_*.py)
  foreach(script ${gw_integration_scripts})
    get_filename_component(name ${script} NAME_WE)
    set(timeout ${GW_INTEGRATION_TIMEOUT})
    set(labels integration)
    file(STRINGS ${script} declared REGEX "^# gw-test-(timeout|labels): ")
    foreach(line ${declared})
      if(line MATCHES "^# gw-test-timeout: *([0-9]+)")
        set(timeout ${CMAKE_MATCH_1})
      elseif(line MATCHES "^# gw-test-labels: *(.+)$")
        string(REPLACE "," ";" extra "${CMAKE_MATCH_1}")
        list(APPEND labels ${extra})
      endif()
    endforeach()
    add_test(NAME integration/${name}
             COMMAND ${GW_UNSHARE} ${gw_unshare_args} -- ${gw_python} -B
                     ${CMAKE_CURRENT_SOURCE_DIR}/integration/netns_run.py ${script}
             WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
    set_tests_properties(integration/${name} PROPERTIES
                         LABELS "${labels}" TIMEOUT ${timeout}
                         ENVIRONMENT "${gw_integration_env}")
  endforeach()
endif()
