#!/usr/bin/python3
"""Routing policies end to end (docs/policies.md): Orthanc A (DICOMweb + gateway, HTTP authentication
with two users) talks to protected upstreams (Orthanc + nginx admitting only tokens the IdP vouches
for) through the gateway.

- read_only (proxy mode): STOW refused with 403 and the policy's code and reason, QIDO works;
- failover (proxy mode): primary upstream stopped -> requests go to the secondary, back to the
  primary once it has recovered;
- user_server_acl (inject mode): alice may use the server, bob gets 403 from Orthanc's filter;
- a policy script that raises denies (fail closed, POL-002, no detail in the answer);
- hot reload of a policy changes behaviour without a restart; a reload without a configured
  policy is refused (CFG-002) and the old snapshot keeps serving."""
# gw-test-timeout: 600

import json
import subprocess
import time

from harness import env, testing, wait_until
from harness.dicom import make_study
from harness.http import multipart_related
from harness.idp import IdentityProvider, IdpClient
from harness.upstream import ProtectedDicomWeb
from gwtest import LoopbackSecretCapture, assert_no_secret, copy_scripts, gateway_orthanc, oauth_server, proxy_request, \
    wait_proxy_definition

SECRET = "policies-client-secret-8c1f"
ALICE_PASSWORD = "alice-orthanc-password-41d"
BOB_PASSWORD = "bob-orthanc-password-7e2"

RAISING_POLICY = """
local M = { name = "raising_policy", version = "1", kind = "policy" }
function M.decide(request)
  -- Fails on the route only, so the test can still learn the route's loopback secret through a
  -- DICOMweb client call (the client stage runs first, in Orthanc's filter).
  if request.stage == "client" then return { allow = true } end
  error("policy bug with a private detail: " .. request.method)
end
return M
"""

SWITCH_ALLOW = """
local M = { name = "switchable", version = "1", kind = "policy" }
function M.decide(request) return { allow = true } end
return M
"""

SWITCH_DENY = """
local M = { name = "switchable", version = "2", kind = "policy" }
function M.decide(request)
  return nil, { code = "POL-099", message = "maintenance window for " .. request.server, status = 503 }
end
return M
"""


class Policies(testing.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.idp = cls.use_class(IdentityProvider(cls.ws, clients=[IdpClient("orthanc-a", secret=SECRET)]))
        cls.primary = cls.use_class(ProtectedDicomWeb(cls.ws, cls.idp, name="primary"))
        cls.secondary = cls.use_class(ProtectedDicomWeb(cls.ws, cls.idp, name="secondary"))
        cls.scripts = copy_scripts(cls.ws)
        (cls.scripts / "policies" / "test").mkdir(parents=True, exist_ok=True)
        (cls.scripts / "policies" / "test" / "raising_policy.lua").write_text(RAISING_POLICY)
        (cls.scripts / "policies" / "test" / "switchable.lua").write_text(SWITCH_ALLOW)
        cls.capture = LoopbackSecretCapture(cls.ws)

        def server(url, mode="proxy", **over):
            return oauth_server(cls.idp, url, SECRET, mode, orthanc_user=("alice", ALICE_PASSWORD), **over)

        servers = {
            "ro": server(cls.primary.dicomweb_url, Policies=["read_only"]),
            "fo": server(None, Policies=["failover"], FailoverCooldownSeconds=2,
                         Targets=[{"Name": "primary", "Url": cls.primary.dicomweb_url},
                                  {"Name": "secondary", "Url": cls.secondary.dicomweb_url}]),
            "acl": server(cls.primary.dicomweb_url, mode="inject", Policies=["user_server_acl"],
                          PolicyConfig={"AllowedUsers": ["alice"]}),
            "acl-proxy": server(cls.primary.dicomweb_url, Policies=["user_server_acl"],
                                PolicyConfig={"AllowedUsers": ["alice"]}),
            "broken": server(cls.primary.dicomweb_url, Policies=["raising_policy"]),
            "switch": server(cls.primary.dicomweb_url, Policies=["switchable"]),
        }
        del servers["fo"]["Url"]
        cls.a = cls.use_class(gateway_orthanc(
            cls.ws, servers=servers, scripts=cls.scripts, users={"alice": ALICE_PASSWORD, "bob": BOB_PASSWORD},
            config=cls.capture.config(), section={"LogLevel": "debug", "WatchScripts": False}))
        for name in ("ro", "fo", "acl-proxy", "broken", "switch"):
            wait_proxy_definition(cls.a, name)
        cls.secrets = {name: cls.capture.secret(cls.a, name) for name in ("ro", "broken", "switch")}

    # -- helpers -------------------------------------------------------------------------------

    def load(self, study):
        ids = [self.a.upload(d)["ID"] for d in study.instances]
        return self.a.get_json(f"/instances/{ids[0]}/study")["ID"]

    def qido(self, server, auth=None):
        return self.a.rest("POST", f"/dicom-web/servers/{server}/qido",
                           json={"Uri": "/studies", "Arguments": {"limit": "5"}}, auth=auth)

    def gets(self, upstream, mark):
        return [e for e in upstream.access_entries()[mark:] if e["method"] == "GET"]

    def test_read_only_refuses_stow_and_allows_qido(self):
        r = self.qido("ro")
        self.assertEqual(r.status, 200, r.text)

        # STOW straight to the route, the way the DICOMweb plugin sends it: 403 with code and reason.
        study = make_study(2, seed=61)
        content_type, body = multipart_related(study.instances)
        mark = self.primary.log_mark()
        r = proxy_request(self.a, "ro", "POST", "studies", secret=self.secrets["ro"], body=iter([body]), chunked=True,
                          headers={"Content-Type": content_type, "Accept": "application/dicom+json"})
        self.assertEqual(r.status, 403, r.text)
        error = r.json()["error"]
        self.assertEqual(error["code"], "POL-010")
        self.assertIn("read-only", error["message"])
        self.assertIn("STOW", error["message"])

        # Through Orthanc's DICOMweb client: refused by the client stage (Orthanc's filter) before
        # any job starts; nothing reaches the upstream.
        jobs = self.a.get_json("/jobs")
        r = self.a.rest("POST", "/dicom-web/servers/ro/stow", json={"Resources": [self.load(study)],
                                                                   "Synchronous": False})
        self.assertEqual(r.status, 403, r.text)
        self.assertEqual(self.a.get_json("/jobs"), jobs)
        time.sleep(0.5)
        self.assertEqual([e for e in self.primary.access_entries()[mark:] if e["method"] == "POST"], [])
        self.assertIn("POL-010", self.a.log_text())

    def test_failover_to_secondary_and_back(self):
        mark_p, mark_s = self.primary.log_mark(), self.secondary.log_mark()
        self.assertEqual(self.qido("fo").status, 200)
        wait_until(lambda: self.gets(self.primary, mark_p), 5, "the QIDO on the primary")
        self.assertEqual(self.gets(self.secondary, mark_s), [])

        self.primary.nginx.stop()
        try:
            # The first request finds the primary unreachable, marks it unhealthy and is sent to the
            # secondary within the same call (a GET, nothing answered yet); later requests go
            # straight to the secondary. No request fails.
            mark_s = self.secondary.log_mark()
            statuses = [self.qido("fo").status for _ in range(3)]
            self.assertEqual(statuses, [200, 200, 200])
            wait_until(lambda: len(self.gets(self.secondary, mark_s)) >= 3, 5, "QIDOs on the secondary")
            self.assertIn("marked unhealthy", self.a.log_text())
            self.assertIn("unreachable, sent to target #2 instead", self.a.log_text())
            # The status route shows what the route observed (within the 2 s cooldown).
            primary = self.fo_targets()["primary"]
            self.assertFalse(primary["healthy"], primary)
            self.assertGreaterEqual(primary["failures"], 1)
            self.assertRegex(primary["lastChange"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
            self.assertTrue(self.fo_targets()["secondary"]["healthy"])
        finally:
            self.primary.nginx.start()

        # After the cooldown (2 s) the primary is probed again and takes the traffic back.
        time.sleep(2.5)
        mark_p = self.primary.log_mark()

        def back_on_primary():
            self.assertEqual(self.qido("fo").status, 200)
            return self.gets(self.primary, mark_p)
        wait_until(back_on_primary, 15, "traffic back on the primary", interval=0.5)
        mark_p, mark_s = self.primary.log_mark(), self.secondary.log_mark()
        self.assertEqual(self.qido("fo").status, 200)
        wait_until(lambda: self.gets(self.primary, mark_p), 5, "the QIDO on the primary")
        self.assertEqual(self.gets(self.secondary, mark_s), [])
        self.assertTrue(self.fo_targets()["primary"]["healthy"])

    def fo_targets(self):
        servers = {s["name"]: s for s in self.a.get_json("/dicomweb-oauth/servers")["servers"]}
        return {t["name"]: t for t in servers["fo"]["targets"]}

    def test_servers_route_lists_policies_and_targets(self):
        servers = {s["name"]: s for s in self.a.get_json("/dicomweb-oauth/servers")["servers"]}
        self.assertEqual(servers["fo"]["policies"], ["failover"])
        self.assertEqual([(t["name"], t["url"]) for t in servers["fo"]["targets"]],
                         [("primary", self.primary.dicomweb_url), ("secondary", self.secondary.dicomweb_url)])
        self.assertEqual(servers["acl"]["policies"], ["user_server_acl"])
        self.assertEqual([t["name"] for t in servers["acl"]["targets"]], ["primary"])
        # Authentication is on and every proxy-mode server has an Orthanc user: no start-up warning.
        self.assertNotIn("CFG-008", self.a.log_text())

    def test_user_acl_in_inject_mode(self):
        def written():
            headers = self.a.get_json("/dicom-web/servers?expand").get("acl", {}).get("HttpHeaders", [])
            return "Authorization" in headers
        wait_until(written, 15, "the inject-mode definition of acl")
        r = self.qido("acl", auth=("alice", ALICE_PASSWORD))
        self.assertEqual(r.status, 200, r.text)
        r = self.qido("acl", auth=("bob", BOB_PASSWORD))
        self.assertEqual(r.status, 403, r.text)
        self.assertIn("POL-013", self.a.log_text())
        self.assertIn("Orthanc user 'bob' may not use server 'acl'", self.a.log_text())

        # A STOW: alice's goes through, bob's is refused before any job starts.
        study = make_study(2, seed=62)
        study_id = self.load(study)
        r = self.a.rest("POST", "/dicom-web/servers/acl/stow", json={"Resources": [study_id], "Synchronous": True},
                        auth=("bob", BOB_PASSWORD))
        self.assertEqual(r.status, 403, r.text)
        r = self.a.rest("POST", "/dicom-web/servers/acl/stow", json={"Resources": [study_id], "Synchronous": True},
                        auth=("alice", BOB_PASSWORD))
        self.assertEqual(r.status, 401, r.text)  # wrong password: Orthanc refuses before any filter
        r = self.a.rest("POST", "/dicom-web/servers/acl/stow", json={"Resources": [study_id], "Synchronous": True},
                        auth=("alice", ALICE_PASSWORD))
        self.assertEqual(r.status, 200, r.text)
        found = self.primary.backend.rest("POST", "/tools/lookup", body=study.study_instance_uid.encode()).json()
        self.assertEqual(len(found), 1)

    def test_user_acl_in_proxy_mode(self):
        # The client stage runs in Orthanc's filter for proxy-mode servers too: the user is known
        # there, not on the route (the DICOMweb plugin's loopback calls carry no Orthanc user).
        self.assertEqual(self.qido("acl-proxy", auth=("alice", ALICE_PASSWORD)).status, 200)
        r = self.qido("acl-proxy", auth=("bob", BOB_PASSWORD))
        self.assertEqual(r.status, 403, r.text)
        self.assertIn("Orthanc user 'bob' may not use server 'acl-proxy'", self.a.log_text())

    def test_policy_error_denies(self):
        r = proxy_request(self.a, "broken", "GET", "studies", secret=self.secrets["broken"],
                          headers={"Accept": "application/dicom+json"})
        self.assertEqual(r.status, 500, r.text)
        error = r.json()["error"]
        self.assertEqual(error["code"], "POL-002")
        self.assertNotIn("private detail", r.text)  # the script's error text is logged, not answered
        self.assertNotEqual(self.qido("broken").status, 200)
        self.assertIn("private detail", self.a.log_text())

    def test_hot_reload_changes_behaviour(self):
        self.assertEqual(self.qido("switch").status, 200)
        path = self.scripts / "policies" / "test" / "switchable.lua"
        try:
            path.write_text(SWITCH_DENY)
            r = self.a.rest("POST", "/dicomweb-oauth/reload")
            self.assertEqual(r.status, 200, r.text)
            version = r.json()["snapshot"]["version"]
            r = proxy_request(self.a, "switch", "GET", "studies", secret=self.secrets["switch"])
            self.assertEqual(r.status, 503, r.text)
            self.assertEqual(r.json()["error"]["code"], "POL-099")
            self.assertIn("maintenance window for switch", r.json()["error"]["message"])
            self.assertEqual(self.a.get_json("/dicomweb-oauth/status")["lua"]["snapshot"]["version"], version)

            # A snapshot without a configured policy is refused; the previous one keeps serving.
            path.unlink()
            r = self.a.rest("POST", "/dicomweb-oauth/reload")
            self.assertEqual(r.status, 422, r.text)
            self.assertEqual(r.json()["error"]["code"], "CFG-002")
            self.assertIn("switchable", r.json()["error"]["message"])
            r = proxy_request(self.a, "switch", "GET", "studies", secret=self.secrets["switch"])
            self.assertEqual(r.status, 503, r.text)
        finally:
            path.write_text(SWITCH_ALLOW)
            r = self.a.rest("POST", "/dicomweb-oauth/reload")
            self.assertEqual(r.status, 200, r.text)
        self.assertEqual(self.qido("switch").status, 200)

    def test_missing_policy_is_a_configuration_error(self):
        servers = {"x": {"Url": self.primary.dicomweb_url, "TokenEndpoint": self.idp.token_url(), "ClientId": "orthanc-a",
                         "ClientSecret": SECRET, "Mode": "proxy", "Policies": ["read_only", "no_such_policy"]}}
        cfg = {"DicomWebOAuth": {"Servers": servers, "ScriptDirectories": [str(self.scripts)]}}
        path = self.ws.path / "missing-policy.json"
        path.write_text(json.dumps(cfg))
        # The CLI gives the plugin's verdict...
        r = subprocess.run([env.cli_path(), "check-config", str(path)], capture_output=True, text=True, timeout=60,
                           env={"PATH": "/usr/bin:/bin"})
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertRegex(r.stdout + r.stderr, r"CFG-002 DicomWebOAuth\.Servers\.x\.Policies\[1\].*no_such_policy")
        # ...and the plugin does not start.
        b = gateway_orthanc(self.ws, name="orthanc-missing-policy", servers=servers, scripts=self.scripts)
        code, log = b.start_expecting_failure()
        self.assertNotEqual(code, 0, log[-2000:])
        self.assertIn("no_such_policy", log)
        self.assertIn("CFG-002", log)

    def test_zz_no_secret_in_logs(self):
        status = self.a.rest("GET", "/dicomweb-oauth/status").text
        assert_no_secret(self, [SECRET, ALICE_PASSWORD, BOB_PASSWORD] + list(self.secrets.values()),
                         self.a.log_text(), status)


if __name__ == "__main__":
    testing.main()
