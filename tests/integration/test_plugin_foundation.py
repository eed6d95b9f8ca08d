#!/usr/bin/python3
"""The plugin in a real Orthanc 1.10.1 next to the DICOMweb plugin: loading, configuration errors,
status/servers/reload routes, Lua 5.4 at run time, hot reload (REST and file watch), a clean stop."""
# gw-test-timeout: 300
import json
import subprocess
import time

from harness import testing, wait_until, env
from gwtest import assert_no_secret, copy_scripts, gateway_orthanc, proxy_request

SECRET = "foundation-client-secret-8f2b"
PASSWORD = "foundation-dicomweb-password-71c"


def keycloak_server(**over):
    server = {
        "Url": "http://127.0.0.1:9/dicom-web/",
        "TokenEndpoint": "http://127.0.0.1:9/realms/hospital/protocol/openid-connect/token",
        "ClientId": "orthanc",
        "ClientSecret": SECRET,
        "Scope": "dicom",
        "Password": PASSWORD,
        "Username": "gateway",
    }
    server.update(over)
    return server


class PluginLoads(testing.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.scripts = copy_scripts(cls.ws)
        cls.orthanc = cls.use_class(gateway_orthanc(
            cls.ws, scripts=cls.scripts,
            servers={"keycloak": keycloak_server(),
                     "azure": keycloak_server(
                         TokenEndpoint="https://login.microsoftonline.com/tenant/oauth2/v2.0/token",
                         Url="https://ws-dicom.dicom.azurehealthcareapis.com/v2/",
                         Scope="https://dicom.healthcareapis.azure.com/.default",
                         TenantId="tenant", Mode="inject")},
            section={"WatchScripts": True},
            config={"ExecuteLuaEnabled": True}))

    def test_status_reports_lua_54_and_snapshot(self):
        r = self.orthanc.rest("GET", "/dicomweb-oauth/status")
        self.assertEqual(r.status, 200, r.text)
        body = r.json()
        self.assertIn(body["status"], ("ok", "degraded"))
        # Debian's Orthanc links Lua 5.3; the plugin must run its own 5.4.
        self.assertEqual(body["lua"]["version"], "Lua 5.4")
        self.assertGreaterEqual(body["lua"]["snapshot"]["version"], 1)
        self.assertRegex(body["lua"]["snapshot"]["digest"], "^[0-9a-f]{64}$")
        names = {s["name"] for s in body["lua"]["snapshot"]["scripts"]}
        self.assertIn("client_credentials", names)
        self.assertEqual(body["servers"]["configured"], 2)
        self.assertEqual(set(body["servers"]["states"]), {"keycloak", "azure"})

    def test_orthanc_lua_is_still_53(self):
        # Orthanc's own Lua engine is untouched by our static 5.4.
        r = self.orthanc.rest("POST", "/tools/execute-script", body=b"print(_VERSION)")
        self.assertEqual(r.status, 200, r.text)
        self.assertIn("Lua 5.3", r.text)

    def test_servers_lists_without_secrets(self):
        r = self.orthanc.rest("GET", "/dicomweb-oauth/servers")
        self.assertEqual(r.status, 200, r.text)
        servers = {s["name"]: s for s in r.json()["servers"]}
        self.assertEqual(servers["keycloak"]["provider"], "client_credentials")
        self.assertEqual(servers["keycloak"]["url"], "http://127.0.0.1:9/dicom-web/")
        self.assertEqual(servers["azure"]["mode"], "inject")
        self.assertTrue(servers["keycloak"]["hasClientSecret"])
        self.assertEqual(servers["keycloak"]["policies"], [])
        self.assertEqual(servers["keycloak"]["targets"], [{"name": "primary", "url": "http://127.0.0.1:9/dicom-web/"}])
        assert_no_secret(self, [SECRET, PASSWORD], r.body)

    def test_wrong_methods_get_405(self):
        for method, path in [("POST", "/dicomweb-oauth/status"), ("DELETE", "/dicomweb-oauth/servers"),
                             ("GET", "/dicomweb-oauth/reload"), ("PUT", "/dicomweb-oauth/reload")]:
            r = self.orthanc.rest(method, path, body=b"{}" if method in ("POST", "PUT") else None)
            self.assertEqual(r.status, 405, f"{method} {path}: {r.status}")

    def test_reload_refuses_broken_script_and_keeps_serving(self):
        before = self.orthanc.get_json("/dicomweb-oauth/status")["lua"]["snapshot"]
        broken = self.scripts / "providers" / "zz_broken.lua"
        broken.write_text("return {\n  name = 'zz_broken',\n  version = '1',\n  kind = 'provider'\n  acquire = 1\n}\n")
        try:
            r = self.orthanc.rest("POST", "/dicomweb-oauth/reload")
            self.assertEqual(r.status, 422, r.text)
            err = r.json()["error"]
            self.assertEqual(err["code"], "LUA-001")
            self.assertIn("zz_broken.lua:5", err["message"])
            self.assertEqual(r.json()["serving"]["version"], before["version"])
            status = self.orthanc.get_json("/dicomweb-oauth/status")
            self.assertEqual(status["lua"]["snapshot"]["digest"], before["digest"])
            self.assertFalse(status["lua"]["lastReload"]["ok"])
            self.assertEqual(status["status"], "degraded")
            # A contract error names the file and the field.
            broken.write_text("return { name = 'zz_broken', version = '1', kind = 'provider' }\n")
            r = self.orthanc.rest("POST", "/dicomweb-oauth/reload")
            self.assertEqual(r.status, 422, r.text)
            self.assertEqual(r.json()["error"]["code"], "LUA-003")
            self.assertIn("zz_broken.lua", r.json()["error"]["message"])
        finally:
            broken.unlink()
        r = self.orthanc.rest("POST", "/dicomweb-oauth/reload")
        self.assertEqual(r.status, 200, r.text)
        self.assertGreater(r.json()["snapshot"]["version"], before["version"])
        self.assertTrue(self.orthanc.get_json("/dicomweb-oauth/status")["lua"]["lastReload"]["ok"])

    def test_reload_refuses_snapshot_without_a_needed_provider(self):
        provider = self.scripts / "providers" / "client_credentials.lua"
        saved = provider.read_text()
        provider.write_text(saved.replace('name = "client_credentials"', 'name = "renamed_provider"'))
        try:
            r = self.orthanc.rest("POST", "/dicomweb-oauth/reload")
            self.assertEqual(r.status, 422, r.text)
            self.assertEqual(r.json()["error"]["code"], "CFG-002")
            self.assertIn("client_credentials", r.json()["error"]["message"])
        finally:
            provider.write_text(saved)
        self.assertEqual(self.orthanc.rest("POST", "/dicomweb-oauth/reload").status, 200)

    def test_file_watch_publishes_new_snapshot(self):
        before = self.orthanc.get_json("/dicomweb-oauth/status")["lua"]["snapshot"]["version"]
        extra = self.scripts / "providers" / "watch_probe.lua"
        extra.write_text("return { name = 'watch_probe', version = '1', kind = 'provider',\n"
                         "  acquire = function(ctx) return nil, 'not a real provider' end }\n")
        try:
            def published():
                snap = self.orthanc.get_json("/dicomweb-oauth/status")["lua"]["snapshot"]
                return snap if any(s["name"] == "watch_probe" for s in snap["scripts"]) else None
            snap = wait_until(published, 10, "the file watch to publish the new script")
            self.assertGreater(snap["version"], before)
            status = self.orthanc.get_json("/dicomweb-oauth/status")
            self.assertEqual(status["lua"]["lastReload"]["trigger"], "file-watch")
        finally:
            extra.unlink()

    def test_no_secret_in_orthanc_log(self):
        self.orthanc.rest("GET", "/dicomweb-oauth/status")
        assert_no_secret(self, [SECRET, PASSWORD], self.orthanc.log_text())


class InvalidConfigurationRefused(testing.TestCase):

    def test_every_problem_logged_with_code_and_orthanc_refuses_to_start(self):
        orthanc = gateway_orthanc(
            self.ws, name="orthanc-bad",
            servers={
                "missing-url": {"TokenEndpoint": "https://idp.example.com/token", "ClientId": "a",
                                "ClientSecret": SECRET},
                "bad-values": keycloak_server(Url="ftp://example.com/", TokenRefreshBufferSeconds=-5,
                                              ProviderType="nonsense"),
                "unset-var": keycloak_server(ClientSecret="${GW_TEST_UNSET_SECRET}"),
            })
        code, log = orthanc.start_expecting_failure()
        self.assertNotEqual(code, 0)
        self.assertRegex(log, r"CFG-001 DicomWebOAuth\.Servers\.missing-url\.Url")
        self.assertRegex(log, r"CFG-002 DicomWebOAuth\.Servers\.bad-values\.Url")
        self.assertRegex(log, r"CFG-002 DicomWebOAuth\.Servers\.bad-values\.TokenRefreshBufferSeconds")
        self.assertRegex(log, r"CFG-002 DicomWebOAuth\.Servers\.bad-values\.ProviderType")
        # Orthanc turned the unset variable into "": we name the key and the variable.
        self.assertRegex(log, r"CFG-003 DicomWebOAuth\.Servers\.unset-var\.ClientSecret")
        self.assertIn("GW_TEST_UNSET_SECRET", log)
        self.assertIn("the plugin refuses to start", log)
        assert_no_secret(self, [SECRET, PASSWORD], log)

    def test_set_variable_is_accepted(self):
        orthanc = self.use(gateway_orthanc(
            self.ws, name="orthanc-var",
            servers={"k": keycloak_server(ClientSecret="${GW_TEST_SECRET}")},
            env_vars={"GW_TEST_SECRET": "a-secret-from-the-environment"}))
        self.assertEqual(orthanc.rest("GET", "/dicomweb-oauth/status").status, 200)
        assert_no_secret(self, ["a-secret-from-the-environment"], orthanc.log_text(),
                         orthanc.rest("GET", "/dicomweb-oauth/servers").body)

    def test_broken_script_at_start_is_refused(self):
        scripts = copy_scripts(self.ws, "lua-broken")
        (scripts / "providers" / "bad.lua").write_text("return {\n name = 'bad',\n")
        orthanc = gateway_orthanc(self.ws, name="orthanc-badscript", scripts=scripts,
                                  servers={"k": keycloak_server()})
        code, log = orthanc.start_expecting_failure()
        self.assertNotEqual(code, 0)
        self.assertIn("LUA-001", log)
        self.assertIn("bad.lua:", log)

    def test_without_section_plugin_stays_disabled(self):
        orthanc = gateway_orthanc(self.ws, name="orthanc-nosection")
        del orthanc.config["DicomWebOAuth"]
        self.use(orthanc)
        body = orthanc.get_json("/dicomweb-oauth/status")
        self.assertEqual(body["status"], "disabled")


class CheckConfigCli(testing.TestCase):
    """`dicomweb-oauth check-config` gives the plugin's verdict, offline."""

    def run_cli(self, config, *extra, env_vars=None):
        path = self.ws.path / f"cli-{time.monotonic_ns()}.json"
        path.write_text(json.dumps(config))
        return subprocess.run([env.cli_path(), "check-config", str(path), *extra], capture_output=True,
                              text=True, timeout=60, env={"PATH": "/usr/bin:/bin", **(env_vars or {})})

    def test_valid_configuration(self):
        cfg = {"DicomWebOAuth": {"Servers": {"k": keycloak_server()},
                                 "ScriptDirectories": [str(env.SOURCE_DIR / "lua")]}}
        r = self.run_cli(cfg)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        assert_no_secret(self, [SECRET, PASSWORD], r.stdout, r.stderr)

    def test_invalid_configuration_has_the_plugin_messages(self):
        cfg = {"DicomWebOAuth": {"Servers": {"k": keycloak_server(ClientSecret="${GW_CLI_UNSET}",
                                                                  Url="not a url")},
                                 "ScriptDirectories": [str(env.SOURCE_DIR / "lua")]}}
        r = self.run_cli(cfg)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        out = r.stdout + r.stderr
        self.assertRegex(out, r"CFG-002 DicomWebOAuth\.Servers\.k\.Url")
        self.assertRegex(out, r"CFG-003 DicomWebOAuth\.Servers\.k\.ClientSecret")
        self.assertIn("GW_CLI_UNSET", out)

    def test_broken_script_fails_the_check(self):
        scripts = copy_scripts(self.ws, "lua-cli")
        (scripts / "providers" / "client_credentials.lua").write_text("return 42\n")
        cfg = {"DicomWebOAuth": {"Servers": {"k": keycloak_server()}, "ScriptDirectories": [str(scripts)]}}
        r = self.run_cli(cfg)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("LUA-003", r.stdout + r.stderr)



class PluginStops(testing.TestCase):
    """Finalize retires the plugin's one runtime object (docs/architecture.md, "Stop"): the inject glue,
    the proxy route and the gateway are torn down in order after callbacks of every kind ran, and
    Orthanc exits cleanly."""

    def test_stop_after_every_kind_of_callback_is_clean(self):
        audit_file = self.ws.dir("audit-stop") / "audit.jsonl"
        orthanc = self.use(gateway_orthanc(
            self.ws, name="orthanc-stop",
            servers={"via-proxy": keycloak_server(Mode="proxy"), "via-inject": keycloak_server(Mode="inject")},
            section={"WatchScripts": True, "Audit": {"File": str(audit_file), "FsyncIntervalMs": 0}}))
        # A REST route, the incoming filter (every request), the proxy route, Orthanc's metrics refresh.
        self.assertEqual(orthanc.get_json("/dicomweb-oauth/status")["servers"]["configured"], 2)
        refused = proxy_request(orthanc, "via-proxy", "GET", "studies")  # without the loopback secret
        self.assertEqual(refused.status, 403, refused.text)
        self.assertEqual(refused.json()["error"]["code"], "PXY-006")
        self.assertEqual(orthanc.rest("GET", "/tools/metrics-prometheus").status, 200)

        code = orthanc.stop()
        log = orthanc.log_text()
        self.assertEqual(code, 0, log[-3000:])
        self.assertIn("[dicomweb-oauth] stopped", log)
        self.assertNotIn("GW-500", log)
        # The audit trail was flushed and closed by the gateway's teardown: the refusal is on disk.
        records = [json.loads(line) for line in audit_file.read_text(encoding="utf-8").splitlines()]
        self.assertTrue(any(r["event"] == "proxy.request" and r["server"] == "via-proxy" for r in records),
                        [r["event"] for r in records])
        assert_no_secret(self, [SECRET, PASSWORD], log)

    def test_disabled_plugin_stops_cleanly(self):
        orthanc = gateway_orthanc(self.ws, name="orthanc-stop-disabled", section={"Enabled": False})
        self.use(orthanc)
        self.assertEqual(orthanc.get_json("/dicomweb-oauth/status")["status"], "disabled")
        code = orthanc.stop()
        log = orthanc.log_text()
        self.assertEqual(code, 0, log[-3000:])
        self.assertIn("[dicomweb-oauth] stopped", log)


if __name__ == "__main__":
    testing.main()
