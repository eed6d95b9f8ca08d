#!/usr/bin/python3
"""The audit trail end to end (docs/audit.md): Orthanc A with the gateway, one server in proxy mode and
one in inject mode to a protected upstream (Orthanc B behind nginx + the IdP), and
DicomWebOAuth.Audit writing a chained JSON-lines file through the shipped phi_redaction rule.

Proves: a QIDO with PatientName / PatientID leaves a record with keyed pseudonyms, never the clear
values; token acquired / failed, reload published / refused, configuration loaded, inject-mode
client calls and gateway refusals are recorded, each with the snapshot version; routing decisions
are recorded whether they allow or deny (the policies consulted, the target, the policy's reason,
the policy that refused), at the upstream and at the client stage; no secret or token
anywhere in the file; the file is 0600, verifies with `dicomweb-oauth audit verify`, an edited copy
fails naming the line, the chain continues across a restart of Orthanc, and a damaged file stops the
plugin at start."""
# gw-test-timeout: 400
import hashlib
import hmac
import json
import os
import re
import stat
import subprocess

from harness import env, testing, wait_until
from harness.idp import IdentityProvider, IdpClient
from harness.upstream import ProtectedDicomWeb
from gwtest import LoopbackSecretCapture, assert_no_secret, copy_scripts, gateway_orthanc, proxy_request

SECRET = "audit-client-secret-8f3a61"
WRONG_SECRET = "audit-wrong-secret-0c4d27"
HASH_KEY = "audit-hmac-key-91be4c07d2"
CHAIN_KEY_A = "audit-chain-key-A-3f9c2e71b05d48a6c1e0f7b2"
CHAIN_KEY_B = "audit-chain-key-B-8a1d6f04c3e972b5d0a4e6c9"
PATIENT_NAME = "DOE^AUDITPATIENT"
PATIENT_ID = "AUD-PID-424242"


# A routing policy of the test (in its private copy of lua/): it allows with a reason, and refuses
# what the test marks, at both stages.
PROBE_POLICY = """
local M = { name = "audit_probe", version = "1.0.0", kind = "policy", schema = { type = "object" } }

function M.decide(request)
  if request.stage == "client" then
    if request.operation == "retrieve" then
      return { allow = false, status = 403, code = "TST-002", reason = "no retrieve from this server" }
    end
    return { allow = true, reason = "client stage: operation " .. tostring(request.operation) .. " allowed" }
  end
  if request.query.deny == "1" then
    return { allow = false, status = 403, code = "TST-001", reason = "refused by the audit probe" }
  end
  return { allow = true, reason = "upstream stage: allowed by the audit probe" }
end

return M
"""


def pseudonym(value):
    return "hmac-sha256:" + hmac.new(HASH_KEY.encode(), value.encode(), hashlib.sha256).hexdigest()


# An implementation of docs/audit.md "The chain, exactly", independent of the C++ one.
def canonical(o):
    return json.dumps(o, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def chain_mac(key, prev, text):
    return hmac.new(key.encode(), (prev + text).encode(), hashlib.sha256).hexdigest()


def fingerprint(key):
    return hmac.new(key.encode(), b"dicomweb-oauth audit chain key fingerprint v1", hashlib.sha256).hexdigest()[:16]


def verify_keyed(text, keys):
    """Checks every line by the specification; returns [(kid, reason, first seq)] per key segment."""
    by_fp = {fingerprint(k): k for k in keys}
    prev, key, kid, segments = "0" * 64, None, None, []
    for n, line in enumerate(text.splitlines(), 1):
        rec = json.loads(line)
        assert canonical(rec) == line, f"line {n} not canonical"
        assert rec["seq"] == n and rec["prev"] == prev, f"line {n} out of chain"
        assert "hash" not in rec and "mac" in rec, f"line {n} not keyed"
        body = {k: v for k, v in rec.items() if k != "mac"}
        if rec["event"] == "audit.key":
            f = rec["fields"]
            new_key = by_fp[f["fingerprint"]]
            if f["reason"] == "rotation":
                assert f["previousKid"] == kid, f"line {n}: rotation from another key"
                closed = {k: v for k, v in body.items() if k != "closingMac"}
                assert rec["closingMac"] == chain_mac(key, prev, canonical(closed)), f"line {n}: closing MAC"
            key, kid = new_key, f["kid"]
            segments.append((kid, f["reason"], n))
        assert rec["kid"] == kid, f"line {n}: kid"
        assert rec["mac"] == chain_mac(key, prev, canonical(body)), f"line {n}: MAC"
        prev = rec["mac"]
    return segments


def server(idp, url, mode, secret=SECRET):
    return {"Url": url, "TokenEndpoint": idp.token_url(), "ClientId": "orthanc-a", "ClientSecret": secret,
            "Scope": "dicomweb", "Resource": "urn:gw-test:dicomweb", "Mode": mode,
            "ResilienceConfig": {"RetryMaxAttempts": 1, "CircuitBreakerEnabled": False}}


class Audit(testing.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.idp = cls.use_class(IdentityProvider(cls.ws, clients=[IdpClient("orthanc-a", secret=SECRET)]))
        cls.upstream = cls.use_class(ProtectedDicomWeb(cls.ws, cls.idp))
        cls.capture = LoopbackSecretCapture(cls.ws)
        cls.scripts = copy_scripts(cls.ws)
        (cls.scripts / "policies" / "routing" / "audit_probe.lua").write_text(PROBE_POLICY)
        cls.audit_file = cls.ws.dir("audit") / "audit.jsonl"
        # "routed": its primary target refuses connections, so `failover` sends requests to "up".
        routed = server(cls.idp, None, "proxy")
        del routed["Url"]
        routed.update(Policies=["audit_probe", "failover"],
                      Targets=[{"Name": "down", "Url": f"http://127.0.0.1:{cls.ws.ports.allocate()}/dicom-web"},
                               {"Name": "up", "Url": cls.upstream.dicomweb_url}])
        injpol = server(cls.idp, cls.upstream.dicomweb_url, "inject")
        injpol["Policies"] = ["audit_probe"]
        servers = {"cloud": server(cls.idp, cls.upstream.dicomweb_url, "proxy"),
                   "inj": server(cls.idp, cls.upstream.dicomweb_url, "inject"),
                   "badcreds": server(cls.idp, cls.upstream.dicomweb_url, "proxy", secret=WRONG_SECRET),
                   "routed": routed, "injpol": injpol}
        cls.checkpoint_file = cls.ws.dir("checkpoints") / "audit.checkpoints"
        section = {"WatchScripts": False,
                   "Audit": {"File": str(cls.audit_file), "HashKey": HASH_KEY, "Rules": ["phi_redaction"],
                             "FsyncIntervalMs": 0, "ChainKey": "env:GW_TEST_AUDIT_CHAIN_KEY",
                             "CheckpointEveryRecords": 5, "CheckpointIntervalSeconds": 1,
                             "CheckpointFile": str(cls.checkpoint_file)}}
        cls.a = cls.use_class(gateway_orthanc(cls.ws, servers=servers, scripts=cls.scripts, section=section,
                                              config=cls.capture.config(),
                                              env_vars={"GW_TEST_AUDIT_CHAIN_KEY": CHAIN_KEY_A,
                                                        "GW_TEST_AUDIT_CHAIN_KEY_B": CHAIN_KEY_B}))
        cls.loopback = cls.capture.secret(cls.a, "cloud")
        cls.routed_loopback = cls.capture.secret(cls.a, "routed")

    # -- helpers -------------------------------------------------------------------------------

    def records(self):
        text = self.audit_file.read_text(encoding="utf-8") if self.audit_file.exists() else ""
        return [json.loads(line) for line in text.splitlines()]

    def wait_record(self, predicate, what, timeout=20.0):
        def found():
            return next((r for r in self.records() if predicate(r)), None)
        return wait_until(found, timeout, what)

    def verify(self, path, *options, keys=("A",)):
        """`audit verify` with the keys passed as env: references (A, B), as an operator would."""
        argv = [str(env.cli_path()), "audit", "verify", str(path), *options]
        for k in keys:
            argv += ["--key", "env:GW_TEST_AUDIT_CHAIN_KEY" + ("" if k == "A" else "_" + k)]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                           env={**os.environ, "GW_TEST_AUDIT_CHAIN_KEY": CHAIN_KEY_A,
                                "GW_TEST_AUDIT_CHAIN_KEY_B": CHAIN_KEY_B})
        assert_no_secret(self, [CHAIN_KEY_A, CHAIN_KEY_B], r.stdout, r.stderr)
        return r

    # -- tests ---------------------------------------------------------------------------------

    def test_configuration_loaded_is_the_first_record(self):
        # The key's own record comes first (the chain is keyed), then the configuration.
        key = self.records()[0]
        self.assertEqual(key["event"], "audit.key")
        self.assertEqual(key["seq"], 1)
        self.assertEqual(key["prev"], "0" * 64)
        self.assertEqual(key["fields"]["reason"], "new-file")
        self.assertEqual(key["fields"]["fingerprint"], fingerprint(CHAIN_KEY_A))
        self.assertEqual(key["kid"], "fp-" + fingerprint(CHAIN_KEY_A))
        first = self.records()[1]
        self.assertEqual(first["event"], "config.loaded")
        self.assertEqual(first["seq"], 2)
        self.assertEqual(first["prev"], key["mac"])
        names = {s["name"]: s["mode"] for s in first["fields"]["servers"]}
        self.assertEqual(names, {"cloud": "proxy", "inj": "inject", "badcreds": "proxy", "routed": "proxy",
                                 "injpol": "inject"})
        self.assertEqual(first["fields"]["rules"], ["phi_redaction"])
        self.assertTrue(first["fields"]["hashKeyConfigured"])
        start = self.wait_record(lambda r: r["event"] == "script.published", "the start snapshot record")
        self.assertEqual(start["fields"]["trigger"], "start")
        self.assertEqual(start["snapshot"], start["fields"]["version"])

    def test_qido_with_patient_name_and_id_is_recorded_without_them(self):
        r = self.a.rest("POST", "/dicom-web/servers/cloud/qido",
                        json={"Uri": "/studies", "Arguments": {"PatientName": PATIENT_NAME, "PatientID": PATIENT_ID,
                                                              "limit": "7"}})
        self.assertEqual(r.status, 200, r.text)

        def is_qido(rec):
            return (rec["event"] == "proxy.request" and rec["server"] == "cloud" and
                    any(q["name"] == "limit" and q["value"] == "7" for q in rec["fields"].get("query", [])))
        rec = self.wait_record(is_qido, "the proxy.request record of the QIDO")
        f = rec["fields"]
        self.assertEqual(f["method"], "GET")
        self.assertEqual(f["path"], "studies")
        self.assertEqual(f["outcome"], "forwarded")
        self.assertEqual(f["status"], 200)
        self.assertEqual(f["target"], "primary")  # no Targets: the server's Url
        self.assertNotIn("policies", f)            # no policy configured
        query = {q["name"]: q["value"] for q in f["query"]}
        self.assertEqual(query["PatientName"], pseudonym(PATIENT_NAME))
        self.assertEqual(query["PatientID"], pseudonym(PATIENT_ID))
        self.assertIsInstance(rec["snapshot"], int)
        self.assertGreater(rec["snapshot"], 0)
        text = self.audit_file.read_text(encoding="utf-8")
        for clear in (PATIENT_NAME, PATIENT_ID, "AUDITPATIENT", "424242"):
            self.assertNotIn(clear, text)

    def test_refusal_by_the_gateway_is_recorded_as_denied(self):
        r = proxy_request(self.a, "cloud", "GET", f"studies?PatientID={PATIENT_ID}", secret="wrong-loopback-secret")
        self.assertEqual(r.status, 403, r.text)
        rec = self.wait_record(lambda x: x["event"] == "proxy.request" and x["fields"].get("outcome") == "denied"
                               and x["fields"].get("status") == 403, "a denied proxy.request record")
        self.assertTrue(rec["fields"]["code"].startswith("PXY-"), rec)
        self.assertEqual({q["name"]: q["value"] for q in rec["fields"]["query"]}["PatientID"], pseudonym(PATIENT_ID))

    def test_routing_decisions_are_recorded_allowed_or_denied(self):
        # Allowed: both policies are named, the target is the one failover chose (the primary
        # refuses connections), the reason is the last one a policy gave.
        r = self.a.rest("POST", "/dicom-web/servers/routed/qido",
                        json={"Uri": "/studies", "Arguments": {"limit": "11"}})
        self.assertEqual(r.status, 200, r.text)

        def routed(outcome, limit):
            return lambda x: (x["event"] == "proxy.request" and x["server"] == "routed" and
                              x["fields"]["outcome"] == outcome and
                              {"name": "limit", "value": limit} in x["fields"].get("query", []))
        f = self.wait_record(routed("forwarded", "11"), "the forwarded proxy.request of routed")["fields"]
        self.assertEqual(f["policies"], ["audit_probe", "failover"])
        self.assertEqual(f["target"], "up")
        self.assertEqual(f["policyReason"], "failover: down is unhealthy, using up")
        self.assertNotIn("policy", f)

        # Denied by the first policy: it is named, the chain stopped there, nothing was routed.
        r = proxy_request(self.a, "routed", "GET", "studies?limit=12&deny=1", secret=self.routed_loopback)
        self.assertEqual(r.status, 403, r.text)
        self.assertEqual(r.json()["error"]["code"], "TST-001")
        f = self.wait_record(routed("denied", "12"), "the denied proxy.request of routed")["fields"]
        self.assertEqual(f["policy"], "audit_probe")
        self.assertEqual(f["policies"], ["audit_probe"])
        self.assertEqual(f["code"], "TST-001")
        self.assertEqual(f["reason"], "refused by the audit probe")
        self.assertNotIn("target", f)
        self.assertNotIn("policyReason", f)

    def test_client_stage_decisions_are_recorded_allowed_or_denied(self):
        r = self.a.rest("POST", "/dicom-web/servers/injpol/qido", json={"Uri": "/studies"})
        self.assertEqual(r.status, 200, r.text)
        allowed = self.wait_record(lambda x: x["event"] == "client.request" and x["server"] == "injpol" and
                                   x["fields"]["outcome"] == "allowed", "the allowed client.request of injpol")
        f = allowed["fields"]
        self.assertEqual(f["policies"], ["audit_probe"])
        self.assertEqual(f["policyReason"], "client stage: operation qido allowed")
        self.assertNotIn("target", f)  # the client stage does not route
        self.assertNotIn("policy", f)

        r = self.a.rest("POST", "/dicom-web/servers/injpol/retrieve",
                        json={"Resources": [{"Study": "1.2.3.4"}], "Synchronous": True})
        self.assertEqual(r.status, 403, r.text)  # Orthanc's bare 403: code and reason are in the record
        denied = self.wait_record(lambda x: x["event"] == "client.request" and x["server"] == "injpol" and
                                  x["fields"]["outcome"] == "denied", "the denied client.request of injpol")
        f = denied["fields"]
        self.assertEqual(f["policy"], "audit_probe")
        self.assertEqual(f["policies"], ["audit_probe"])
        self.assertEqual(f["code"], "TST-002")
        self.assertEqual(f["reason"], "no retrieve from this server")
        self.assertNotIn("policyReason", f)

    def test_token_acquired_and_failed(self):
        r = self.a.rest("POST", "/dicomweb-oauth/servers/badcreds/test")
        self.assertNotEqual(r.status, 200, r.text)
        failed = self.wait_record(lambda x: x["event"] == "token.failed" and x["server"] == "badcreds",
                                  "a token.failed record")
        self.assertTrue(failed["fields"]["code"], failed)
        self.assertEqual(failed["fields"]["provider"], "client_credentials")
        r = self.a.rest("POST", "/dicomweb-oauth/servers/cloud/test")
        self.assertEqual(r.status, 200, r.text)
        ok = self.wait_record(lambda x: x["event"] == "token.acquired" and x["server"] == "cloud",
                              "a token.acquired record")
        self.assertGreater(ok["fields"]["expiresInSeconds"], 0)
        self.assertEqual(ok["fields"]["tokenType"], "Bearer")

    def test_inject_mode_client_call_and_its_token(self):
        r = self.a.rest("POST", "/dicom-web/servers/inj/qido",
                        json={"Uri": "/studies", "Arguments": {"PatientID": PATIENT_ID}})
        self.assertEqual(r.status, 200, r.text)
        call = self.wait_record(lambda x: x["event"] == "client.request" and x["server"] == "inj",
                                "a client.request record")
        self.assertEqual(call["fields"]["outcome"], "allowed")
        self.assertEqual(call["fields"]["uri"], "/dicom-web/servers/inj/qido")
        # "cloud" and "inj" use the same identity, hence one token: its record lists both servers.
        self.wait_record(lambda x: x["event"] == "token.acquired" and "inj" in x["fields"]["servers"],
                         "the inject-mode server's token.acquired record")
        self.assertNotIn(PATIENT_ID, self.audit_file.read_text(encoding="utf-8"))

    def test_reload_published_and_refused(self):
        broken = self.scripts / "policies" / "audit" / "zz_broken.lua"
        broken.write_text("return { name = 'zz_broken', version = '1', kind = 'audit', record = \n")
        try:
            r = self.a.rest("POST", "/dicomweb-oauth/reload")
            self.assertEqual(r.status, 422, r.text)
        finally:
            broken.unlink()
        refused = self.wait_record(lambda x: x["event"] == "script.refused", "a script.refused record")
        self.assertEqual(refused["fields"]["code"], "LUA-001")
        self.assertEqual(refused["fields"]["trigger"], "rest")
        self.assertEqual(refused["snapshot"], refused["fields"]["servingVersion"])

        r = self.a.rest("POST", "/dicomweb-oauth/reload")
        self.assertEqual(r.status, 200, r.text)
        version = r.json()["snapshot"]["version"]
        published = self.wait_record(lambda x: x["event"] == "script.published" and x["fields"]["trigger"] == "rest"
                                     and x["fields"]["version"] == version, "the script.published record")
        self.assertEqual(published["snapshot"], version)  # recorded on the snapshot it announces
        # Every event record names the snapshot serving when it was written (audit.key records are the writer's).
        self.assertTrue(all(isinstance(x["snapshot"], int) and x["snapshot"] > 0 for x in self.records()
                            if x["event"] != "audit.key"))

    def test_damaged_audit_file_stops_the_plugin(self):
        # A cut last line (a crash mid-write, a truncated copy): continuing would build on a broken
        # chain, so the plugin refuses to start (AUD-003) and leaves the file untouched.
        damaged = self.ws.dir("audit-damaged") / "audit.jsonl"
        good = self.audit_file.read_text(encoding="utf-8")
        damaged.write_text(good[:-10], encoding="utf-8")
        section = {"Audit": {"File": str(damaged), "HashKey": HASH_KEY}}
        refused = gateway_orthanc(self.ws, name="orthanc-damaged", section=section,
                                  servers={"cloud": server(self.idp, self.upstream.dicomweb_url, "proxy")})
        code, log = refused.start_expecting_failure()
        self.assertNotEqual(code, 0)
        self.assertIn("AUD-003", log)
        self.assertIn("audit verify", log)
        self.assertEqual(damaged.read_text(encoding="utf-8"), good[:-10])

    def test_zz_file_is_private_verifies_and_holds_no_secret(self):
        # Runs last (name order): the file then holds the records of every other test.
        self.a.rest("POST", "/dicomweb-oauth/servers/cloud/test")
        self.wait_record(lambda x: x["event"] == "token.acquired", "some records")
        mode = stat.S_IMODE(os.stat(self.audit_file).st_mode)
        self.assertEqual(mode, 0o600, oct(mode))
        text = self.audit_file.read_text(encoding="utf-8")
        text = text[:text.rfind("\n") + 1]  # complete lines only: the writer may be appending
        assert_no_secret(self, [SECRET, WRONG_SECRET, HASH_KEY, CHAIN_KEY_A, CHAIN_KEY_B, self.loopback,
                                self.routed_loopback], text)
        self.assertNotIn("Bearer ", text)
        # Tokens: nothing shaped like a JWT or a long opaque token; the only long values are hashes.
        self.assertIsNone(re.search(r"eyJ[A-Za-z0-9_-]{8,}\.", text))
        for value in re.findall(r'"([A-Za-z0-9_\-.~+/=]{40,})"', text):
            self.assertRegex(value, r"^(hmac-sha256:)?[0-9a-f]{64}$")
        # Keyed: every record's MAC checks out by the specification, independently of the C++ code.
        self.assertEqual(verify_keyed(text, [CHAIN_KEY_A]), [("fp-" + fingerprint(CHAIN_KEY_A), "new-file", 1)])

        # Verify the copy that was read: the live file may gain records meanwhile (background refresh).
        snapshot = self.ws.path / "audit-snapshot.jsonl"
        snapshot.write_text(text, encoding="utf-8")
        ok = self.verify(snapshot)
        self.assertEqual(ok.returncode, 0, ok.stdout + ok.stderr)
        self.assertIn(f"audit file intact: {len(text.splitlines())} record(s)", ok.stdout)
        self.assertIn("keyed: seq 1..", ok.stdout)
        self.assertNotIn("UNKEYED", ok.stdout)

        lines = text.splitlines(keepends=True)
        edited = self.ws.path / "audit-edited.jsonl"
        edited_lines = list(lines)
        edited_lines[2] = edited_lines[2].replace('"seq":3', '"seq":3,"x":1', 1)
        edited.write_text("".join(edited_lines), encoding="utf-8")
        bad = self.verify(edited)
        self.assertEqual(bad.returncode, 1, bad.stdout + bad.stderr)
        self.assertIn(f"{edited}:3:", bad.stdout)
        wrong = self.verify(snapshot, keys=("B",))
        self.assertEqual(wrong.returncode, 3, wrong.stdout + wrong.stderr)
        self.assertIn(f"error AUD-012 {snapshot}:1: wrong key", wrong.stdout)

        # The chain continues across a restart with a rotated key: the old key closes the chain, the
        # new one seals the rotation record and everything after it.
        before = len(self.records())
        audit = self.a.config["DicomWebOAuth"]["Audit"]
        audit["ChainKey"] = "env:GW_TEST_AUDIT_CHAIN_KEY_B"
        audit["PreviousChainKey"] = "env:GW_TEST_AUDIT_CHAIN_KEY"
        self.a.restart()
        self.wait_record(lambda x: x["event"] == "config.loaded" and x["seq"] > before, "config.loaded after restart")
        after = self.records()
        rotation = after[before]
        self.assertEqual(rotation["event"], "audit.key")
        self.assertEqual(rotation["seq"], before + 1)
        self.assertEqual(rotation["prev"], after[before - 1]["mac"])
        self.assertEqual(rotation["fields"]["reason"], "rotation")
        self.assertEqual(rotation["fields"]["previousKid"], "fp-" + fingerprint(CHAIN_KEY_A))
        self.assertEqual(rotation["kid"], "fp-" + fingerprint(CHAIN_KEY_B))
        self.a.rest("POST", "/dicomweb-oauth/servers/cloud/test")
        self.wait_record(lambda x: x["event"] == "token.acquired" and x["seq"] > before, "a record under key B")

        # Stop (the shutdown checkpoint), then verify the whole file against both keys and the
        # checkpoints of Orthanc's real log.
        self.a.stop()
        final = self.audit_file.read_text(encoding="utf-8")
        segments = verify_keyed(final, [CHAIN_KEY_A, CHAIN_KEY_B])
        self.assertEqual([s[:2] for s in segments], [("fp-" + fingerprint(CHAIN_KEY_A), "new-file"),
                                                     ("fp-" + fingerprint(CHAIN_KEY_B), "rotation")])
        log_text = self.a.log_text()
        orthanc_log = self.ws.path / "orthanc-a.log"
        orthanc_log.write_text(log_text, encoding="utf-8")
        checkpoints = [json.loads(line[line.index("audit checkpoint ") + 17:])
                       for line in log_text.splitlines() if "audit checkpoint {" in line]
        self.assertGreaterEqual(len(checkpoints), 3, "checkpoints in Orthanc's log")
        last = json.loads(final.splitlines()[-1])
        self.assertEqual((checkpoints[-1]["seq"], checkpoints[-1]["mac"]), (last["seq"], last["mac"]))  # at shutdown
        self.assertTrue(all(c["chain"] == json.loads(final.splitlines()[0])["mac"] for c in checkpoints))
        self.assertIn(checkpoints[-1]["mac"], self.checkpoint_file.read_text(encoding="utf-8"))

        whole = self.verify(self.audit_file, "--checkpoints", str(orthanc_log), "--checkpoints",
                            str(self.checkpoint_file), keys=("A", "B"))
        self.assertEqual(whole.returncode, 0, whole.stdout + whole.stderr)
        self.assertIn("rotation, closed by the previous key", whole.stdout)
        self.assertRegex(whole.stdout, rf"checkpoints: \d+ matched \(highest seq {last['seq']}\)")

        # Records cut from the end: a shorter valid chain, caught by the shutdown checkpoint.
        cut = self.ws.path / "audit-cut.jsonl"
        cut.write_text("".join(final.splitlines(keepends=True)[:-2]), encoding="utf-8")
        truncated = self.verify(cut, "--checkpoints", str(orthanc_log), keys=("A", "B"))
        self.assertEqual(truncated.returncode, 4, truncated.stdout + truncated.stderr)
        self.assertIn(f"error AUD-013 {cut}:{last['seq'] - 1}: truncated", truncated.stdout)
        self.assertIn("2 record(s) were removed from the end", truncated.stdout)
        self.assertEqual(self.verify(cut, keys=("A", "B")).returncode, 0)  # why the checkpoints matter

        self.a.start()
        assert_no_secret(self, [SECRET, WRONG_SECRET, HASH_KEY, CHAIN_KEY_A, CHAIN_KEY_B], self.a.log_text(),
                         self.checkpoint_file.read_text(encoding="utf-8"),
                         self.a.rest("GET", "/dicomweb-oauth/status").text)


if __name__ == "__main__":
    testing.main()
