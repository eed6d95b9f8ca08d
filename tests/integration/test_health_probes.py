#!/usr/bin/python3
"""Health probes for orchestrators: /dicomweb-oauth/health/{live,ready,startup} in a real Orthanc,
with Orthanc authentication off and on. Under authentication the probes authenticate as the
Health.ProbeUser, which the gateway's incoming filter confines to the three health routes."""
# gw-test-timeout: 240
from harness import testing, wait_until
from harness.idp import IdentityProvider, IdpClient
from gwtest import assert_no_secret, gateway_orthanc

SECRET = "health-probe-client-secret-4b0c"
ADMIN_PASSWORD = "health-admin-pw-6f1"
PROBE_PASSWORD = "health-probe-pw-2d7"
PROBES = ("live", "ready", "startup")


def server(idp, client="orthanc-a", **over):
    s = {"Url": "http://127.0.0.1:9/dicom-web/", "TokenEndpoint": idp.token_url(), "ClientId": client,
         "ClientSecret": SECRET, "Scope": "dicomweb", "Resource": "urn:gw-test:dicomweb"}
    s.update(over)
    return s


class HealthProbes(testing.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.idp = cls.use_class(IdentityProvider(cls.ws, clients=[IdpClient("orthanc-a", secret=SECRET)]))
        dead = {"TokenEndpoint": "http://127.0.0.1:9/token",
                "ResilienceConfig": {"RetryMaxAttempts": 1}}
        cls.open = cls.use_class(gateway_orthanc(
            cls.ws, name="open",
            servers={"good": server(cls.idp), "dead": server(cls.idp, client="orthanc-dead", **dead)},
            section={"Health": {}}))  # acquire at start (the default once the section is there)
        cls.lazy = cls.use_class(gateway_orthanc(
            cls.ws, name="lazy",  # proxy mode: inject mode needs its token at start to write the definition
            servers={"dead": server(cls.idp, client="orthanc-dead", Mode="proxy", **dead)}))
        cls.optional = cls.use_class(gateway_orthanc(
            cls.ws, name="optional",
            servers={"good": server(cls.idp), "dead": server(cls.idp, client="orthanc-dead", **dead)},
            section={"Health": {"OptionalServers": ["dead"]}}))
        cls.secured = cls.use_class(gateway_orthanc(
            cls.ws, name="secured", users={"admin": ADMIN_PASSWORD, "probe": PROBE_PASSWORD},
            servers={"good": server(cls.idp)}, section={"Health": {"ProbeUser": "probe"}}))
        cls.idle = cls.use_class(gateway_orthanc(cls.ws, name="idle"))

    def probe(self, orthanc, name, auth=None):
        return orthanc.rest("GET", f"/dicomweb-oauth/health/{name}", auth=auth)

    def wait_started(self, orthanc, auth=None):
        wait_until(lambda: self.probe(orthanc, "startup", auth).status == 200, timeout=60,
                   what="startup probe passes")

    def test_live_passes_while_an_idp_is_down(self):
        r = self.probe(self.open, "live")
        self.assertEqual(r.status, 200, r.text)
        self.assertEqual(r.json()["status"], "pass")

    def test_startup_ends_when_first_acquisitions_ended_and_ready_needs_every_required_server(self):
        self.wait_started(self.open)
        r = self.probe(self.open, "ready")
        self.assertEqual(r.status, 503, r.text)
        body = r.json()
        self.assertEqual(body["status"], "fail")
        self.assertEqual(body["servers"], {"good": "ok", "dead": "failing"})
        for name in PROBES:
            assert_no_secret(self, [SECRET], self.probe(self.open, name).text)

    def test_an_optional_server_may_be_degraded_while_ready(self):
        self.wait_started(self.optional)
        r = self.probe(self.optional, "ready")
        self.assertEqual(r.status, 200, r.text)
        self.assertEqual(r.json()["servers"]["dead"], "failing")

    def test_without_a_health_section_tokens_come_on_first_use_and_idle_servers_hold_nothing(self):
        for name in PROBES:
            r = self.probe(self.lazy, name)
            self.assertEqual(r.status, 200, f"{name}: {r.text}")
        self.assertEqual(self.probe(self.lazy, "ready").json()["servers"], {"dead": "idle"})
        self.assertEqual(self.idp.token_requests("orthanc-dead"), 0)

    def test_unknown_probe_is_404(self):
        r = self.open.rest("GET", "/dicomweb-oauth/health/deep")
        self.assertEqual(r.status, 404, r.text)
        self.assertIn("GW-404", r.text)

    def test_under_authentication_probes_need_credentials(self):
        for name in PROBES:
            self.assertEqual(self.probe(self.secured, name, auth=False).status, 401)

    def test_the_probe_user_reaches_the_health_routes(self):
        self.wait_started(self.secured, auth=("probe", PROBE_PASSWORD))
        for name in PROBES:
            r = self.probe(self.secured, name, auth=("probe", PROBE_PASSWORD))
            self.assertEqual(r.status, 200, f"{name}: {r.status} {r.text}")

    def test_the_probe_user_is_confined_to_the_health_routes(self):
        probe = ("probe", PROBE_PASSWORD)
        for method, path in [("GET", "/patients"), ("GET", "/system"), ("GET", "/dicomweb-oauth/status"),
                             ("POST", "/dicomweb-oauth/servers/good/test"), ("POST", "/dicomweb-oauth/reload"),
                             ("GET", "/dicom-web/servers"), ("DELETE", "/dicomweb-oauth/health/live"),
                             ("GET", "/dicomweb-oauth/health/live/../../../patients"),
                             ("GET", "/dicomweb-oauth/health/%6c%69%76%65/../../status"),
                             ("GET", "/tools/execute-script")]:
            with self.subTest(method=method, path=path):
                r = self.secured.rest(method, path, auth=probe)
                self.assertEqual(r.status, 403, f"{method} {path}: {r.status} {r.text[:200]}")
        self.assertIn("may only call /dicomweb-oauth/health", self.secured.log_text())
        # Other users keep their access.
        self.assertEqual(self.secured.rest("GET", "/patients", auth=("admin", ADMIN_PASSWORD)).status, 200)

    def test_an_idle_plugin_never_fails_a_probe(self):
        for name in PROBES:
            r = self.probe(self.idle, name)
            self.assertEqual(r.status, 200, r.text)


if __name__ == "__main__":
    testing.main()
