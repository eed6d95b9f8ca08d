#!/usr/bin/python3
"""Hot reload under load: 100 reloads of the policy and provider scripts (20 of them broken) while
STOW and QIDO traffic flows continuously through proxy mode (Orthanc A's DICOMweb client -> the
gateway's route, with a routing policy -> the protected upstream).

- no request fails (every QIDO 200, every synchronous STOW 200), before, during and after;
- every broken snapshot is refused (422) with the file and the line of the problem, and the
  previous snapshot keeps serving;
- every good reload publishes version + 1, visible in GET /dicomweb-oauth/status;
- every audit record carries the snapshot version that served it, and those versions move with
  the reloads."""
# gw-test-timeout: 900
# gw-test-labels: slow

import json
import threading
import time

from harness import testing, wait_until
from harness.dicom import make_study
from harness.idp import IdentityProvider, IdpClient
from harness.upstream import ProtectedDicomWeb
from gwtest import assert_no_secret, copy_scripts, gateway_orthanc, wait_proxy_definition

SECRET = "reload-load-client-secret-3a9d"
HASH_KEY = "reload-load-audit-hash-key-77"
RELOADS = 100
BROKEN_EVERY = 5  # every 5th reload is broken: 20 of 100


def good_policy(n):
    return f"""local M = {{ name = "load_policy", version = "1.0.{n}", kind = "policy" }}
function M.decide(request)
  return {{ allow = true, target = request.targets[1].name }}
end
function M.self_test()
  return M.decide({{ targets = {{ {{ name = "primary" }} }} }}).allow == true
end
return M
"""


# Broken variants: (file to break, text, code expected, "file:line" expected in the message).
def broken_variants(provider_text):
    provider_lines = provider_text.count("\n")
    return [
        ("policy", 'local M = { name = "load_policy", version = "x", kind = "policy" }\n'
                   "function M.decide(request)\n"
                   "  return { allow = = true }\n"
                   "end\nreturn M\n", "LUA-001", "load_policy.lua:3:"),
        ("policy", 'local M = { name = "load_policy", version = "x", kind = "policy" }\n'
                   'error("broken on purpose at load")\n'
                   "return M\n", "LUA-002", "load_policy.lua:2:"),
        ("provider", provider_text + "local broken = = 1\n", "LUA-001",
         f"client_credentials.lua:{provider_lines + 1}:"),
        ("policy", 'local M = { name = "load_policy", version = "x", kind = "policy" }\n'
                   "function M.decide(request) return { allow = true } end\n"
                   "function M.self_test()\n"
                   '  error("self test fails on purpose")\n'
                   "end\nreturn M\n", "LUA-011", "load_policy.lua:4:"),
    ]


class ReloadUnderLoad(testing.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.idp = cls.use_class(IdentityProvider(cls.ws, clients=[IdpClient("orthanc-a", secret=SECRET)]))
        cls.upstream = cls.use_class(ProtectedDicomWeb(cls.ws, cls.idp))
        cls.scripts = copy_scripts(cls.ws)
        cls.policy_file = cls.scripts / "policies" / "routing" / "load_policy.lua"
        cls.policy_file.write_text(good_policy(0))
        cls.provider_file = cls.scripts / "providers" / "client_credentials.lua"
        cls.provider_text = cls.provider_file.read_text()
        cls.audit_file = cls.ws.dir("audit") / "audit.jsonl"
        servers = {"cloud": {"Url": cls.upstream.dicomweb_url, "TokenEndpoint": cls.idp.token_url(),
                             "ClientId": "orthanc-a", "ClientSecret": SECRET, "Scope": "dicomweb",
                             "Resource": "urn:gw-test:dicomweb", "Mode": "proxy", "Policies": ["load_policy"]}}
        section = {"WatchScripts": False,
                   "Audit": {"File": str(cls.audit_file), "HashKey": HASH_KEY, "FsyncIntervalMs": 0}}
        cls.a = cls.use_class(gateway_orthanc(cls.ws, servers=servers, scripts=cls.scripts, section=section))
        wait_proxy_definition(cls.a, "cloud")

    def status_version(self):
        return self.a.get_json("/dicomweb-oauth/status")["lua"]["snapshot"]["version"]

    def test_reloads_under_stow_and_qido_load(self):
        studies = [make_study(2, seed=300 + i, rows=64, columns=64) for i in range(6)]
        study_ids = []
        for study in studies:
            ids = [self.a.upload(d)["ID"] for d in study.instances]
            study_ids.append(self.a.get_json(f"/instances/{ids[0]}/study")["ID"])

        stop = threading.Event()
        results = {"qido": [], "stow": []}
        errors = []

        def qido_loop():
            while not stop.is_set():
                try:
                    r = self.a.rest("POST", "/dicom-web/servers/cloud/qido",
                                    json={"Uri": "/studies", "Arguments": {"limit": "3"}}, timeout=60)
                    results["qido"].append((r.status, r.text[:200] if r.status != 200 else ""))
                except Exception as e:  # noqa: BLE001 (any failure is a failed request)
                    errors.append(f"qido: {e!r}")

        def stow_loop():
            i = 0
            while not stop.is_set():
                try:
                    r = self.a.rest("POST", "/dicom-web/servers/cloud/stow",
                                    json={"Resources": [study_ids[i % len(study_ids)]], "Synchronous": True},
                                    timeout=120)
                    results["stow"].append((r.status, r.text[:300] if r.status != 200 else ""))
                except Exception as e:  # noqa: BLE001
                    errors.append(f"stow: {e!r}")
                i += 1

        threads = [threading.Thread(target=qido_loop), threading.Thread(target=qido_loop),
                   threading.Thread(target=stow_loop)]
        for t in threads:
            t.start()
        refused, published = [], []
        try:
            version = self.status_version()
            variants = broken_variants(self.provider_text)
            time.sleep(1.0)  # traffic before the first reload
            for n in range(1, RELOADS + 1):
                if n % BROKEN_EVERY == 0:
                    which, text, code, where = variants[(n // BROKEN_EVERY - 1) % len(variants)]
                    (self.policy_file if which == "policy" else self.provider_file).write_text(text)
                    r = self.a.rest("POST", "/dicomweb-oauth/reload")
                    self.assertEqual(r.status, 422, f"reload {n} (broken {which}): {r.text}")
                    error = r.json()["error"]
                    self.assertEqual(error["code"], code, error)
                    self.assertIn(where, error["message"], error)
                    self.assertEqual(r.json()["serving"]["version"], version)
                    self.assertEqual(self.status_version(), version)
                    refused.append(error)
                else:
                    self.policy_file.write_text(good_policy(n))
                    # The provider changes too (a comment), so providers are reloaded as well.
                    self.provider_file.write_text(self.provider_text + f"-- reload {n}\n")
                    r = self.a.rest("POST", "/dicomweb-oauth/reload")
                    self.assertEqual(r.status, 200, f"reload {n}: {r.text}")
                    version += 1
                    self.assertEqual(r.json()["snapshot"]["version"], version)
                    self.assertEqual(self.status_version(), version)
                    published.append(version)
                time.sleep(0.05)
            time.sleep(1.0)  # traffic after the last reload
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=180)

        self.assertEqual(len(refused), RELOADS // BROKEN_EVERY)
        self.assertEqual(len(published), RELOADS - RELOADS // BROKEN_EVERY)
        self.assertEqual(errors, [])
        for kind in ("qido", "stow"):
            failed = [s for s in results[kind] if s[0] != 200]
            self.assertEqual(failed, [], f"{kind}: {len(failed)} of {len(results[kind])} failed")
        self.assertGreater(len(results["qido"]), 100, "too little QIDO traffic to mean anything")
        self.assertGreater(len(results["stow"]), 5, "too little STOW traffic to mean anything")
        print(f"\nreloads: {len(published)} published, {len(refused)} refused; requests: "
              f"{len(results['qido'])} QIDO, {len(results['stow'])} STOW, none failed", flush=True)

        # Every proxied request's audit record names the snapshot that served it.
        def audited():
            text = self.audit_file.read_text(encoding="utf-8") if self.audit_file.exists() else ""
            records = [json.loads(line) for line in text.splitlines()]
            return records if sum(1 for r in records if r["event"] == "script.refused") >= len(refused) else None
        records = wait_until(audited, 30, "the audit records of every reload")
        proxied = [r for r in records if r["event"] == "proxy.request" and r["server"] == "cloud"]
        self.assertTrue(proxied)
        for rec in proxied:
            self.assertIsInstance(rec["snapshot"], int, rec)
            self.assertEqual(rec["fields"]["outcome"], "forwarded", rec)
        served = {r["snapshot"] for r in proxied}
        self.assertGreater(len(served), 10, f"requests were served by only {sorted(served)}")
        self.assertLessEqual(max(served), version)
        self.assertEqual(sum(1 for r in records if r["event"] == "script.refused"), len(refused))

        assert_no_secret(self, [SECRET, HASH_KEY], self.a.log_text(), self.audit_file.read_text())


if __name__ == "__main__":
    testing.main()
