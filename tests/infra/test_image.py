#!/usr/bin/python3
"""The container image (scripts/image.sh) run for real, inside this test's private network namespace.

    unshare -n -- netns_run.py tests/infra/test_image.py       (ctest: infra/image-run, as root)

The container shares the test's namespace (`--network host` inside `unshare -n`: the namespace is
the test's, never the machine's), next to the harness's servers:
- a fake of the managed-identity endpoint Azure Container Apps and App Service give a container
  (IDENTITY_ENDPOINT + IDENTITY_HEADER, api-version 2019-08-01, harness/azure.py), issuing a token;
- a protected upstream (Orthanc behind nginx) admitting only that token.
The container runs with a read-only root filesystem as the image's non-root user, configured by
environment variables and mounted files only. Proven: Orthanc answers, the gateway runs Lua 5.4,
the health check passes, the gateway gets the managed-identity token, a study goes to the upstream
and comes back byte-identical, the identity header never shows in the container's output.
Printed: image size and start-up time (podman run to a status answer).
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

SOURCE_DIR = Path(os.environ.get("GW_SOURCE_DIR") or Path(__file__).resolve().parents[2])
sys.path.insert(0, str(SOURCE_DIR / "tests" / "integration"))

from harness import testing, wait_until  # noqa: E402
from harness.azure import FakeAppService  # noqa: E402
from harness.dicom import make_study, sha256  # noqa: E402
from harness.http import basic_auth, try_request  # noqa: E402
from harness.orthanc import Orthanc  # noqa: E402
from harness.upstream import ProtectedDicomWeb  # noqa: E402
from gwtest import assert_no_secret  # noqa: E402

IMAGE = os.environ.get("GW_IMAGE", "localhost/dicomweb-oauth-gateway:latest")
IDENTITY_HEADER = "container-apps-identity-header-9b2e7d41"
ADMIN = ("admin", "image-test-password-58c1")


def podman(*argv, check=True, timeout=120):
    proc = subprocess.run(["podman", *argv], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise RuntimeError(f"INF-020: podman {' '.join(argv)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return proc


class ContainerOrthanc(Orthanc):
    """The image's Orthanc, run attached (`podman run`, its output in the workspace log; SIGTERM is
    passed on to the container) so that the harness's REST helpers work against it."""

    def __init__(self, ws, env, mounts):
        super().__init__(ws, name="orthanc-image", users=dict([ADMIN]))
        self.container = f"gw-infra-image-{os.getpid()}"
        self.container_env = dict(env, ORTHANC_HTTP_PORT=str(self.http_port),
                                  ORTHANC_DICOM_PORT=str(self.dicom_port))
        self.mounts = mounts
        self.started_at = None

    def _spawn(self):
        # --read-only: podman still gives /tmp, /run and the image's VOLUME (the storage) writable
        # mounts, as a Kubernetes pod with readOnlyRootFilesystem gets emptyDirs.
        argv = ["podman", "run", "--rm", "--name", self.container, "--network", "host", "--read-only"]
        for host, target in self.mounts:
            argv += ["-v", f"{host}:{target}:ro"]
        # Secrets in an env file, not on the command line (which the harness logs).
        env_file = self.dir / "container.env"
        env_file.write_text("".join(f"{k}={v}\n" for k, v in self.container_env.items()))
        env_file.chmod(0o600)
        argv += ["--env-file", str(env_file), IMAGE]
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CONTAINERS_CONF": os.environ["CONTAINERS_CONF"]}
        if self.process is None:
            self.process = self.ws.spawn(self.name, argv, env=env)
        self.started_at = time.monotonic()
        self.process.start()

    def stop(self, timeout=30.0):
        code = super().stop(timeout)
        podman("rm", "-f", "--volumes", self.container, check=False)
        return code


class Image(testing.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not os.environ.get("CONTAINERS_CONF"):
            raise RuntimeError("INF-021: CONTAINERS_CONF is not set (ctest sets it; see infra/lib/podman.sh)")
        if podman("image", "exists", IMAGE, check=False).returncode != 0:
            raise RuntimeError(f"INF-022: no image {IMAGE}: run ./scripts/image.sh (ctest: infra/image-build)")
        cls.appsvc = cls.use_class(FakeAppService(cls.ws, IDENTITY_HEADER))
        cls.upstream = cls.use_class(ProtectedDicomWeb(cls.ws, auth="static", static_token=cls.appsvc.token))
        conf = cls.ws.dir("image-config")
        gateway = conf / "dicomweb-oauth.json"
        # The Python plugin's managed-identity example (examples/azure/managed-identity.json), with
        # the URL from the environment through Orthanc's ${VAR}.
        gateway.write_text(json.dumps({"DicomWebOAuth": {"Servers": {"azure": {
            "ProviderType": "azuremanagedidentity", "Url": "${AZURE_DICOM_URL}",
            "Scope": "https://dicom.healthcareapis.azure.com/.default"}}}}, indent=2))
        credentials = conf / "credentials.json"
        credentials.write_text(json.dumps({"RegisteredUsers": dict([ADMIN])}))
        for f in (gateway, credentials):
            f.chmod(0o644)
        cls.orthanc = ContainerOrthanc(cls.ws, env={
            "AZURE_DICOM_URL": cls.upstream.dicomweb_url,
            "IDENTITY_ENDPOINT": cls.appsvc.endpoint, "IDENTITY_HEADER": IDENTITY_HEADER,
            "ORTHANC_HEALTHCHECK_USER": ADMIN[0], "ORTHANC_HEALTHCHECK_PASSWORD": ADMIN[1],
        }, mounts=[(gateway, "/etc/orthanc/dicomweb-oauth.json"), (credentials, "/etc/orthanc/credentials.json")])
        cls.addClassCleanup(cls.orthanc.stop)
        cls.orthanc.start(timeout=120)
        auth = {"Authorization": basic_auth(*ADMIN)}
        wait_until(lambda: (lambda r: r is not None and r.status == 200)(
            try_request("GET", cls.orthanc.url + "/dicomweb-oauth/status", headers=auth, timeout=2)),
            60, "the gateway's status")
        cls.startup = time.monotonic() - cls.orthanc.started_at
        size = int(podman("image", "inspect", "--format", "{{.Size}}", IMAGE).stdout.strip())
        print(f"\nimage {IMAGE}: {size} bytes ({size / 1e6:.0f} MB); "
              f"start-up (podman run to a status answer): {cls.startup:.1f} s", flush=True)

    def test_runs_as_non_root_with_lua_54(self):
        status = self.orthanc.get_json("/dicomweb-oauth/status")
        self.assertEqual(status["lua"]["version"], "Lua 5.4", status)
        uid = podman("exec", self.orthanc.container, "id", "-u").stdout.strip()
        self.assertNotEqual(uid, "0")
        self.assertEqual(podman("exec", self.orthanc.container, "id", "-un").stdout.strip(), "orthanc")
        # Read-only root filesystem: nothing can be written outside the mounts.
        probe = podman("exec", self.orthanc.container, "touch", "/etc/orthanc/probe", check=False)
        self.assertNotEqual(probe.returncode, 0)

    def test_health_check_passes_and_fails_meaningfully(self):
        self.assertEqual(podman("healthcheck", "run", self.orthanc.container, check=False).returncode, 0)
        inspect = json.loads(podman("image", "inspect", IMAGE).stdout)[0]
        # The docker format keeps it (podman's OCI format would drop it): image.sh builds with --format docker.
        self.assertEqual((inspect.get("Healthcheck") or {}).get("Test"), ["CMD", "/usr/local/bin/orthanc-healthcheck"])
        # Without the credentials Orthanc refuses the status: the check is not a mere port probe.
        bad = podman("exec", "-e", "ORTHANC_HEALTHCHECK_PASSWORD=wrong", self.orthanc.container,
                     "/usr/local/bin/orthanc-healthcheck", check=False)
        self.assertNotEqual(bad.returncode, 0)

    def test_a_replica_whose_liveness_fails_is_restarted(self):
        """Issue 13: a hung replica is restarted. podman has no scheduler for health checks without
        systemd, but `podman healthcheck run` itself carries out the container's
        --health-on-failure action once the check is unhealthy (the image's HEALTHCHECK: liveness,
        `retries` consecutive failures). Orthanc is frozen (SIGSTOP: alive but not answering, the
        case a liveness probe exists for); below the threshold nothing happens, at the threshold
        the container is restarted and answers again."""
        import socket
        ports = []
        for _ in range(2):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                ports.append(s.getsockname()[1])
        name = f"gw-infra-liveness-{os.getpid()}"
        env_file = self.orthanc.dir / "liveness.env"
        env_file.write_text("".join(f"{k}={v}\n" for k, v in dict(
            self.orthanc.container_env, ORTHANC_HTTP_PORT=str(ports[0]), ORTHANC_DICOM_PORT=str(ports[1])).items()))
        env_file.chmod(0o600)
        # The image's check as it is (command, timeout, retries), with a 1 s start period instead
        # of 60 s: failures inside the start period do not count, and the test would wait a minute.
        # podman 4.3 ignores every --health-* option unless --health-cmd is given too (the image's
        # HEALTHCHECK then wins whole), hence the command restated from the image.
        check = json.loads(podman("image", "inspect", IMAGE).stdout)[0]["Healthcheck"]
        self.assertEqual(check["Test"][0], "CMD")
        retries = check["Retries"]
        self.assertGreaterEqual(retries, 1)
        argv = ["run", "-d", "--name", name, "--network", "host", "--read-only",
                "--health-cmd", json.dumps(check["Test"][1:]), "--health-retries", str(retries),
                "--health-timeout", f"{check['Timeout'] // 10**9}s", "--health-interval", f"{check['Interval'] // 10**9}s",
                "--health-start-period", "1s", "--health-on-failure=restart", "--stop-timeout", "3",
                "--env-file", str(env_file)]
        for host, target in self.orthanc.mounts:
            argv += ["-v", f"{host}:{target}:ro"]
        podman(*argv, IMAGE)
        self.addCleanup(podman, "rm", "-f", "--volumes", name, check=False)
        live = f"http://127.0.0.1:{ports[0]}/dicomweb-oauth/health/live"
        auth = {"Authorization": basic_auth(*ADMIN)}

        def answers():
            r = try_request("GET", live, headers=auth, timeout=2)
            return r is not None and r.status == 200

        def state():
            return podman("inspect", "--format", "{{.State.Pid}} {{.State.StartedAt}}", name).stdout.strip()

        wait_until(answers, 60, "the second container's liveness route")
        before = state()
        self.assertEqual(podman("healthcheck", "run", name, check=False).returncode, 0)
        self.assertEqual(state(), before, "a passing check restarted the container")

        podman("kill", "--signal", "STOP", name)
        self.assertFalse(answers(), "a frozen Orthanc still answered")
        for attempt in range(1, retries):
            self.assertNotEqual(podman("healthcheck", "run", name, check=False, timeout=60).returncode, 0)
            self.assertEqual(state(), before, f"restarted after {attempt} of {retries} failed checks")
        last = podman("healthcheck", "run", name, check=False, timeout=120)
        self.assertNotEqual(last.returncode, 0)
        self.assertIn("unhealthy", last.stdout + last.stderr)
        after = state()
        self.assertNotEqual(after, before, "the unhealthy container was not restarted")
        wait_until(answers, 60, "the restarted container's liveness route")
        self.assertEqual(podman("healthcheck", "run", name, check=False).returncode, 0)
        print(f"\nliveness: frozen Orthanc restarted after {retries} failed checks (pid/start {before} -> {after})",
              flush=True)

    def test_managed_identity_study_round_trip_byte_identical(self):
        study = make_study(4, seed=41)
        ids = [self.orthanc.upload(d)["ID"] for d in study.instances]
        series = self.orthanc.get_json(f"/instances/{ids[0]}")["ParentSeries"]
        study_id = self.orthanc.get_json(f"/series/{series}")["ParentStudy"]
        r = self.orthanc.rest("POST", "/dicom-web/servers/azure/stow", json={"Resources": [study_id]})
        self.assertEqual(r.status, 200, r.text)
        self.assertEqual(self.upstream.backend.study_hashes(study.study_instance_uid), study.sha256_by_sop)
        calls = [(c["status"], c["query"].get("api-version")) for c in self.appsvc.requests()]
        self.assertIn((200, "2019-08-01"), calls)

        # Back from the upstream after deleting the local copy: the same bytes.
        self.assertEqual(self.orthanc.rest("DELETE", f"/studies/{study_id}").status, 200)
        r = self.orthanc.rest("POST", "/dicom-web/servers/azure/retrieve",
                              json={"Resources": [{"Study": study.study_instance_uid}], "Asynchronous": True})
        self.assertEqual(r.status, 200, r.text)
        job = self.orthanc.wait_job(r.json()["ID"], timeout=120)
        self.assertEqual(job["State"], "Success", job)
        for sop, digest in study.sha256_by_sop.items():
            self.assertEqual(sha256(self.orthanc.instance_file(self.orthanc.find_instance(sop))), digest)

    def test_zz_no_secret_in_output(self):
        pages = [self.orthanc.rest("GET", p).body for p in ("/dicomweb-oauth/status", "/dicomweb-oauth/servers")]
        assert_no_secret(self, [IDENTITY_HEADER, self.appsvc.token, ADMIN[1]], self.orthanc.log_text(), *pages)


if __name__ == "__main__":
    testing.main()
