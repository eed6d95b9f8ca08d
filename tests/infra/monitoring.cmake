# Monitoring artefacts (label "infra"): infra/monitoring/alerts.yml checked and unit-tested with
# promtool (Debian's `prometheus` package, installed by scripts/lib/deps.sh), and the Grafana
# dashboard checked against the metric families the gateway registers. No root, no network:
# unlike tests/infra/tests.cmake these run everywhere. Run them with: ctest --test-dir build -R monitoring
#
#   infra/monitoring-rules-check      promtool check rules alerts.yml
#   infra/monitoring-rules-test       promtool test rules alerts_test.yml (each alert fires and stays quiet)
#   infra/monitoring-artefacts        check.py: dashboard well-formed, every metric name exported
#   infra/monitoring-checker          check.py --self-test: the checker refuses what it must
#   infra/monitoring-grafana-types    check.py --typecheck: dashboard.json against Grafana's Dashboard
#                                     type (npm @grafana/schema + tsc --strict; `npm ci` in
#                                     infra/monitoring/grafana-types, which scripts/test.sh runs)
set(gw_monitoring_dir ${PROJECT_SOURCE_DIR}/infra/monitoring)
find_program(GW_PROMTOOL promtool)
if(GW_PROMTOOL)
  set(gw_promtool ${GW_PROMTOOL})
else()
  # Fail, never skip: CI must not go green without having run the rule tests.
  message(STATUS "promtool not found: the monitoring rule tests will fail until Debian's prometheus is installed")
  set(gw_promtool /bin/sh -c "echo 'promtool not found: apt-get install prometheus (scripts/lib/deps.sh)' >&2; exit 1" promtool)
endif()

add_test(NAME infra/monitoring-rules-check COMMAND ${gw_promtool} check rules alerts.yml
         WORKING_DIRECTORY ${gw_monitoring_dir})
add_test(NAME infra/monitoring-rules-test COMMAND ${gw_promtool} test rules alerts_test.yml
         WORKING_DIRECTORY ${gw_monitoring_dir})
add_test(NAME infra/monitoring-artefacts
         COMMAND /usr/bin/python3 -B ${gw_monitoring_dir}/check.py ${PROJECT_SOURCE_DIR})
add_test(NAME infra/monitoring-checker
         COMMAND /usr/bin/python3 -B ${gw_monitoring_dir}/check.py --self-test ${PROJECT_SOURCE_DIR})
add_test(NAME infra/monitoring-grafana-types
         COMMAND /usr/bin/python3 -B ${gw_monitoring_dir}/check.py --typecheck ${PROJECT_SOURCE_DIR})
set_tests_properties(infra/monitoring-rules-check infra/monitoring-rules-test infra/monitoring-artefacts
                     infra/monitoring-checker infra/monitoring-grafana-types PROPERTIES LABELS infra TIMEOUT 300)
