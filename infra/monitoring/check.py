#!/usr/bin/python3
"""Static checks of the monitoring artefacts, run by ctest (infra/monitoring-artefacts):

- dashboard.json is a well-formed Grafana dashboard: a Prometheus datasource variable that every
  panel and query uses, unique panel ids, panels inside the 24-column grid, a PromQL expression in
  every query;
- every metric name the dashboard and alerts.yml use is a family the gateway registers (read from
  its C++ sources and headers: GetCounter/GetGauge/GetHistogram calls; `_bucket`, `_sum`, `_count` for
  histograms) or one of Orthanc 1.10.1's own metrics;
- every alert carries a severity label, a summary, a description and a `for:`.

`--typecheck` type-checks dashboard.json against Grafana's own dashboard schema types (npm
@grafana/schema, `Dashboard`) with `tsc --strict`: unknown keys, wrong types and enum values
outside the schema fail. It needs `npm ci` in grafana-types/ (scripts/test.sh does it).

tests/integration/test_metrics_populated.py proves on a real Orthanc that these series are exported
and move. `--self-test` proves that this checker refuses an unknown metric name and a panel without
the datasource variable.

Usage: check.py [--self-test | --typecheck] [SOURCE_DIR]
"""
import copy
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Orthanc 1.10.1's built-in metrics the dashboard may use (seen in its /tools/metrics-prometheus).
ORTHANC_METRICS = {
    "orthanc_rest_api_duration_ms", "orthanc_rest_api_active_requests",
    "orthanc_jobs_pending", "orthanc_jobs_running", "orthanc_jobs_success", "orthanc_jobs_failed",
    "orthanc_jobs_completed", "orthanc_count_instances", "orthanc_count_patients", "orthanc_count_series",
    "orthanc_count_studies", "orthanc_disk_size_mb", "orthanc_uncompressed_size_mb",
    "orthanc_store_dicom_duration_ms",
}
REGISTRATION = re.compile(r'Get(Counter|Gauge|Histogram)\(\s*"(dicomweb_oauth_[a-z0-9_]+)"')
# A family name held in a named constant (`static constexpr const char* kFamily = "dicomweb_oauth_..."`)
# and registered through it (`GetCounter(DecisionCounters::kFamily, ...)`).
NAME_CONSTANT = re.compile(r'\b(k[A-Za-z0-9_]*)\s*=\s*"(dicomweb_oauth_[a-z0-9_]+)"')
REGISTRATION_BY_CONSTANT = re.compile(r'Get(Counter|Gauge|Histogram)\(\s*(?:[A-Za-z_][A-Za-z0-9_]*::)*(k[A-Za-z0-9_]*)\s*,')
METRIC_NAME = re.compile(r"\b((?:dicomweb_oauth|orthanc)_[a-z0-9_]+)\b")
# Label names of a selector / by-clause are not metric names: they never start with these prefixes.


def exported_families(source_dir):
    """{family: type} from the gateway's sources (core/ and plugin/)."""
    families = {}
    texts = [path.read_text(encoding="utf-8", errors="replace")
             for sub in ("core", "plugin")
             for path in sorted(p for ext in ("*.cpp", "*.h") for p in (source_dir / sub).rglob(ext))]
    constants = {}
    for text in texts:
        for constant, name in NAME_CONSTANT.findall(text):
            constants.setdefault(constant, set()).add(name)
    for text in texts:
        for kind, name in REGISTRATION.findall(text):
            families[name] = kind.lower()
        for kind, constant in REGISTRATION_BY_CONSTANT.findall(text):
            # A constant name defined with two different families cannot tell which one is meant.
            if len(constants.get(constant, ())) == 1:
                families[next(iter(constants[constant]))] = kind.lower()
    return families


def known_series(families):
    names = set(ORTHANC_METRICS)
    for name, kind in families.items():
        names.add(name)
        if kind == "histogram":
            names.update({name + "_bucket", name + "_sum", name + "_count"})
    return names


def dashboard_exprs(dash):
    for panel in iter_panels(dash):
        for target in panel.get("targets", []):
            yield panel.get("title", "?"), target.get("expr", "")
    for var in dash.get("templating", {}).get("list", []):
        if var.get("type") == "query":
            q = var.get("query")
            yield "variable " + var.get("name", "?"), q.get("query", "") if isinstance(q, dict) else (q or "")


def iter_panels(dash):
    for panel in dash.get("panels", []):
        yield panel
        yield from panel.get("panels", [])  # collapsed rows hold their panels


def check_dashboard(dash, known):
    errors = []
    if not isinstance(dash.get("schemaVersion"), int) or dash["schemaVersion"] < 36:
        errors.append("schemaVersion missing or older than 36 (Grafana 9)")
    for key in ("uid", "title"):
        if not dash.get(key):
            errors.append(f"dashboard has no {key}")
    variables = dash.get("templating", {}).get("list", [])
    ds_vars = [v["name"] for v in variables if v.get("type") == "datasource" and v.get("query") == "prometheus"]
    if len(ds_vars) != 1:
        errors.append(f"expected one Prometheus datasource variable, found {ds_vars}")
        return errors
    ds_ref = "${" + ds_vars[0] + "}"

    def uses_variable(ds):
        return isinstance(ds, dict) and ds.get("type") == "prometheus" and ds.get("uid") == ds_ref

    for var in variables:
        if var.get("type") == "query" and not uses_variable(var.get("datasource")):
            errors.append(f"variable {var.get('name')} does not query the datasource variable {ds_ref}")
    ids = set()
    queries = 0
    for panel in iter_panels(dash):
        title = panel.get("title", "?")
        if panel.get("id") in ids:
            errors.append(f"panel {title!r}: duplicate id {panel.get('id')}")
        ids.add(panel.get("id"))
        grid = panel.get("gridPos", {})
        if not all(isinstance(grid.get(k), int) for k in ("x", "y", "w", "h")) or grid["x"] + grid["w"] > 24:
            errors.append(f"panel {title!r}: gridPos {grid} outside the 24-column grid")
        if panel.get("type") == "row":
            continue
        if not uses_variable(panel.get("datasource")):
            errors.append(f"panel {title!r} does not use the datasource variable {ds_ref}")
        targets = panel.get("targets", [])
        if not targets:
            errors.append(f"panel {title!r} has no query")
        refs = [t.get("refId") for t in targets]
        if len(set(refs)) != len(refs) or None in refs:
            errors.append(f"panel {title!r}: refIds missing or repeated {refs}")
        for t in targets:
            queries += 1
            if not uses_variable(t.get("datasource")):
                errors.append(f"panel {title!r} query {t.get('refId')}: not on the datasource variable")
            if not t.get("expr", "").strip():
                errors.append(f"panel {title!r} query {t.get('refId')}: empty expression")
    if queries == 0:
        errors.append("dashboard has no query at all")
    for where, expr in dashboard_exprs(dash):
        for name in METRIC_NAME.findall(expr):
            if name not in known:
                errors.append(f"dashboard {where!r}: metric {name} is not exported by the gateway or Orthanc")
    return errors


def parse_alerts(text):
    """The alerts of a rules file: [{name, expr, for, labels, annotations}]. A small reader for the
    block style alerts.yml is written in (promtool validates the YAML itself)."""
    alerts = []
    current = None
    block = None
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        m = re.match(r"- alert:\s*(\S+)", stripped)
        if m:
            current = {"name": m.group(1), "indent": indent, "expr": "", "for": None, "labels": {},
                       "annotations": {}}
            alerts.append(current)
            block = None
            continue
        if current is None:
            continue
        if indent <= current["indent"]:
            current = None
            continue
        key, _, value = stripped.partition(":")
        if indent == current["indent"] + 2:
            block = key
            if key == "for":
                current["for"] = value.strip()
            elif key == "expr":
                current["expr"] = value.strip().lstrip("|")
            continue
        if block == "expr":
            current["expr"] += " " + stripped
        elif block in ("labels", "annotations") and indent == current["indent"] + 4:
            current[block][key] = value.strip()
            sub = key
        elif block == "annotations":
            current["annotations"][sub] += " " + stripped
    return alerts


def check_alerts(text, known):
    errors = []
    alerts = parse_alerts(text)
    if not alerts:
        errors.append("alerts.yml holds no alert")
    for a in alerts:
        if not re.match(r"^\d+[smh]$", a["for"] or ""):
            errors.append(f"alert {a['name']}: no `for:` duration (it would page on one bad scrape)")
        if a["labels"].get("severity") not in ("critical", "warning", "info"):
            errors.append(f"alert {a['name']}: severity label missing or not critical/warning/info")
        for key in ("summary", "description"):
            if len(a["annotations"].get(key, "")) < 10:
                errors.append(f"alert {a['name']}: annotation {key} missing")
        names = METRIC_NAME.findall(a["expr"])
        if not names:
            errors.append(f"alert {a['name']}: expression reads no gateway metric")
        for name in names:
            if name not in known:
                errors.append(f"alert {a['name']}: metric {name} is not exported by the gateway")
    return errors, alerts


def run(source_dir):
    known = known_series(exported_families(source_dir))
    if len(known) < 20:
        return [f"found only {len(known)} exported series in {source_dir}: wrong source directory?"]
    try:
        dash = json.loads((HERE / "dashboard.json").read_text(encoding="utf-8"))
    except ValueError as e:
        return [f"dashboard.json is not valid JSON: {e}"]
    errors = check_dashboard(dash, known)
    alert_errors, _ = check_alerts((HERE / "alerts.yml").read_text(encoding="utf-8"), known)
    return errors + alert_errors


def self_test(source_dir):
    """The checker must refuse what it is meant to refuse."""
    known = known_series(exported_families(source_dir))
    dash = json.loads((HERE / "dashboard.json").read_text(encoding="utf-8"))
    failures = []
    if check_dashboard(dash, known):
        failures.append("the shipped dashboard does not pass")
    bad = copy.deepcopy(dash)
    next(p for p in iter_panels(bad) if p.get("targets"))["targets"][0]["expr"] = \
        "rate(dicomweb_oauth_no_such_family_total[5m])"
    if not any("dicomweb_oauth_no_such_family_total" in e for e in check_dashboard(bad, known)):
        failures.append("an unknown metric in the dashboard was not refused")
    bad = copy.deepcopy(dash)
    next(p for p in iter_panels(bad) if p.get("type") != "row")["datasource"] = {"type": "prometheus", "uid": "abc"}
    if not any("datasource variable" in e for e in check_dashboard(bad, known)):
        failures.append("a panel bound to a fixed datasource was not refused")
    text = (HERE / "alerts.yml").read_text(encoding="utf-8")
    errors, alerts = check_alerts(text, known)
    if errors or len(alerts) < 9:
        failures.append(f"the shipped alerts do not pass or were not all read: {errors}, {len(alerts)} alerts")
    if not any("dicomweb_oauth_nope" in e for e in
               check_alerts(text.replace("dicomweb_oauth_shared_cache_up", "dicomweb_oauth_nope"), known)[0]):
        failures.append("an unknown metric in an alert was not refused")
    if not any("`for:`" in e for e in check_alerts(re.sub(r"\n\s+for: \d+m", "", text, count=1), known)[0]):
        failures.append("an alert without `for:` was not refused")
    return failures


# JSON holds an enum's value, not the enum: the dashboard is compared with the schema's values.
TYPECHECK_TS = """import type { Dashboard } from "@grafana/schema";

type JsonOf<T> = T extends string ? `${T}` : T extends Array<infer U> ? Array<JsonOf<U>>
  : T extends object ? { [K in keyof T]: JsonOf<T[K]> } : T;

export const dashboard: JsonOf<Dashboard> = %s;
"""


def tsc(dashboard, modules):
    """(exit code, output) of tsc --strict on `dashboard` typed as Grafana's Dashboard."""
    with tempfile.TemporaryDirectory(prefix="gw-grafana-types-") as tmp:
        tmp = Path(tmp)
        (tmp / "node_modules").symlink_to(modules)
        (tmp / "dashboard.ts").write_text(TYPECHECK_TS % json.dumps(dashboard, indent=2), encoding="utf-8")
        run = subprocess.run([str(modules / ".bin" / "tsc"), "--noEmit", "--strict", "--skipLibCheck",
                              "--moduleResolution", "bundler", "--module", "esnext", "--target", "es2020",
                              "dashboard.ts"], cwd=tmp, capture_output=True, text=True, timeout=300)
        return run.returncode, run.stdout + run.stderr


def typecheck():
    """The shipped dashboard passes; one with an unknown key, a wrong type or a bad enum value does not."""
    modules = HERE / "grafana-types" / "node_modules"
    if not (modules / ".bin" / "tsc").exists() or not (modules / "@grafana" / "schema").is_dir():
        return [f"{modules} is missing: run `npm ci` in {modules.parent} (scripts/test.sh does)"]
    dash = json.loads((HERE / "dashboard.json").read_text(encoding="utf-8"))
    failures = []
    code, output = tsc(dash, modules)
    if code != 0:
        failures.append("dashboard.json does not match Grafana's Dashboard type:\n" + output[:4000])
    panel = next(p for p in iter_panels(dash) if p.get("type") != "row")
    for what, mutate in (("an unknown key", lambda d: d.update(refreshEvery="30s")),
                         ("a gridPos of the wrong type", lambda d: panel["gridPos"].update(w="24")),
                         ("a bad thresholds mode", lambda d: panel["fieldConfig"]["defaults"].update(
                             thresholds={"mode": "relative", "steps": []}))):
        bad = copy.deepcopy(dash)
        panel = next(p for p in iter_panels(bad) if p.get("type") != "row")
        mutate(bad)
        if tsc(bad, modules)[0] == 0:
            failures.append(f"the type check accepted a dashboard with {what}")
    return failures


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    source_dir = Path(args[0]) if args else HERE.parent.parent
    if "--typecheck" in argv:
        problems = typecheck()
    else:
        problems = self_test(source_dir) if "--self-test" in argv else run(source_dir)
    for p in problems:
        print("FAIL:", p)
    if problems:
        return 1
    if "--typecheck" in argv:
        print("OK: dashboard.json matches Grafana's Dashboard type (@grafana/schema); altered copies do not")
    elif "--self-test" in argv:
        print("OK: the checker refuses unknown metrics, fixed datasources and alerts without `for:`")
    else:
        families = exported_families(source_dir)
        print(f"OK: dashboard.json and alerts.yml use only exported series ({len(families)} gateway families known)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
