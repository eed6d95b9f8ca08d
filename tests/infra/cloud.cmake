# Cloud templates (label "infra"): static checks of infra/azure (Bicep) and infra/terraform (HCL),
# issue 15. No Bicep compiler and no Terraform provider registry are reachable here: the sources are
# parsed (npm tree-sitter + tree-sitter-bicep, @cdktf/hcl2json; `npm ci` in tests/infra/cloud-checks,
# which scripts/test.sh runs) and what they promise is asserted over the syntax trees. No root, no
# network. Run them with: ctest --test-dir build -R cloud
#
#   infra/cloud-static        check_cloud.js: parse every file, then types/versions, identities, roles,
#                             private endpoints, public access, probes and env against the gateway,
#                             no literal secret; infra/terraform/k8s rendered with kubectl (>= 1.24:
#                             kustomize replacements) and checked
#   infra/cloud-checker       check_cloud.js --self-test: each planted defect is reported
#   infra/cloud-terraform-fmt terraform fmt -check (skipped, exit 77, where /usr/local/bin/terraform
#                             or another terraform is not installed: it is not a Debian package)
find_program(GW_NODE node)
if(NOT GW_NODE)
  set(GW_NODE /bin/sh -c "echo 'node not found: apt-get install nodejs (scripts/lib/deps.sh)' >&2; exit 1" node)
endif()
add_test(NAME infra/cloud-static
         COMMAND ${GW_NODE} ${CMAKE_CURRENT_SOURCE_DIR}/infra/check_cloud.js ${PROJECT_SOURCE_DIR})
add_test(NAME infra/cloud-checker
         COMMAND ${GW_NODE} ${CMAKE_CURRENT_SOURCE_DIR}/infra/check_cloud.js --self-test ${PROJECT_SOURCE_DIR})
find_program(GW_TERRAFORM terraform PATHS /usr/local/bin)
if(GW_TERRAFORM)
  add_test(NAME infra/cloud-terraform-fmt
           COMMAND ${GW_TERRAFORM} fmt -check -diff -recursive ${PROJECT_SOURCE_DIR}/infra/terraform)
else()
  add_test(NAME infra/cloud-terraform-fmt
           COMMAND /bin/sh -c "echo 'terraform not installed: terraform fmt -check skipped'; exit 77")
  set_tests_properties(infra/cloud-terraform-fmt PROPERTIES SKIP_RETURN_CODE 77)
endif()
set_tests_properties(infra/cloud-static infra/cloud-checker infra/cloud-terraform-fmt
                     PROPERTIES LABELS infra TIMEOUT 120)

#   infra/cloud-redis-tls     the Redis TLS relay of the cloud deployments (infra/azure/redis-tls),
#                             for real: its entrypoint with Debian's stunnel4 in front of a TLS-only
#                             redis-server, in the test's network namespace; it carries Redis with
#                             AUTH, refuses a certificate for another host or from an untrusted CA
if(GW_UNSHARE AND EXISTS /usr/bin/python3)
  execute_process(COMMAND id -u OUTPUT_VARIABLE gw_cloud_uid OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(gw_cloud_uid STREQUAL "0")
    set(gw_cloud_unshare -n)
  else()
    set(gw_cloud_unshare -r -n)
  endif()
  add_test(NAME infra/cloud-redis-tls
           COMMAND ${GW_UNSHARE} ${gw_cloud_unshare} -- /usr/bin/python3 -B
                   ${CMAKE_CURRENT_SOURCE_DIR}/integration/netns_run.py
                   ${CMAKE_CURRENT_SOURCE_DIR}/infra/test_redis_tls_relay.py
           WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(infra/cloud-redis-tls PROPERTIES LABELS infra TIMEOUT 120
                       ENVIRONMENT "GW_SOURCE_DIR=${PROJECT_SOURCE_DIR};PYTHONDONTWRITEBYTECODE=1")
endif()
