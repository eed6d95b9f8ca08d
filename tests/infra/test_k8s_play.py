#!/usr/bin/python3
"""The local overlay (infra/k8s/overlays/local) run for real with `podman kube play`, inside this
test's private network namespace.

    unshare -n -- netns_run.py tests/infra/test_k8s_play.py        (ctest: infra/k8s-play, as root)

The rendered manifests are played as they are, on a podman bridge network 10.89.77.0/24 created in
the namespace: PostgreSQL and Redis at the addresses the overlay's host aliases name (--ip), then the
gateway Deployment (2 replicas). The harness's IdP (oidc-provider, counting token requests) and a
protected upstream (nginx checking every token by introspection) run on the namespace's side of the
bridge, reached from the pods as `idp` and `upstream` (a relay from 10.89.77.1 to their loopback
ports). podman 4.3 plays Deployment, ConfigMap and PVC-backed volumes; Service, NetworkPolicy, PDB
and HPA are Kubernetes-only and left out (the offline test checks them). Proven: both replicas
serve; the IdP sees one token request for the fleet (shared Redis lease); a study stored through one
replica is found through the other (shared PostgreSQL index and storage) and reaches the upstream
byte-identical; every probe command of the manifest passes in every pod (and fails with a wrong
password); killing Redis fails no request.
Printed: time to a ready fleet.
"""
import base64
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

SOURCE_DIR = Path(os.environ.get("GW_SOURCE_DIR") or Path(__file__).resolve().parents[2])
sys.path.insert(0, str(SOURCE_DIR / "tests" / "integration"))

import yaml  # noqa: E402
from harness import testing, wait_until  # noqa: E402
from harness.dicom import make_study  # noqa: E402
from harness.http import basic_auth, request, try_request  # noqa: E402
from harness.idp import IdentityProvider, IdpClient  # noqa: E402
from harness.upstream import ProtectedDicomWeb  # noqa: E402
from gwtest import assert_no_secret  # noqa: E402

OVERLAY = SOURCE_DIR / "infra" / "k8s" / "overlays" / "local"
IMAGES = ["localhost/dicomweb-oauth-gateway:latest", "localhost/dicomweb-oauth-redis:bookworm",
          "localhost/dicomweb-oauth-postgresql:bookworm"]
NETWORK = "dicomweb-oauth-k8s"
SUBNET, HOST_SIDE = "10.89.77.0/24", "10.89.77.1"
ADDRESSES = {"redis": "10.89.77.10", "postgresql": "10.89.77.11"}
# The overlay's orthanc-env: the ports the pods expect the IdP and the upstream on.
IDP_PORT, UPSTREAM_PORT = 9000, 8080
CLIENT = "orthanc-gateway"
SECRET_NAME = "orthanc-secrets"


def podman(*argv, check=True, timeout=180):
    proc = subprocess.run(["podman", *argv], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise RuntimeError(f"K8S-011: podman {' '.join(argv)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return proc


class Relay:
    """TCP relay from HOST_SIDE:port (what the pods reach) to 127.0.0.1:target (the harness)."""

    def __init__(self, port, target):
        # Every address of the test's own namespace: the bridge's HOST_SIDE appears only when the
        # first pod joins the network.
        self.sock = socket.create_server(("0.0.0.0", port))
        self.target = target
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=10)
            except OSError:
                conn.close()
                continue
            for a, b in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self):
        self.sock.close()


class KubePlay(testing.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not os.environ.get("CONTAINERS_CONF"):
            raise RuntimeError("K8S-010: CONTAINERS_CONF is not set (ctest sets it; see infra/lib/podman.sh)")
        for image in IMAGES:
            if podman("image", "exists", image, check=False).returncode != 0:
                raise RuntimeError(f"K8S-010: no image {image}: run ./scripts/image.sh and "
                                   "infra/k8s/overlays/local/images/build.sh (ctest: infra/image-build, infra/k8s-images)")
        cls.passwords = {"admin-password": "k8s-admin-" + secrets.token_hex(6),
                         "probe-password": "k8s-probe-" + secrets.token_hex(6),
                         "postgresql-password": "k8s-pg-" + secrets.token_hex(6),
                         "redis-key": secrets.token_hex(32)}
        cls.idp = cls.use_class(IdentityProvider(cls.ws, clients=[IdpClient(client_id=CLIENT,
                                                                            auth_method="client_secret_basic")],
                                                 name="idp-k8s"))
        cls.upstream = cls.use_class(ProtectedDicomWeb(cls.ws, idp=cls.idp))
        cls.passwords["oauth-client-secret"] = cls.idp.client(CLIENT).secret

        cls.work = cls.ws.dir("k8s")
        cls._cleanup_leftovers()
        cls.addClassCleanup(cls._teardown)
        podman("network", "create", "--subnet", SUBNET, "--gateway", HOST_SIDE, NETWORK)
        # The pods reach the harness at the bridge's host side, under the overlay's names.
        cls.relays = [Relay(IDP_PORT, cls.idp.port), Relay(UPSTREAM_PORT, cls.upstream.port)]
        # podman's secretKeyRef reads a podman secret holding {key: base64(value)}: the Secret's data.
        secret_file = cls.work / "secret.json"
        secret_file.write_text(json.dumps({k: base64.b64encode(v.encode()).decode() for k, v in cls.passwords.items()}))
        secret_file.chmod(0o600)
        podman("secret", "create", SECRET_NAME, str(secret_file))
        secret_file.unlink()

        rendered = subprocess.run(["kubectl", "kustomize", str(OVERLAY)], capture_output=True, text=True, check=True)
        objects = [o for o in yaml.safe_load_all(rendered.stdout) if o]
        gateway = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "orthanc")
        cls.gateway_replicas = gateway["spec"]["replicas"]
        spec = gateway["spec"]["template"]["spec"]["containers"][0]
        cls.probes = {p: spec[p]["exec"]["command"] for p in ("startupProbe", "readinessProbe", "livenessProbe")}

        def play(name, docs, *extra):
            path = cls.work / f"{name}.yaml"
            path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
            podman("kube", "play", "--network", NETWORK, *extra, str(path), timeout=300)
            cls.played.append(path)

        def deployment(name):
            return next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == name)

        cls.played = []
        started = time.monotonic()
        # The PVC's volume is made here with the owner PostgreSQL runs as (podman ignores fsGroup).
        podman("volume", "create", "--opt", "o=uid=999,gid=999", "postgresql-data")
        play("postgresql", [deployment("postgresql")], "--ip", ADDRESSES["postgresql"])
        play("redis", [deployment("redis")], "--ip", ADDRESSES["redis"])
        configmaps = [o for o in objects if o["kind"] == "ConfigMap"]
        play("orthanc", configmaps + [deployment("orthanc")])
        cls.pods = [f"orthanc-pod-{i}" for i in range(cls.gateway_replicas)]
        cls.urls = [f"http://{cls.pod_ip(p)}:8042" for p in cls.pods]
        probe = {"Authorization": basic_auth("probe", cls.passwords["probe-password"])}
        for url in cls.urls:
            wait_until(lambda: (lambda r: r is not None and r.status == 200)(
                try_request("GET", url + "/dicomweb-oauth/health/ready", headers=probe, timeout=3)),
                180, f"{url} ready")
        cls.ready_after = time.monotonic() - started
        print(f"\nfleet of {cls.gateway_replicas} replicas ready {cls.ready_after:.1f} s after the first "
              f"`podman kube play`", flush=True)

    @classmethod
    def pod_ip(cls, pod):
        out = podman("pod", "inspect", pod, "--format", "{{.InfraContainerID}}").stdout.strip()
        return podman("inspect", out, "--format",
                      "{{(index .NetworkSettings.Networks \"%s\").IPAddress}}" % NETWORK).stdout.strip()

    @classmethod
    def _cleanup_leftovers(cls):
        for pod in podman("pod", "ps", "--format", "{{.Name}}", check=False).stdout.split():
            if pod.split("-pod-")[0] in ("orthanc", "redis", "postgresql"):
                podman("pod", "rm", "-f", pod, check=False)
        podman("secret", "rm", SECRET_NAME, check=False)
        podman("volume", "rm", "-f", "postgresql-data", check=False)
        # podman keeps a volume per ConfigMap it played (named like the ConfigMap, hash included).
        for volume in podman("volume", "ls", "--format", "{{.Name}}", check=False).stdout.split():
            if volume.startswith(("orthanc-config-", "orthanc-env-")):
                podman("volume", "rm", "-f", volume, check=False)
        podman("network", "rm", "-f", NETWORK, check=False)

    @classmethod
    def _teardown(cls):
        for relay in getattr(cls, "relays", []):
            relay.close()
        for pod in podman("pod", "ps", "--format", "{{.Name}}", check=False).stdout.split():
            if pod.split("-pod-")[0] in ("orthanc", "redis", "postgresql"):
                logs = podman("logs", f"{pod}-{pod.split('-pod-')[0]}", check=False)
                (cls.work / f"{pod}.log").write_text(logs.stdout + logs.stderr)
        cls._cleanup_leftovers()

    def admin(self, method, url, **kwargs):
        headers = dict(kwargs.pop("headers", {}), Authorization=basic_auth("admin", self.passwords["admin-password"]))
        return request(method, url, headers=headers, timeout=60, **kwargs)

    def test_1_both_replicas_serve(self):
        self.assertGreaterEqual(len(self.urls), 2)
        self.assertEqual(len(set(self.urls)), len(self.urls))
        for url in self.urls:
            r = self.admin("GET", url + "/dicomweb-oauth/status")
            self.assertEqual(r.status, 200, r.text)
            self.assertEqual(self.admin("GET", url + "/system").status, 200)
        # The probe user opens the health routes only.
        probe = {"Authorization": basic_auth("probe", self.passwords["probe-password"])}
        self.assertEqual(request("GET", self.urls[0] + "/system", headers=probe).status, 403)

    def test_2_one_token_request_for_the_fleet(self):
        # Both replicas became ready (each holds a token for `cloud`), and both push a study below:
        # one IdP call in all, the other replica took the token from Redis.
        for i, url in enumerate(self.urls):
            study = make_study(1, seed=70 + i)
            r = self.admin("POST", url + "/instances", body=study.instances[0],
                           headers={"Content-Type": "application/dicom"})
            self.assertEqual(r.status, 200, r.text)
            r = self.admin("POST", url + "/dicom-web/servers/cloud/stow", json={"Resources": [r.json()["ParentStudy"]]})
            self.assertEqual(r.status, 200, r.text)
        shared = ["\n".join(line for line in self.admin("GET", u + "/dicomweb-oauth/metrics").text.splitlines()
                             if "shared" in line or "redis" in line) for u in self.urls]
        self.assertEqual(self.idp.token_requests(CLIENT), 1, f"{self.idp.stats()}\n" + "\n".join(shared))

    def test_3_study_through_one_replica_found_through_the_other(self):
        study = make_study(3, seed=81)
        first, second = self.urls[0], self.urls[1]
        for data in study.instances:
            r = self.admin("POST", first + "/instances", body=data, headers={"Content-Type": "application/dicom"})
            self.assertEqual(r.status, 200, r.text)
        # The other replica finds it in the shared index (QIDO) and reads it from the shared storage.
        r = self.admin("GET", second + f"/dicom-web/studies?StudyInstanceUID={study.study_instance_uid}")
        self.assertEqual(r.status, 200, r.text)
        self.assertEqual(len(r.json()), 1, r.text)
        r = self.admin("POST", second + "/tools/find", json={"Level": "Study", "Query": {
            "StudyInstanceUID": study.study_instance_uid}})
        (study_id,) = r.json()
        r = self.admin("POST", second + "/dicom-web/servers/cloud/stow", json={"Resources": [study_id]})
        self.assertEqual(r.status, 200, r.text)
        self.assertEqual(self.upstream.backend.study_hashes(study.study_instance_uid), study.sha256_by_sop)

    def test_4_probes_pass_and_fail_meaningfully(self):
        # podman turns the livenessProbe into the container's health check and ignores the others:
        # run every probe's command of the rendered manifest in every pod, as the kubelet would.
        for pod in self.pods:
            container = f"{pod}-orthanc"
            self.assertEqual(podman("healthcheck", "run", container, check=False).returncode, 0, pod)
            for name, command in self.probes.items():
                r = podman("exec", container, *command, check=False)
                self.assertEqual(r.returncode, 0, f"{pod} {name}: {r.stdout}{r.stderr}")
                # A wrong probe password fails every probe: they are not mere port checks.
                r = podman("exec", "-e", "ORTHANC_HEALTHCHECK_PASSWORD=wrong", container, *command, check=False)
                self.assertNotEqual(r.returncode, 0, f"{pod} {name} passed with a wrong password")

    def test_5_killing_redis_fails_no_request(self):
        podman("pod", "kill", "redis-pod-0")
        try:
            for i, url in enumerate(self.urls):
                study = make_study(1, seed=90 + i)
                r = self.admin("POST", url + "/instances", body=study.instances[0],
                               headers={"Content-Type": "application/dicom"})
                self.assertEqual(r.status, 200, r.text)
                r = self.admin("POST", url + "/dicom-web/servers/cloud/stow",
                               json={"Resources": [r.json()["ParentStudy"]]})
                self.assertEqual(r.status, 200, r.text)
                self.assertEqual(self.upstream.backend.study_hashes(study.study_instance_uid), study.sha256_by_sop)
        finally:
            podman("pod", "start", "redis-pod-0", check=False)

    def test_zz_no_secret_in_output(self):
        logs = [podman("logs", f"{p}-orthanc", check=False) for p in self.pods]
        pages = [self.admin("GET", u + "/dicomweb-oauth/status").text for u in self.urls]
        assert_no_secret(self, list(self.passwords.values()), *(l.stdout + l.stderr for l in logs), *pages)


if __name__ == "__main__":
    testing.main()
