#!/usr/bin/python3
"""examples/custom-provider: a provider added as a Lua file, no rebuild. The example's
configuration (plugin paths and hosts replaced by the test's) runs in a real Orthanc against a
local in-house token service that is not OAuth2; a study goes to an upstream that admits only that
service's token. `check-config` accepts the example as shipped, and its secret comes from env:.

A second custom provider with a secret key of its own (`ServiceKey`, declared `secret` in its
contract's schema, not a key the gateway knows) proves that a custom provider gets the shipped ones'
checks: its misspelt key is warned with a hint, a missing required key refuses the configuration,
its secret is resolved from env: and never printed, not even when the script logs it."""
# gw-test-timeout: 300
import json
import shutil
import subprocess

from harness import env, testing
from harness.dicom import make_study
from harness.upstream import ProtectedDicomWeb
from gwtest import InProcessServer, QuietHandler, assert_no_secret, gateway_orthanc

EXAMPLE = env.SOURCE_DIR / "examples" / "custom-provider"
SECRET = "token-service-secret-41f9e2"
TOKEN = "in-house-token-7d3c9b11a0"

# A custom provider whose secret key is its own; it logs the key carelessly, which the gateway masks.
KEYED_PROVIDER = """
local oauth = gw.library("oauth")
return {
  name = "keyed_service", version = "1.0.0", kind = "provider",
  schema = {
    type = "object",
    properties = {
      TokenEndpoint = { type = "string" },
      ClientId = { type = "string" },
      ServiceKey = { type = "string", secret = true },
      Audience = { type = "string" },
    },
    required = { "TokenEndpoint", "ClientId", "ServiceKey" },
  },
  acquire = function(ctx)
    local c = ctx.config
    gw.log("info", "keyed_service authenticates with " .. c.ServiceKey)
    local response, err = gw.http.request {
      method = "POST", url = c.TokenEndpoint, timeout_ms = 5000, tls = oauth.tls_options(c),
      headers = { ["Content-Type"] = "application/json" },
      body = gw.json.encode { client = c.ClientId, secret = c.ServiceKey, audience = c.Audience or "keyed" },
    }
    if not response then return oauth.fail(err.code, err.message, 503) end
    if response.status ~= 200 then return oauth.fail("AUTH-001", "refused " .. c.ServiceKey, 401) end
    local body = oauth.decode_object(response.body)
    return { access_token = body.token, token_type = "Bearer", expires_in = body.ttl }
  end,
}
"""


class TokenService(InProcessServer):
    """The in-house service: POST JSON {client, secret, audience} -> {token, ttl}; 401 otherwise."""

    def __init__(self, ws):
        self.calls = []
        super().__init__(ws)

    @property
    def token_url(self):
        return self.url + "/v1/issue"

    class Handler(QuietHandler):
        def do_POST(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
            self.server.owner.calls.append({k: v for k, v in body.items() if k != "secret"})
            ok = body.get("client") == "orthanc-radiology" and body.get("secret") == SECRET
            self.answer(200 if ok else 401,
                        json.dumps({"token": TOKEN, "ttl": 600} if ok else {"error": "denied"}).encode())


class CustomProviderExample(testing.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.service = cls.use_class(TokenService(cls.ws))
        cls.keyed_service = cls.use_class(TokenService(cls.ws))  # its own, so each records its calls
        cls.upstream = cls.use_class(ProtectedDicomWeb(cls.ws, auth="static", static_token=TOKEN))
        # The operator's step: drop the script into a folder of ScriptDirectories.
        custom = cls.ws.dir("custom-lua")
        shutil.copytree(EXAMPLE / "lua", custom, dirs_exist_ok=True)
        shipped = json.loads((EXAMPLE / "orthanc.json").read_text())["DicomWebOAuth"]
        server = dict(shipped["Servers"]["research-archive"])
        server.update({"Url": cls.upstream.dicomweb_url, "TokenEndpoint": cls.service.token_url})
        (custom / "providers" / "keyed_service.lua").write_text(KEYED_PROVIDER)
        cls.keyed = {"Url": cls.upstream.dicomweb_url, "Provider": "keyed_service",
                     "TokenEndpoint": cls.keyed_service.token_url,
                     "ClientId": "orthanc-radiology", "ServiceKey": "env:TOKEN_SERVICE_SECRET", "Audiense": "keyed"}
        cls.custom = custom
        cls.a = cls.use_class(gateway_orthanc(
            cls.ws, servers={"research-archive": server, "keyed": cls.keyed},
            section={"ScriptDirectories": [str(env.SOURCE_DIR / "lua"), str(custom)]},
            env_vars={"TOKEN_SERVICE_SECRET": SECRET}))

    def test_token_acquired_through_the_custom_script(self):
        r = self.a.rest("POST", "/dicomweb-oauth/servers/research-archive/test")
        self.assertEqual(r.status, 200, r.text)
        self.assertEqual(r.json()["provider"], "token_service")
        self.assertEqual(self.service.calls[-1], {"client": "orthanc-radiology", "audience": "research-archive"})
        assert_no_secret(self, [SECRET, TOKEN], r.text, self.a.log_text())

    def test_study_reaches_an_upstream_that_admits_only_that_token(self):
        study = make_study(4, seed=91)
        ids = [self.a.upload(d)["ID"] for d in study.instances]
        study_id = self.a.get_json(f"/instances/{ids[0]}/study")["ID"]
        r = self.a.rest("POST", "/dicom-web/servers/research-archive/stow",
                        json={"Resources": [study_id], "Synchronous": True})
        self.assertEqual(r.status, 200, r.text)
        self.assertEqual(self.upstream.backend.study_hashes(study.study_instance_uid), study.sha256_by_sop)

    def test_check_config_accepts_the_example_as_shipped(self):
        argv = [env.cli_path(), "check-config", str(EXAMPLE / "orthanc.json"),
                "--scripts-dir", str(env.SOURCE_DIR / "lua"), "--scripts-dir", str(EXAMPLE / "lua")]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                              env={"PATH": "/usr/bin:/bin", "TOKEN_SERVICE_SECRET": SECRET})
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        # Without the variable, the env: reference fails closed and names the variable, not a value.
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
        self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
        self.assertIn("CFG-007", proc.stdout + proc.stderr)
        self.assertIn("TOKEN_SERVICE_SECRET", proc.stdout + proc.stderr)


    def test_own_secret_key_resolved_from_env_and_never_printed(self):
        r = self.a.rest("POST", "/dicomweb-oauth/servers/keyed/test")
        self.assertEqual(r.status, 200, r.text)
        self.assertEqual(r.json()["provider"], "keyed_service")
        # The token service got the secret (it answers 200 only to it); the script's log line was masked.
        self.assertEqual(self.keyed_service.calls[-1], {"client": "orthanc-radiology", "audience": "keyed"})
        log = self.a.wait_log("keyed_service authenticates with ")
        servers = self.a.rest("GET", "/dicomweb-oauth/servers")
        assert_no_secret(self, [SECRET, TOKEN], r.text, log, servers.text)

    def test_misspelt_key_of_a_custom_provider_is_warned_with_a_hint(self):
        self.a.wait_log("CFG-004 DicomWebOAuth.Servers.keyed.Audiense: unknown key, ignored; did you mean `Audience`?")

    def check_config(self, servers):
        config = self.ws.dir("check-keyed") / "orthanc.json"
        config.write_text(json.dumps({"DicomWebOAuth": {"Servers": servers}}))
        argv = [env.cli_path(), "check-config", str(config),
                "--scripts-dir", str(env.SOURCE_DIR / "lua"), "--scripts-dir", str(self.custom)]
        return subprocess.run(argv, capture_output=True, text=True, timeout=60,
                              env={"PATH": "/usr/bin:/bin", "TOKEN_SERVICE_SECRET": SECRET})

    def test_check_config_refuses_a_missing_required_key_of_a_custom_provider(self):
        ok = self.check_config({"keyed": self.keyed})
        self.assertEqual(ok.returncode, 0, ok.stdout + ok.stderr)
        self.assertIn("did you mean `Audience`?", ok.stdout)
        missing = {k: v for k, v in self.keyed.items() if k != "ServiceKey"}
        proc = self.check_config({"keyed": missing})
        self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
        self.assertIn("error CFG-001 DicomWebOAuth.Servers.keyed.ServiceKey: required by the keyed_service provider",
                      proc.stdout)
        assert_no_secret(self, [SECRET], ok.stdout, ok.stderr, proc.stdout, proc.stderr)


if __name__ == "__main__":
    testing.main()
