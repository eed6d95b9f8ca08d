"""A real Orthanc (Debian's /usr/sbin/Orthanc) with a generated configuration in the workspace.

    orthanc = Orthanc(ws, plugins=[DICOMWEB_PLUGIN, env.plugin_path()],
                      config={"DicomWebOAuth": {...}}, env={"CLIENT_SECRET": "..."})
    orthanc.start()
    status, headers, body = orthanc.rest("GET", "/system")
    orthanc.upload(dicom_bytes)
    orthanc.stop()

Plugins are always listed as explicit .so files (a directory loads in directory order). `config` is
deep-merged over the defaults (storage and index in the workspace, distinct HTTP and DICOM ports,
authentication off unless `users` is given). `env` is passed to the process, so ${VAR} substitution
in the configuration can be tested. start_expecting_failure() is for configurations that must be
refused: it returns the exit code and the log instead of raising.
"""
import copy
import json
from pathlib import Path

from . import checker
from . import env as harness_env
from .dicom import sha256, sop_instance_uid
from .errors import HarnessError
from .http import basic_auth, request, try_request
from .process import wait_until

DICOMWEB_PLUGIN = harness_env.DICOMWEB_PLUGIN


def deep_merge(base, override):
    """Recursively merge dict `override` into a copy of `base` (override wins; None deletes a key)."""
    result = copy.deepcopy(base)
    for key, value in override.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = deep_merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


class Orthanc:
    """One Orthanc server. Not thread-safe."""

    def __init__(self, ws, plugins=(), config=None, env=None, users=None, name="orthanc",
                 dicomweb=None, verbosity="verbose", dicom_server=True):
        """plugins: .so paths, loaded in this order. users: {"user": "password"} enables HTTP auth.
        dicomweb: dict merged into the "DicomWeb" section (default: enabled at /dicom-web/).
        verbosity: "verbose", "trace" or "" (Orthanc's default). dicom_server: False disables the
        DIMSE listener (saves ~1 s at shutdown; the DicomPort is still reserved)."""
        self.ws = ws
        self.dir = ws.dir(name)
        self.name = self.dir.name
        self.http_port = ws.ports.allocate()
        self.dicom_port = ws.ports.allocate()
        self.plugins = [str(p) for p in plugins]
        self.users = dict(users or {})
        self.extra_env = dict(env or {})
        self.verbosity = verbosity
        self.dicom_server = dicom_server
        self.config = deep_merge(self._defaults(dicomweb or {}), config or {})
        self.config_path = self.dir / "orthanc.json"
        self.process = None

    def _defaults(self, dicomweb):
        cfg = {
            "Name": self.name,
            "StorageDirectory": str(self.dir / "storage"),
            "IndexDirectory": str(self.dir / "index"),
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomServerEnabled": self.dicom_server,
            "DicomAet": self.name.upper().replace("-", "_")[:16],
            "AuthenticationEnabled": bool(self.users),
            "Plugins": self.plugins,
            "StorageCompression": False,
            "SaveJobs": False,
            "WebDavEnabled": False,      # not used by any test; one thread less to stop
            "DicomWeb": deep_merge({"Enable": True, "Root": "/dicom-web/", "EnableWado": True}, dicomweb),
        }
        if self.users:
            cfg["RegisteredUsers"] = self.users
        return cfg

    # -- lifecycle -------------------------------------------------------------------------------

    def _spawn(self):
        for plugin in self.plugins:
            # Orthanc silently skips a plugin path that does not exist: refuse it here instead.
            if not Path(plugin).is_file():
                raise HarnessError("HAR-208", f"plugin {plugin} does not exist")
        self.config_path.write_text(json.dumps(self.config, indent=2))
        # checker: GW_ORTHANC_WRAPPER / GW_ORTHANC_ENV run Orthanc under valgrind or a sanitizer.
        argv = [*checker.wrapper(), harness_env.ORTHANC_BIN]
        if self.verbosity:
            argv.append(f"--{self.verbosity}")
        argv.append(str(self.config_path))
        proc_env = {"PATH": "/usr/sbin:/usr/bin:/bin", "LANG": "C.UTF-8", **checker.extra_env(), **self.extra_env}
        if self.process is None:
            self.process = self.ws.spawn(self.name, argv, env=proc_env, cwd=str(self.dir))
            self.process.checked = checker.enabled()  # its log is scanned for reports (Workspace.close)
        else:
            self.process.argv, self.process.env = argv, proc_env
        self.process.start()

    def start(self, timeout=30.0):
        """Start and wait for GET /system; raises HAR-201 with the log tail if Orthanc exits."""
        self._spawn()
        timeout *= checker.slowdown()

        def ready():
            if self.process.poll() is not None:
                raise HarnessError("HAR-201", f"Orthanc {self.name} exited with code {self.process.returncode}:\n"
                                              f"{self.log_text()[-4000:]}")
            r = try_request("GET", self.url + "/system", headers=self._auth_headers(), timeout=2)
            return r is not None and r.status == 200
        wait_until(ready, timeout, f"Orthanc {self.name} to answer /system")
        return self

    def start_expecting_failure(self, timeout=30.0):
        """Start with a configuration that must be refused. Returns (exit_code, log_text).

        Raises HAR-202 (after stopping it) if Orthanc comes up and answers /system instead.
        """
        self._spawn()
        timeout *= checker.slowdown()

        def ended_or_up():
            if self.process.poll() is not None:
                return "exited"
            r = try_request("GET", self.url + "/system", headers=self._auth_headers(), timeout=2)
            return "up" if r is not None and r.status == 200 else None
        outcome = wait_until(ended_or_up, timeout, f"Orthanc {self.name} to exit")
        if outcome == "up":
            self.stop()
            raise HarnessError("HAR-202", f"Orthanc {self.name} started although a failure was expected")
        return self.process.returncode, self.log_text()

    def stop(self, timeout=30.0):
        """Stop by PID; returns the exit code (0 = clean shutdown)."""
        return self.process.stop(timeout * checker.slowdown()) if self.process else None

    def terminate(self):
        """Begin stopping without waiting (see process.stop_together)."""
        if self.process:
            self.process.terminate()

    def restart(self, timeout=30.0):
        """Same configuration, ports, storage and database."""
        self.stop()
        return self.start(timeout)

    @property
    def running(self):
        return self.process is not None and self.process.running

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def log_text(self):
        return self.process.log_text() if self.process else ""

    # -- REST ------------------------------------------------------------------------------------

    @property
    def url(self):
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb_url(self):
        return self.url + "/dicom-web"

    def _default_credentials(self):
        # The first registered user, whether given as `users` or inside `config`.
        if not self.config.get("AuthenticationEnabled"):
            return None
        users = self.config.get("RegisteredUsers") or {}
        return next(iter(users.items()), None)

    def _auth_headers(self, auth=None):
        if auth is None:
            auth = self._default_credentials()
        return {"Authorization": basic_auth(*auth)} if auth else {}

    def rest(self, method, path, body=None, json=None, headers=None, auth=None, timeout=120.0, chunked=False):
        """Call the REST API. auth: (user, password); defaults to the first registered user, if any;
        pass auth=False to send no credentials. Returns HttpResponse (status, headers, body)."""
        h = {} if auth is False else self._auth_headers(auth)
        h.update(headers or {})
        return request(method, self.url + path, body=body, json=json, headers=h, timeout=timeout,
                       chunked=chunked)

    def get_json(self, path, **kwargs):
        """GET that must answer 200; returns the JSON body."""
        r = self.rest("GET", path, **kwargs)
        if r.status != 200:
            raise HarnessError("HAR-203", f"GET {path} on {self.name}: {r.status} {r.text[:500]}")
        return r.json()

    def post_json(self, path, json, expected=(200,), **kwargs):
        """POST a JSON body; the status must be in `expected`; returns the JSON answer (or None)."""
        r = self.rest("POST", path, json=json, **kwargs)
        if r.status not in expected:
            raise HarnessError("HAR-204", f"POST {path} on {self.name}: {r.status} {r.text[:500]}")
        return r.json() if r.body else None

    def upload(self, dicom_bytes):
        """POST /instances; returns Orthanc's answer (ID, ParentStudy, Status...)."""
        r = self.rest("POST", "/instances", body=dicom_bytes, headers={"Content-Type": "application/dicom"})
        if r.status != 200:
            raise HarnessError("HAR-205", f"upload to {self.name} failed: {r.status} {r.text[:500]}")
        return r.json()

    def upload_many(self, instances):
        return [self.upload(d) for d in instances]

    def instance_file(self, orthanc_id):
        """The stored DICOM file of an instance (bytes, exactly as stored)."""
        r = self.rest("GET", f"/instances/{orthanc_id}/file")
        if r.status != 200:
            raise HarnessError("HAR-206", f"GET /instances/{orthanc_id}/file: {r.status}")
        return r.body

    def find_instance(self, sop_instance_uid):
        """Orthanc ID of the instance with this SOPInstanceUID, or None."""
        r = self.rest("POST", "/tools/lookup", body=sop_instance_uid)
        if r.status != 200:
            raise HarnessError("HAR-207", f"/tools/lookup failed: {r.status}")
        for item in r.json():
            if item.get("Type") == "Instance":
                return item["ID"]
        return None

    def study_hashes(self, study_instance_uid):
        """{SOPInstanceUID: SHA-256} of every stored file of the study ({} when the study is not
        here): compare with Study.sha256_by_sop for an end-to-end byte check."""
        r = self.rest("POST", "/tools/lookup", body=study_instance_uid.encode())
        if r.status != 200:
            raise HarnessError("HAR-207", f"/tools/lookup failed: {r.status}")
        out = {}
        for item in r.json():
            if item.get("Type") != "Study":
                continue
            for inst in self.get_json(f"/studies/{item['ID']}/instances"):
                data = self.instance_file(inst["ID"])
                out[sop_instance_uid(data)] = sha256(data)
        return out

    def instance_hashes(self, sop_instance_uids):
        """{SOPInstanceUID: SHA-256 of the stored file} for those of the given instances stored here."""
        out = {}
        for sop in sop_instance_uids:
            oid = self.find_instance(sop)
            if oid is not None:
                out[sop] = sha256(self.instance_file(oid))
        return out

    def wait_job(self, job_id, timeout=120.0):
        """Wait for a job to reach Success or Failure; returns the final job JSON."""
        def done():
            job = self.get_json(f"/jobs/{job_id}")
            return job if job["State"] in ("Success", "Failure") else None
        return wait_until(done, timeout, f"job {job_id} on {self.name}", interval=0.1)

    def statistics(self):
        return self.get_json("/statistics")

    def count_instances(self):
        return int(self.statistics()["CountInstances"])

    def wait_log(self, text, timeout=10.0):
        """Wait until `text` appears in the log; returns the log."""
        return wait_until(lambda: text in self.log_text() and self.log_text(), timeout,
                          f"{text!r} in the log of {self.name}")
