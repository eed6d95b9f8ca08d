# Infrastructure proofs (label "infra"): the Debian package, the container image. They need root,
# the host network for apt and debootstrap (the Debian mirror), and put every server they start in a
# private network namespace. Run them alone with: ctest --test-dir build -L infra
#
#   infra/package-build      scripts/package.sh, and a rebuild with the next revision (upgrade test)
#   infra/package-lintian    lintian: no error
#   infra/package-debian12   the .deb in a clean Debian 12 root next to Debian's orthanc (see the script)
execute_process(COMMAND id -u OUTPUT_VARIABLE gw_infra_uid OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT gw_infra_uid STREQUAL "0" OR NOT GW_UNSHARE)
  message(STATUS "Infra tests not registered: they need root (chroot, mount, podman) and unshare")
  return()
endif()
set(gw_infra_out ${CMAKE_BINARY_DIR}/infra)
set(GW_INFRA_CACHE /var/cache/dicomweb-oauth-gateway CACHE PATH
    "Cache of the infra tests: debootstrap root, apt downloads, containers.conf")
set(gw_infra_env
    "GW_SOURCE_DIR=${PROJECT_SOURCE_DIR}"
    "GW_NODE_MODULES=${GW_NODE_MODULES}"
    "GW_TEST_TMPDIR=${GW_INTEGRATION_TMPDIR}"
    "GW_INFRA_CACHE=${GW_INFRA_CACHE}"
    "PYTHONDONTWRITEBYTECODE=1")

add_test(NAME infra/package-build
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/infra/build_packages.sh ${gw_infra_out}
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(infra/package-build PROPERTIES LABELS infra TIMEOUT 1800 FIXTURES_SETUP gw_deb
                     RESOURCE_LOCK gw_infra_build)

add_test(NAME infra/package-lintian
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/infra/check_lintian.sh ${gw_infra_out}/deb)
set_tests_properties(infra/package-lintian PROPERTIES LABELS infra TIMEOUT 300 FIXTURES_REQUIRED gw_deb)

add_test(NAME infra/package-debian12
         COMMAND /usr/bin/python3 -B ${CMAKE_CURRENT_SOURCE_DIR}/infra/test_package_debian12.py
                 ${gw_infra_out}/deb ${gw_infra_out}/deb-upgrade
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(infra/package-debian12 PROPERTIES LABELS infra TIMEOUT 1800 FIXTURES_REQUIRED gw_deb
                     ENVIRONMENT "${gw_infra_env}")

#   infra/image-build        scripts/image.sh (base image from the debootstrap root, podman build)
#   infra/image-run          the image in the test's network namespace: managed identity end to end
add_test(NAME infra/image-build COMMAND ${PROJECT_SOURCE_DIR}/scripts/image.sh WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(infra/image-build PROPERTIES LABELS infra TIMEOUT 2400 FIXTURES_SETUP gw_image
                     RESOURCE_LOCK gw_infra_build ENVIRONMENT "${gw_infra_env}")

add_test(NAME infra/image-run
         COMMAND ${GW_UNSHARE} -n -- /usr/bin/python3 -B ${CMAKE_CURRENT_SOURCE_DIR}/integration/netns_run.py
                 ${CMAKE_CURRENT_SOURCE_DIR}/infra/test_image.py
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(infra/image-run PROPERTIES LABELS infra TIMEOUT 600 FIXTURES_REQUIRED gw_image
                     ENVIRONMENT "${gw_infra_env};CONTAINERS_CONF=${GW_INFRA_CACHE}/containers.conf")

#   infra/k8s-offline        infra/k8s: every overlay renders with kubectl 1.32 and Debian's 1.20 alike,
#                            type-checks against kubernetes-types (tsc --strict), passes yamllint, and
#                            keeps what it promises (replicas, probes, security, policies, identity)
add_test(NAME infra/k8s-offline
         COMMAND /usr/bin/python3 -B ${CMAKE_CURRENT_SOURCE_DIR}/infra/test_k8s_offline.py
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(infra/k8s-offline PROPERTIES LABELS infra TIMEOUT 600 ENVIRONMENT "${gw_infra_env}")

#   infra/k8s-images         the local overlay's Redis and PostgreSQL images (no registry here)
#   infra/k8s-play           podman kube play of the local overlay in the test's network namespace:
#                            2 replicas, one IdP call for the fleet, one shared index and storage
add_test(NAME infra/k8s-images COMMAND ${PROJECT_SOURCE_DIR}/infra/k8s/overlays/local/images/build.sh
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(infra/k8s-images PROPERTIES LABELS infra TIMEOUT 1200 FIXTURES_SETUP gw_k8s_images
                     FIXTURES_REQUIRED gw_image RESOURCE_LOCK gw_infra_build ENVIRONMENT "${gw_infra_env}")

add_test(NAME infra/k8s-play
         COMMAND ${GW_UNSHARE} -n -- /usr/bin/python3 -B ${CMAKE_CURRENT_SOURCE_DIR}/integration/netns_run.py
                 ${CMAKE_CURRENT_SOURCE_DIR}/infra/test_k8s_play.py
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(infra/k8s-play PROPERTIES LABELS infra TIMEOUT 900
                     FIXTURES_REQUIRED "gw_image;gw_k8s_images" RESOURCE_LOCK gw_k8s_play
                     ENVIRONMENT "${gw_infra_env};CONTAINERS_CONF=${GW_INFRA_CACHE}/containers.conf")
