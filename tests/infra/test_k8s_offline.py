#!/usr/bin/python3
"""Offline checks of the Kubernetes manifests (infra/k8s): every overlay, no cluster needed.

    python3 tests/infra/test_k8s_offline.py          (ctest: infra/k8s-offline)

For the base and each overlay (local, aks, gke):
1. `kubectl kustomize` renders it, with the machine's kubectl and with Debian 12's
   `kubernetes-client` (kubectl 1.20, kustomize 2.0), and both give the same objects (up to the
   generators' name hashes, which the two kustomize versions compute differently);
2. every rendered object type-checks against the Kubernetes API types: one TypeScript constant per
   object, typed with npm `kubernetes-types`, `tsc --noEmit --strict` (object literals get excess
   property checks: a misspelt field is an error; shown by a planted misspelling that must fail);
3. `yamllint` passes on the sources and on the rendered manifests;
4. what the deployment promises holds in the rendered objects: 2+ replicas, probes on the health
   routes, non-root read-only containers, PDB, HPA, NetworkPolicy, the shared PostgreSQL and Redis
   in the configuration, and the overlays' workload identity settings.
Errors: K8S-001 a command failed, K8S-002 a check failed (the message says which).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SOURCE_DIR = Path(os.environ.get("GW_SOURCE_DIR") or Path(__file__).resolve().parents[2])
K8S = SOURCE_DIR / "infra" / "k8s"
TYPES_DIR = SOURCE_DIR / "tests" / "infra" / "k8s-types"
YAMLLINT_CONF = SOURCE_DIR / "tests" / "infra" / "k8s-yamllint.yaml"
CACHE = Path(os.environ.get("GW_INFRA_CACHE", "/var/cache/dicomweb-oauth-gateway"))
TARGETS = ["base", "overlays/local", "overlays/aks", "overlays/gke"]

# apiVersion -> module of kubernetes-types ("v1" is the core group).
def types_module(api_version):
    group, _, version = api_version.rpartition("/")
    group = group.split(".")[0] if group else "core"
    return f"kubernetes-types/{group}/{version}"


def run(argv, cwd=None, check=True, env=None):
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env=env, timeout=600)
    if check and proc.returncode != 0:
        raise RuntimeError(f"K8S-001: {' '.join(map(str, argv))} failed ({proc.returncode}):\n"
                           f"{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    return proc


def fail(message):
    raise AssertionError(f"K8S-002: {message}")


def apt_install(*packages):
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    argv = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=600", *packages]
    if run(argv, check=False, env=env).returncode != 0:
        run(["apt-get", "update", "-qq"], env=env)
        run(argv, env=env)


def installed(package):
    proc = run(["dpkg-query", "-W", "-f=${Status}", package], check=False)
    return "install ok installed" in proc.stdout


def kubectls():
    """The kubectl binaries to render with: the machine's, and Debian 12's kubernetes-client.
    Where another package owns /usr/bin/kubectl (e.g. Google's 1.32 here), Debian's is unpacked
    into the cache instead of installed, so that neither replaces the other."""
    found = []
    system = shutil.which("kubectl")
    if system:
        found.append(system)
    if installed("kubernetes-client"):
        return found or ["/usr/bin/kubectl"]
    if not system:
        apt_install("kubernetes-client")
        return ["/usr/bin/kubectl"]
    unpacked = CACHE / "kubernetes-client" / "usr" / "bin" / "kubectl"
    if not unpacked.exists():
        with tempfile.TemporaryDirectory() as tmp:
            # apt-get download runs as _apt when it can: give it a directory it may write.
            os.chmod(tmp, 0o777)
            proc = run(["apt-get", "download", "kubernetes-client"], cwd=tmp, check=False)
            if proc.returncode != 0:
                run(["apt-get", "update", "-qq"])
                run(["apt-get", "download", "kubernetes-client"], cwd=tmp)
            deb = next(Path(tmp).glob("kubernetes-client_*.deb"))
            (CACHE / "kubernetes-client").mkdir(parents=True, exist_ok=True)
            run(["dpkg-deb", "-x", str(deb), str(CACHE / "kubernetes-client")])
    found.append(str(unpacked))
    return found


def kubectl_version(kubectl):
    proc = run([kubectl, "version", "--client"], check=False)
    match = re.search(r'GitVersion:"(v[^"]+)"', proc.stdout) or re.search(r"Client Version: (v\S+)", proc.stdout)
    return match.group(1) if match else "unknown"


def load_yaml_stream(text):
    import yaml
    return [doc for doc in yaml.safe_load_all(text) if doc]


def normalised(objects):
    """Objects keyed by kind and name, the generators' hash suffixes and empty annotations removed."""
    hashed = {}
    for obj in objects:
        if obj["kind"] in ("ConfigMap", "Secret") and re.search(r"-[a-z0-9]{10}$", obj["metadata"]["name"]):
            hashed[obj["metadata"]["name"]] = obj["metadata"]["name"][:-11]
    text = json.dumps(objects, sort_keys=True)
    for name, base in hashed.items():
        text = text.replace(f'"{name}"', f'"{base}"')
    out = {}
    for obj in json.loads(text):
        for empty in ("annotations", "labels"):
            if obj["metadata"].get(empty) == {}:
                del obj["metadata"][empty]
        out[(obj["kind"], obj["metadata"]["name"])] = obj
    return out


def type_check(rendered, workdir):
    """One strict TypeScript file with every object as a typed literal; tsc must accept it."""
    lines, imports = [], {}
    for target, objects in rendered.items():
        for i, obj in enumerate(objects):
            module = types_module(obj["apiVersion"])
            if not (TYPES_DIR / "node_modules" / (module + ".d.ts")).exists():
                fail(f"{target}: no API types for {obj['apiVersion']} ({module})")
            alias = f"{re.sub(r'[^A-Za-z0-9]', '_', module.split('/', 1)[1])}"
            imports.setdefault(module, (alias, set()))[1].add(obj["kind"])
            name = re.sub(r"[^A-Za-z0-9]", "_", f"{target}_{i}_{obj['kind']}_{obj['metadata']['name']}")
            lines.append(f"export const {name}: {alias}.{obj['kind']} = {json.dumps(obj, indent=1)};")
    head = [f'import type * as {alias} from "{module}";' for module, (alias, _) in sorted(imports.items())]
    source = workdir / "manifests.ts"
    source.write_text("\n".join(head + lines) + "\n")
    tsc = TYPES_DIR / "node_modules" / "typescript" / "bin" / "tsc"
    # The file finds kubernetes-types the way node resolves modules: node_modules next to it.
    if not (workdir / "node_modules").exists():
        (workdir / "node_modules").symlink_to(TYPES_DIR / "node_modules")
    return run(["node", str(tsc), "--noEmit", "--strict", "--moduleResolution", "node", "--target", "es2020",
                str(source)], cwd=workdir, check=False)


def strip_json_comments(text):
    # Orthanc's configuration files allow /* */ and // comments (never inside our strings' URLs'
    # "//": the line comments below are only those preceded by whitespace at line start).
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"^\s*//.*$", "", text, flags=re.M)
    # Orthanc substitutes ${VAR:-default} before parsing: parse with the defaults.
    return re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", text)


def by_kind(objects, kind, name):
    for obj in objects:
        if obj["kind"] == kind and obj["metadata"]["name"] == name:
            return obj
    fail(f"no {kind} {name}")


def check_semantics(target, objects):
    deploy = by_kind(objects, "Deployment", "orthanc")
    spec = deploy["spec"]
    if spec["replicas"] < 2:
        fail(f"{target}: the gateway Deployment has {spec['replicas']} replica(s)")
    pod = spec["template"]["spec"]
    (container,) = [c for c in pod["containers"] if c["name"] == "orthanc"]
    security = container["securityContext"]
    if not (pod["securityContext"].get("runAsNonRoot") and pod["securityContext"].get("runAsUser", 0) > 0):
        fail(f"{target}: the gateway pod is not pinned to a non-root uid")
    if not security.get("readOnlyRootFilesystem") or security.get("allowPrivilegeEscalation") is not False:
        fail(f"{target}: the gateway container is not read-only / may escalate")
    for probe, route in (("livenessProbe", None), ("readinessProbe", "/dicomweb-oauth/health/ready"),
                         ("startupProbe", "/dicomweb-oauth/health/startup")):
        command = " ".join(container[probe]["exec"]["command"])
        if route and route not in command:
            fail(f"{target}: {probe} does not ask {route}: {command}")
    if container["livenessProbe"]["exec"]["command"] != ["/usr/local/bin/orthanc-healthcheck"]:
        fail(f"{target}: livenessProbe is not the image's check of /dicomweb-oauth/health/live")
    for res in ("requests", "limits"):
        if not {"cpu", "memory"} <= set(container["resources"].get(res, {})):
            fail(f"{target}: the gateway container has no cpu/memory {res}")
    secret_keys = {e["valueFrom"]["secretKeyRef"]["key"] for e in container["env"] if "valueFrom" in e}
    if not {"redis-key", "postgresql-password", "probe-password", "admin-password"} <= secret_keys:
        fail(f"{target}: secrets missing from the gateway's env: {secret_keys}")
    if any("value" in e and re.search(r"password|secret|key", e["name"], re.I) and e["name"] != "AZURE_FEDERATED_TOKEN_FILE"
           for e in container["env"]):
        fail(f"{target}: a secret-looking variable has a literal value")

    (config_volume,) = [v for v in pod["volumes"] if v["name"] == "config"]
    config = by_kind(objects, "ConfigMap", config_volume["configMap"]["name"])
    files = {name: json.loads(strip_json_comments(text)) for name, text in config["data"].items()}
    pg = files["postgresql.json"]["PostgreSQL"]
    if not (pg["EnableIndex"] is True and pg["EnableStorage"] is True and pg["Lock"] is False):
        fail(f"{target}: replicas do not share one PostgreSQL index and storage without lock: {pg}")
    gateway = files["dicomweb-oauth.json"]["DicomWebOAuth"]
    if gateway.get("CacheType") != "redis" or "RedisEncryptionKey" in gateway:
        fail(f"{target}: token cache is not the shared Redis keyed from the Secret")
    probe_user = gateway.get("Health", {}).get("ProbeUser")
    if probe_user not in files["orthanc.json"]["RegisteredUsers"]:
        fail(f"{target}: Health.ProbeUser {probe_user!r} is not an Orthanc user")

    for kind in ("PodDisruptionBudget", "HorizontalPodAutoscaler", "Service", "ServiceAccount"):
        by_kind(objects, kind, "orthanc")
    hpa = by_kind(objects, "HorizontalPodAutoscaler", "orthanc")["spec"]
    if hpa["minReplicas"] < 2 or hpa["scaleTargetRef"]["name"] != "orthanc":
        fail(f"{target}: the HPA does not keep 2+ gateway replicas")
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"
                and o["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name") == "orthanc"]
    if not policies or not all("Egress" in p["spec"]["policyTypes"] for p in policies):
        fail(f"{target}: no egress NetworkPolicy on the gateway")
    reachable = json.dumps([p["spec"]["egress"] for p in policies])
    for needle in ('"redis"', '"postgresql"', '"kube-dns"', '"ipBlock"'):
        if needle not in reachable:
            fail(f"{target}: the gateway's egress does not name {needle}")
    for name in ("redis", "postgresql"):
        policy = by_kind(objects, "NetworkPolicy", name)["spec"]
        if policy.get("egress") != [] or policy["ingress"][0]["from"][0]["podSelector"]["matchLabels"] != \
                {"app.kubernetes.io/name": "orthanc"}:
            fail(f"{target}: {name} is reachable from more than the gateway, or reaches out")
    for name in ("redis", "postgresql"):
        pod = by_kind(objects, "Deployment", name)["spec"]["template"]["spec"]
        if not pod["securityContext"].get("runAsNonRoot") or \
                not pod["containers"][0]["securityContext"].get("readOnlyRootFilesystem"):
            fail(f"{target}: {name} runs as root or on a writable root filesystem")

    account = by_kind(objects, "ServiceAccount", "orthanc")
    labels = spec["template"]["metadata"]["labels"]
    if target.endswith("aks"):
        if "azure.workload.identity/client-id" not in account["metadata"].get("annotations", {}):
            fail("aks: the service account has no azure.workload.identity/client-id annotation")
        if labels.get("azure.workload.identity/use") != "true":
            fail("aks: the pod has no azure.workload.identity/use label")
        token_file = {e["name"]: e.get("value") for e in container["env"]}.get("AZURE_FEDERATED_TOKEN_FILE", "")
        projected = [v for v in pod_volumes(spec) if "projected" in v]
        audiences = [s["serviceAccountToken"]["audience"] for v in projected for s in v["projected"]["sources"]]
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        if audiences != ["api://AzureADTokenExchange"] or \
                not token_file.startswith(mounts.get(projected[0]["name"], "?") + "/"):
            fail("aks: no projected federated token for api://AzureADTokenExchange at AZURE_FEDERATED_TOKEN_FILE")
        if json.loads(strip_json_comments(config["data"]["dicomweb-oauth.json"]))["DicomWebOAuth"]["Servers"]["azure"][
                "ProviderType"] != "azureworkloadidentity":
            fail("aks: the server does not use the workload identity provider")
    if target.endswith("gke"):
        annotation = account["metadata"].get("annotations", {}).get("iam.gke.io/gcp-service-account", "")
        if not annotation.endswith(".iam.gserviceaccount.com"):
            fail("gke: the service account has no iam.gke.io/gcp-service-account annotation")
        if "169.254.169.254/32" not in reachable:
            fail("gke: the gateway may not reach the GKE metadata server")
    if target.endswith("local"):
        aliases = {h for a in pod.get("hostAliases", []) for h in a["hostnames"]} | \
                  {h for a in spec["template"]["spec"].get("hostAliases", []) for h in a["hostnames"]}
        images = {c["image"] for o in objects if o["kind"] == "Deployment" for c in o["spec"]["template"]["spec"]["containers"]}
        if not all(i.startswith("localhost/") for i in images):
            fail(f"local: an image would be pulled from a registry: {sorted(images)}")
        if not {"redis", "postgresql", "idp", "upstream"} <= aliases:
            fail(f"local: podman has no cluster DNS, every name needs a host alias: {aliases}")


def pod_volumes(deploy_spec):
    return deploy_spec["template"]["spec"]["volumes"]


def main():
    try:
        import yaml  # noqa: F401
    except ImportError:
        apt_install("python3-yaml")
    if not shutil.which("yamllint"):
        apt_install("yamllint")
    if not (TYPES_DIR / "node_modules" / ".package-lock.json").exists() or \
            (TYPES_DIR / "package-lock.json").stat().st_mtime > (TYPES_DIR / "node_modules" / ".package-lock.json").stat().st_mtime:
        run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=TYPES_DIR)

    binaries = kubectls()
    print("== renderers: " + ", ".join(f"{b} ({kubectl_version(b)})" for b in binaries))
    if len(binaries) < 2:
        print("== note: only one kubectl on this machine; Debian's kubernetes-client is the one installed")

    rendered = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for target in TARGETS:
            outputs = []
            for kubectl in binaries:
                proc = run([kubectl, "kustomize", str(K8S / target)])
                outputs.append(proc.stdout)
            objects = load_yaml_stream(outputs[0])
            for other, kubectl in zip(outputs[1:], binaries[1:]):
                a, b = normalised(objects), normalised(load_yaml_stream(other))
                if a != b:
                    diff = [k for k in set(a) | set(b) if a.get(k) != b.get(k)]
                    fail(f"{target}: {binaries[0]} and {kubectl} render different objects: {sorted(diff)}")
            rendered[target] = objects
            out = workdir / (target.replace("/", "-") + ".yaml")
            out.write_text(outputs[0])
            print(f"== {target}: {len(objects)} objects: "
                  + ", ".join(sorted({o['kind'] for o in objects})))

        # 2. types; first prove that the check catches a misspelt field.
        deploy = json.loads(json.dumps(by_kind(rendered["overlays/local"], "Deployment", "orthanc")))
        container = deploy["spec"]["template"]["spec"]["containers"][0]
        container["readynessProbe"] = container.pop("readinessProbe")
        planted = type_check({"planted": [deploy]}, workdir)
        if planted.returncode == 0 or "readynessProbe" not in planted.stdout:
            fail(f"tsc accepted a misspelt field (readynessProbe): {planted.stdout[-2000:]}")
        checked = type_check(rendered, workdir)
        if checked.returncode != 0:
            fail(f"rendered objects do not type-check against kubernetes-types:\n{checked.stdout[-6000:]}")
        print(f"== types: {sum(map(len, rendered.values()))} objects type-check "
              f"(tsc --strict; a planted misspelling is refused)")

        # 3. yamllint on sources and rendered manifests.
        sources = sorted(str(p) for p in K8S.rglob("*.yaml"))
        run(["yamllint", "--strict", "-c", str(YAMLLINT_CONF), *sources])
        run(["yamllint", "--strict", "-c", str(YAMLLINT_CONF), *sorted(str(p) for p in workdir.glob("*.yaml"))])
        print(f"== yamllint: {len(sources)} sources and {len(TARGETS)} renderings clean")

    # 4. what the manifests promise.
    for target in TARGETS:
        check_semantics(target, rendered[target])
    print("== semantics: replicas, probes, security, PDB, HPA, NetworkPolicy, shared PostgreSQL and Redis, "
          "workload identity: all overlays pass")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (AssertionError, RuntimeError) as error:
        print(error, file=sys.stderr)
        sys.exit(1)
