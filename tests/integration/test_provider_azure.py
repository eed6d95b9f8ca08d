#!/usr/bin/python3
"""Azure identity through the real plugin in Orthanc and through the CLI, against local services that
follow Microsoft's documented protocols (tests/integration/harness/azure.py): Entra ID v2 with a
client secret and with a certificate (private_key_jwt, x5t), TenantId-built endpoints and the
authority host override, managed identity over IMDS (system- and user-assigned, the Python plugin's
configuration unchanged, the 410 maintenance retry), App Service / Container Apps, AKS workload
identity (projected token re-read), the examples/azure configurations, and a study sent through
Orthanc's own DICOMweb client to an upstream that only admits the token the fake IMDS issued."""
# gw-test-timeout: 400
import json
import re
import subprocess
import time

from harness import Pki, env, testing
from harness.azure import FakeAppService, FakeEntra, FakeImds, FakeKeyVault, projected_token
from harness.dicom import make_study
from harness.upstream import ProtectedDicomWeb
from gwtest import assert_no_secret, gateway_orthanc

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
DICOM_SCOPE = "https://dicom.healthcareapis.azure.com/.default"
DICOM_RESOURCE = "https://dicom.healthcareapis.azure.com"
SECRET = "entra-client-secret-" + "k7" * 10
UNREACHABLE = "http://127.0.0.1:9/dicom-web/"  # never contacted: token-only servers
K8S_ISSUER = "https://oidc.prod-aks.azure.com/00000000-1111-2222-3333-444444444444/"
K8S_SUBJECT = "system:serviceaccount:dicom:orthanc"
RETRY_ID = "8f4d2c1a-0000-4000-8000-00000000c003"  # the identity of the 410 tests
GONE_ID = "8f4d2c1a-0000-4000-8000-00000000d004"
USER_ASSIGNED = ("8f4d2c1a-0000-4000-8000-00000000a001", "1b2c3d4e-0000-4000-8000-00000000b002",
                 "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg/providers/"
                 "Microsoft.ManagedIdentity/userAssignedIdentities/orthanc")


def call_test(test, orthanc, name, expect=200):
    r = orthanc.rest("POST", f"/dicomweb-oauth/servers/{name}/test", json={"Fresh": True})
    test.assertEqual(r.status, expect, f"{name}: {r.text}")
    return r.json()


class AzureInOrthanc(testing.TestCase):
    """One Orthanc, one fake Entra, one fake IMDS; the IMDS token opens the protected upstream."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pki = Pki(cls.ws, name="azure-pki")
        cls.entra = cls.use_class(FakeEntra(cls.ws, cls.pki))
        cls.imds = cls.use_class(FakeImds(cls.ws))
        cls.entra.add_secret_client("app-secret", SECRET)
        cls.cert = cls.pki.client_cert("entra-app-cert")
        cls.entra.add_certificate_client("app-cert", cls.cert.cert)
        cls.imds.add_user_assigned(*USER_ASSIGNED)
        cls.imds.add_user_assigned(RETRY_ID, "o-retry", "/r/retry")
        cls.imds.add_user_assigned(GONE_ID, "o-gone", "/r/gone")
        cls.imds.resources.add("https://vault.azure.net")
        cls.vault = cls.use_class(FakeKeyVault(cls.ws, cls.imds))
        cls.vault.secrets["entra-client-secret"] = SECRET
        cls.upstream = cls.use_class(ProtectedDicomWeb(cls.ws, auth="static", static_token=cls.imds.token))
        entra = {"ProviderType": "azure", "TenantId": TENANT, "Scope": DICOM_SCOPE,
                 "CaBundle": str(cls.pki.ca_file), "Url": UNREACHABLE, "Mode": "proxy"}
        servers = {
            # The Python plugin's managed identity configuration, keys exactly as it documents them.
            "mi": {"ProviderType": "azuremanagedidentity", "Url": cls.upstream.dicomweb_url,
                   "Scope": DICOM_SCOPE},
            "mi-client-id": {"ProviderType": "azuremanagedidentity", "Url": UNREACHABLE, "Mode": "proxy",
                             "ClientId": USER_ASSIGNED[0]},
            "mi-object-id": {"ProviderType": "azuremanagedidentity", "Url": UNREACHABLE, "Mode": "proxy",
                             "ObjectId": USER_ASSIGNED[1], "Resource": DICOM_RESOURCE},
            "mi-resource-id": {"ProviderType": "azuremanagedidentity", "Url": UNREACHABLE, "Mode": "proxy",
                               "ManagedIdentityResourceId": USER_ASSIGNED[2]},
            "mi-unknown": {"ProviderType": "azuremanagedidentity", "Url": UNREACHABLE, "Mode": "proxy",
                           "ClientId": "00000000-dead-4000-8000-000000000000"},
            "mi-retry": {"ProviderType": "azuremanagedidentity", "Url": UNREACHABLE, "Mode": "proxy",
                         "ImdsEndpoint": cls.imds.endpoint, "ClientId": RETRY_ID,
                         "ImdsRetry": {"GoneRetryInterval": 0.3, "GoneRetrySeconds": 2, "InitialDelay": 0.1}},
            "mi-gone": {"ProviderType": "azuremanagedidentity", "Url": UNREACHABLE, "Mode": "proxy",
                        "ClientId": GONE_ID,
                        "ImdsRetry": {"GoneRetryInterval": 0.3, "GoneRetrySeconds": 2}},
            "entra-secret": dict(entra, ClientId="app-secret", ClientSecret=SECRET),
            "entra-cert": dict(entra, ClientId="app-cert", ClientAuthMethod="private_key_jwt",
                               PrivateKeyFile=str(cls.cert.key), ClientCertificate=str(cls.cert.cert),
                               AuthorityHost=cls.entra.authority),
            "entra-wrong": dict(entra, ClientId="app-secret", ClientSecret="not-the-secret-" + "x" * 12),
            # The secret lives in Key Vault, read with the managed identity at start-up.
            "entra-keyvault": dict(entra, ClientId="app-secret",
                                   ClientSecret="keyvault:" + cls.vault.secret_url("entra-client-secret")),
        }
        cls.orthanc = cls.use_class(gateway_orthanc(cls.ws, servers=servers, env_vars={
            # The Azure SDK's own overrides: where IMDS and the Entra authority are.
            "AZURE_POD_IDENTITY_AUTHORITY_HOST": cls.imds.host,
            "AZURE_AUTHORITY_HOST": cls.entra.authority,
            # The local vault is plain http on loopback: admitted only with this test switch.
            "DICOMWEB_OAUTH_KEYVAULT_ALLOW_HTTP_LOOPBACK": "1",
        }))
        cls.vault_reads_at_start = [r for r in cls.vault.requests() if r["status"] == 200]

    def imds_requests(self, **query):
        return [r for r in self.imds.requests() if all(r["query"].get(k) == v for k, v in query.items())]

    def test_python_plugin_configuration_gets_an_imds_token(self):
        before = len(self.imds.requests())
        body = call_test(self, self.orthanc, "mi")
        self.assertTrue(body["ok"])
        self.assertEqual(body["provider"], "azure_managed_identity")
        self.assertGreater(body["expiresInSeconds"], 3000)
        last = self.imds.requests()[-1]
        self.assertEqual(len(self.imds.requests()), before + 1)
        self.assertEqual(last["status"], 200)
        self.assertEqual(last["identity"], "system")
        self.assertEqual(last["query"], {"api-version": "2018-02-01", "resource": DICOM_RESOURCE})

    def test_user_assigned_identities(self):
        for server, key, value in (("mi-client-id", "client_id", USER_ASSIGNED[0]),
                                   ("mi-object-id", "object_id", USER_ASSIGNED[1]),
                                   ("mi-resource-id", "msi_res_id", USER_ASSIGNED[2])):
            with self.subTest(server=server):
                self.assertTrue(call_test(self, self.orthanc, server)["ok"])
                last = self.imds.requests()[-1]
                self.assertEqual(last["status"], 200)
                self.assertEqual(last["identity"], value)
                self.assertEqual(last["query"][key], value)

    def test_unknown_identity_is_auth_001_with_imds_words(self):
        body = call_test(self, self.orthanc, "mi-unknown", expect=503)
        self.assertFalse(body["ok"])
        self.assertIn("AUTH-001", json.dumps(body))
        self.assertIn("Identity not found", body["error"]["message"])

    def test_410_maintenance_is_retried_until_imds_answers(self):
        before = len(self.imds.requests())
        self.imds.fail_next(410, 3, client_id=RETRY_ID)
        started = time.monotonic()
        body = call_test(self, self.orthanc, "mi-retry")
        self.assertTrue(body["ok"], body)
        statuses = [r["status"] for r in self.imds.requests()[before:] if r["query"].get("client_id") == RETRY_ID]
        self.assertEqual(statuses, [410, 410, 410, 200])
        self.assertGreaterEqual(time.monotonic() - started, 0.9)  # three waits of GoneRetryInterval

    def test_410_for_longer_than_gone_retry_seconds_fails_after_that_time(self):
        before = len(self.imds.requests())
        self.imds.fail_next(410, 1000, client_id=GONE_ID)
        started = time.monotonic()
        try:
            body = call_test(self, self.orthanc, "mi-gone", expect=503)
        finally:
            self.imds.clear_failures(GONE_ID)
        self.assertIn("410", body["error"]["message"])
        self.assertIn("attempts", body["error"]["message"])
        statuses = [r["status"] for r in self.imds.requests()[before:] if r["query"].get("client_id") == GONE_ID]
        self.assertTrue(statuses and set(statuses) == {410}, statuses)
        # GoneRetrySeconds (2 s) of 410 answers in the first attempt; the engine may retry after that.
        self.assertGreaterEqual(time.monotonic() - started, 2.0)

    def test_entra_client_secret_with_tenant_and_authority_host(self):
        body = call_test(self, self.orthanc, "entra-secret")
        self.assertTrue(body["ok"])
        last = self.entra.requests()[-1]
        self.assertEqual(last["path"], f"/{TENANT}/oauth2/v2.0/token")
        self.assertEqual(last.get("authenticated"), "app-secret")
        self.assertEqual(last["form"]["scope"], DICOM_SCOPE)

    def test_entra_certificate_credential(self):
        body = call_test(self, self.orthanc, "entra-cert")
        self.assertTrue(body["ok"], body)
        last = self.entra.requests()[-1]
        self.assertEqual(last.get("authenticated"), "app-cert")
        self.assertNotIn("client_secret", last["form"])

    def test_entra_wrong_secret_is_auth_001_not_retried(self):
        before = len([r for r in self.entra.requests() if r["form"].get("client_id") == "app-secret"])
        body = call_test(self, self.orthanc, "entra-wrong", expect=503)
        self.assertIn("AADSTS7000215", body["error"]["message"])
        after = len([r for r in self.entra.requests() if r["form"].get("client_id") == "app-secret"])
        self.assertEqual(after, before + 1)

    def test_client_secret_from_key_vault(self):
        vault_calls = self.vault_reads_at_start
        self.assertEqual(len(vault_calls), 1, "the reference is resolved once, at start-up")
        self.assertEqual(vault_calls[0]["query"], {"api-version": "7.4"})
        self.assertTrue(self.imds_requests(resource="https://vault.azure.net"))
        before = len(self.entra.requests())
        body = call_test(self, self.orthanc, "entra-keyvault")
        self.assertTrue(body["ok"], body)
        self.assertEqual([r.get("authenticated") for r in self.entra.requests()[before:]], ["app-secret"])

    def check_config(self, servers, environment):
        path = self.ws.path / "kv-check.json"
        path.write_text(json.dumps({"DicomWebOAuth": {"Servers": servers,
                                                      "ScriptDirectories": [str(env.SOURCE_DIR / "lua")]}}))
        e = {"PATH": "/usr/bin:/bin", "AZURE_POD_IDENTITY_AUTHORITY_HOST": self.imds.host}
        e.update(environment)
        return subprocess.run([env.cli_path(), "check-config", str(path)], capture_output=True, text=True,
                              timeout=60, env=e)

    def test_unresolved_key_vault_reference_fails_closed(self):
        base = {"Url": UNREACHABLE, "ProviderType": "azure", "TenantId": TENANT, "ClientId": "app-secret"}
        allow = {"DICOMWEB_OAUTH_KEYVAULT_ALLOW_HTTP_LOOPBACK": "1"}
        ok = self.check_config({"kv": dict(base, ClientSecret="keyvault:" + self.vault.secret_url("entra-client-secret"))},
                               allow)
        self.assertEqual(ok.returncode, 0, ok.stdout + ok.stderr)
        assert_no_secret(self, [SECRET, self.imds.token_for("https://vault.azure.net")], ok.stdout, ok.stderr)
        for reference, environment, words in (
                (self.vault.secret_url("no-such-secret"), allow, "no such secret"),
                (self.vault.secret_url("entra-client-secret"), {}, "only https Key Vault hosts"),
                ("https://vault.example.com/secrets/x", allow, "only https Key Vault hosts")):
            with self.subTest(reference=reference):
                r = self.check_config({"kv": dict(base, ClientSecret="keyvault:" + reference)}, environment)
                self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
                out = r.stdout + r.stderr
                self.assertRegex(out, r"error CFG-007 DicomWebOAuth\.Servers\.kv\.ClientSecret")
                self.assertIn(words, out)
                assert_no_secret(self, [SECRET], out)

    def test_send_a_study_with_the_managed_identity_token(self):
        study = make_study(5, seed=51)
        ids = [self.orthanc.upload(d)["ID"] for d in study.instances]
        series = self.orthanc.get_json(f"/instances/{ids[0]}")["ParentSeries"]
        study_id = self.orthanc.get_json(f"/series/{series}")["ParentStudy"]
        r = self.orthanc.rest("POST", "/dicom-web/servers/mi/stow", json={"Resources": [study_id], "Synchronous": False})
        self.assertEqual(r.status, 200, r.text)
        job = self.orthanc.wait_job(r.json()["ID"], timeout=120)
        self.assertEqual(job["State"], "Success", job)
        self.assertEqual(self.upstream.backend.study_hashes(study.study_instance_uid), study.sha256_by_sop)
        # The upstream saw the bearer token only through the gateway; a request without it is refused.
        self.assertEqual(self.upstream.request("GET", "/dicom-web/studies").status, 401)

    def test_zz_no_secret_or_token_in_outputs(self):
        texts = [self.orthanc.log_text()]
        for path in ("/dicomweb-oauth/status", "/dicomweb-oauth/servers", "/dicomweb-oauth/metrics"):
            texts.append(self.orthanc.rest("GET", path).text)
        assert_no_secret(self, [SECRET, self.imds.token, self.entra.token, "not-the-secret-" + "x" * 12,
                                self.imds.token_for("https://vault.azure.net"),
                                *[line for line in open(self.cert.key).read().splitlines() if "-----" not in line]],
                         *texts)


class AzureFromTheCli(testing.TestCase):
    """`dicomweb-oauth token` and `check-config` on examples/azure, with the environment the Azure
    platforms set (App Service, AKS workload identity) pointing at the local services."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pki = Pki(cls.ws, name="azure-cli-pki")
        cls.entra = cls.use_class(FakeEntra(cls.ws, cls.pki, name="entra-cli"))
        cls.imds = cls.use_class(FakeImds(cls.ws, name="imds-cli"))
        cls.header = "identity-header-" + "h3" * 10
        cls.appsvc = cls.use_class(FakeAppService(cls.ws, cls.header))
        cls.entra.add_secret_client("example-app", SECRET)
        cls.cert = cls.pki.client_cert("example-cert")
        cls.entra.add_certificate_client("example-cert-app", cls.cert.cert)
        cls.k8s_key = cls.pki.key_pair("k8s-issuer")
        cls.entra.add_federated_client("wi-app", K8S_ISSUER, K8S_SUBJECT, cls.k8s_key.public)
        cls.token_dir = cls.ws.dir("projected-token")
        cls.token_file = cls.token_dir / "azure-identity-token"
        cls.token_file.write_text(projected_token(cls.k8s_key.private, K8S_ISSUER, K8S_SUBJECT))

    def example(self, name, **extra):
        """examples/azure/<name>.json as shipped, plus `extra` keys (the test CA for the fake Entra)."""
        text = (env.SOURCE_DIR / "examples" / "azure" / name).read_text()
        # The examples are Orthanc configuration files: comments allowed. Drop them for json.loads.
        data = json.loads(re.sub(r"^\s*//.*$", "", text, flags=re.M))
        data["DicomWebOAuth"]["Servers"]["azure"].update(extra)
        path = self.ws.path / f"example-{name}"
        path.write_text(json.dumps(data, indent=2))
        return path

    def run_cli(self, *args, environment=None):
        e = {"PATH": "/usr/bin:/bin", "AZURE_DICOM_URL": "https://ws-dicom.dicom.azurehealthcareapis.com/v2/"}
        e.update(environment or {})
        return subprocess.run([env.cli_path(), *args], capture_output=True, text=True, timeout=120, env=e)

    def token(self, config, environment):
        r = self.run_cli("token", "--config", str(config), "--server", "azure",
                         "--scripts-dir", str(env.SOURCE_DIR / "lua"), environment=environment)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        body = json.loads(r.stdout)
        self.assertTrue(body["ok"])
        assert_no_secret(self, [SECRET, self.header, self.entra.token, self.imds.token, self.appsvc.token],
                         r.stdout, r.stderr)
        return body

    def test_every_example_passes_check_config(self):
        for name in ("client-secret.json", "certificate.json", "managed-identity.json", "workload-identity.json"):
            with self.subTest(example=name):
                r = self.run_cli("check-config", str(env.SOURCE_DIR / "examples" / "azure" / name),
                                 "--scripts-dir", str(env.SOURCE_DIR / "lua"), environment={
                                     "AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": "app",
                                     "AZURE_CLIENT_SECRET": SECRET, "AZURE_CLIENT_KEY_FILE": str(self.cert.key),
                                     "AZURE_CLIENT_CERTIFICATE_FILE": str(self.cert.cert)})
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertIn("configuration valid", r.stdout)
                self.assertNotRegex(r.stdout, r"(?m)^error ")
                assert_no_secret(self, [SECRET], r.stdout, r.stderr)

    def test_example_with_an_unset_secret_variable_fails_closed(self):
        r = self.run_cli("check-config", str(env.SOURCE_DIR / "examples" / "azure" / "client-secret.json"),
                         "--scripts-dir", str(env.SOURCE_DIR / "lua"),
                         environment={"AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": "app"})
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("CFG-003", r.stdout + r.stderr)
        self.assertIn("AZURE_CLIENT_SECRET", r.stdout + r.stderr)

    def test_client_secret_example(self):
        before = len(self.entra.requests())
        self.token(self.example("client-secret.json", CaBundle=str(self.pki.ca_file)), {
            "AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": "example-app", "AZURE_CLIENT_SECRET": SECRET,
            "AZURE_AUTHORITY_HOST": self.entra.authority})
        new = self.entra.requests()[before:]
        self.assertEqual([(r["path"], r.get("authenticated")) for r in new],
                         [(f"/{TENANT}/oauth2/v2.0/token", "example-app")])

    def test_certificate_example(self):
        before = len(self.entra.requests())
        self.token(self.example("certificate.json", CaBundle=str(self.pki.ca_file)), {
            "AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": "example-cert-app",
            "AZURE_CLIENT_KEY_FILE": str(self.cert.key), "AZURE_CLIENT_CERTIFICATE_FILE": str(self.cert.cert),
            "AZURE_AUTHORITY_HOST": self.entra.authority})
        self.assertEqual([r.get("authenticated") for r in self.entra.requests()[before:]], ["example-cert-app"])

    def test_certificate_not_registered_is_refused(self):
        other = self.pki.client_cert("unregistered-cert")
        r = self.run_cli("token", "--config", str(self.example("certificate.json", CaBundle=str(self.pki.ca_file))),
                         "--server", "azure", "--scripts-dir", str(env.SOURCE_DIR / "lua"), environment={
                             "AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": "example-cert-app",
                             "AZURE_CLIENT_KEY_FILE": str(other.key), "AZURE_CLIENT_CERTIFICATE_FILE": str(other.cert),
                             "AZURE_AUTHORITY_HOST": self.entra.authority})
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("AUTH-001", r.stderr)
        self.assertIn("AADSTS700027", r.stderr)

    def test_managed_identity_example_over_imds(self):
        before = len(self.imds.requests())
        self.token(self.example("managed-identity.json"), {"AZURE_POD_IDENTITY_AUTHORITY_HOST": self.imds.host})
        new = self.imds.requests()[before:]
        self.assertEqual([(r["status"], r["query"]["api-version"], r["headers"].get("Metadata")) for r in new],
                         [(200, "2018-02-01", "true")])

    def test_managed_identity_example_on_app_service(self):
        before = len(self.appsvc.requests())
        self.token(self.example("managed-identity.json"), {
            "IDENTITY_ENDPOINT": self.appsvc.endpoint, "IDENTITY_HEADER": self.header,
            # IMDS is there too, but App Service's endpoint wins, as in the Azure SDK.
            "AZURE_POD_IDENTITY_AUTHORITY_HOST": self.imds.host})
        new = self.appsvc.requests()[before:]
        self.assertEqual([(r["status"], r["query"]["api-version"]) for r in new], [(200, "2019-08-01")])

    def test_managed_identity_wrong_identity_header(self):
        r = self.run_cli("token", "--config", str(self.example("managed-identity.json")), "--server", "azure",
                         "--scripts-dir", str(env.SOURCE_DIR / "lua"),
                         environment={"IDENTITY_ENDPOINT": self.appsvc.endpoint, "IDENTITY_HEADER": "wrong-" + "w" * 12})
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("AUTH-001", r.stderr)
        assert_no_secret(self, ["wrong-" + "w" * 12], r.stdout, r.stderr)

    def test_workload_identity_example_rereads_the_projected_token(self):
        environment = {"AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": "wi-app",
                       "AZURE_FEDERATED_TOKEN_FILE": str(self.token_file),
                       "AZURE_AUTHORITY_HOST": self.entra.authority}
        config = self.example("workload-identity.json", CaBundle=str(self.pki.ca_file))
        before = len(self.entra.requests())
        self.token(config, environment)
        first = self.entra.requests()[before:]
        self.assertEqual([r.get("authenticated") for r in first], ["wi-app"])
        self.assertEqual(first[0]["form"]["client_assertion"], self.token_file.read_text().strip())
        # The kubelet rotates the token; a token signed by another issuer key is refused.
        self.token_file.write_text(projected_token(self.k8s_key.private, K8S_ISSUER, K8S_SUBJECT, lifetime=600))
        self.token(config, environment)
        self.assertEqual(self.entra.requests()[-1]["form"]["client_assertion"], self.token_file.read_text().strip())
        rogue = self.pki.key_pair("rogue-issuer")
        self.token_file.write_text(projected_token(rogue.private, K8S_ISSUER, K8S_SUBJECT))
        r = self.run_cli("token", "--config", str(config), "--server", "azure",
                         "--scripts-dir", str(env.SOURCE_DIR / "lua"), environment=environment)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("AUTH-001", r.stderr)
        self.token_file.write_text(projected_token(self.k8s_key.private, K8S_ISSUER, K8S_SUBJECT))


if __name__ == "__main__":
    testing.main()
