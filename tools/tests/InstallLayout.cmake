# `cmake --install` into a throwaway prefix, then the installed CLI checks a configuration against
# the installed scripts: the plugin, the CLI and the whole lua/ tree (libraries included) are where
# README.md says, and the installed scripts load (CTest driver).
#   -DBUILD_DIR=path  the build tree    -DCONFIG=path  a valid configuration    -DWORK=path  scratch folder
file(REMOVE_RECURSE "${WORK}")
execute_process(COMMAND ${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${WORK}"
                RESULT_VARIABLE code OUTPUT_QUIET ERROR_VARIABLE err)
if(NOT code EQUAL 0)
  message(FATAL_ERROR "cmake --install failed (${code}): ${err}")
endif()
foreach(f lib/libOrthancOAuthGateway.so bin/dicomweb-oauth share/dicomweb-oauth/lua/lib/oauth.lua
          share/dicomweb-oauth/lua/providers/client_credentials.lua
          share/dicomweb-oauth/lua/policies/routing/default_routing.lua
          share/dicomweb-oauth/lua/policies/audit/phi_redaction.lua)
  if(NOT EXISTS "${WORK}/${f}")
    message(FATAL_ERROR "not installed: ${f}")
  endif()
endforeach()
execute_process(COMMAND "${WORK}/bin/dicomweb-oauth" check-config "${CONFIG}" --scripts-dir "${WORK}/share/dicomweb-oauth/lua"
                RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(NOT code EQUAL 0)
  message(FATAL_ERROR "the installed CLI refused the configuration with the installed scripts (exit ${code})")
endif()
file(REMOVE_RECURSE "${WORK}")
