#!/usr/bin/python3
"""Structured logs and W3C trace context on a real Orthanc (docs/operations.md, "Logs" and "Tracing").

Orthanc A (DICOMweb + gateway, `LogFormat: json`, `LogLevel: debug`): "cloud" in proxy mode to a
protected upstream (Orthanc B behind nginx + the IdP, nginx logging the traceparent it receives),
"down" in proxy mode to an upstream where nothing listens, "inj" in inject mode, a keyed audit trail
with the shipped phi_redaction rule.

- A proxied STOW sent with a given traceparent reaches the upstream with the same trace id and a new
  parent id; that trace id is in the gateway's JSON log line and the audit record of the request.
- A failing proxied request: its error body, log line and audit record carry its trace id.
- An invalid traceparent is replaced (with its tracestate dropped); a request without one gets one.
- Inject mode: the client call's trace id ties its log line and audit record.
- Every gateway line of Orthanc's log is one JSON object; no line of the whole log holds the client
  secret, a planted token, a JWT, or the planted PatientName/PatientID of the STOW body and the
  QIDO query. The audit chain still verifies with the trace ids in it."""
# gw-test-timeout: 300
import json
import os
import re
import subprocess

from harness import env, testing, wait_until
from harness.dicom import make_study
from harness.idp import IdentityProvider, IdpClient
from harness.upstream import ProtectedDicomWeb
from gwtest import LoopbackSecretCapture, assert_no_secret, gateway_orthanc, oauth_server, proxy_request, \
    wait_proxy_definition
from test_token_cache import JWT_SHAPE

SECRET = "logs-trace-client-secret-8b41d7"
INJ_SECRET = "logs-trace-inject-secret-1f9e02"
CHAIN_KEY = "6c6f67732d74726163652d636861696e2d6b65792d666f722d746573742d3031"
PLANTED_TOKEN = "planted-bearer-token-3e7a51c9d2"
PATIENT_NAME = "PLANTEDNAME^QUUXLEY"
PATIENT_ID = "PLANTED-PID-77410"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"
TRACEPARENT_RE = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
GATEWAY_MARK = "[dicomweb-oauth] "


class LogsAndTrace(testing.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.idp = cls.use_class(IdentityProvider(cls.ws, clients=[IdpClient("orthanc-a", secret=SECRET),
                                                                   IdpClient("orthanc-inj", secret=INJ_SECRET)]))
        cls.upstream = cls.use_class(ProtectedDicomWeb(cls.ws, cls.idp))
        cls.capture = LoopbackSecretCapture(cls.ws)
        cls.audit_file = cls.ws.dir("audit") / "audit.jsonl"
        url = cls.upstream.dicomweb_url
        servers = {
            "cloud": oauth_server(cls.idp, url, SECRET),
            "down": oauth_server(cls.idp, "http://127.0.0.1:9/dicom-web/", SECRET),
            "inj": oauth_server(cls.idp, url, INJ_SECRET, mode="inject", client="orthanc-inj"),
        }
        section = {"LogFormat": "json", "LogLevel": "debug", "WatchScripts": False,
                   "Audit": {"File": str(cls.audit_file), "HashKey": "logs-trace-hash-key-0d2c",
                             "ChainKey": "env:GW_TEST_CHAIN_KEY", "Rules": ["phi_redaction"], "FsyncIntervalMs": 0}}
        cls.a = cls.use_class(gateway_orthanc(cls.ws, servers=servers, section=section, config=cls.capture.config(),
                                              env_vars={"GW_TEST_CHAIN_KEY": CHAIN_KEY}))
        wait_proxy_definition(cls.a, "cloud")
        wait_proxy_definition(cls.a, "down")
        cls.secret = cls.capture.secret(cls.a, "cloud")
        cls.down_secret = cls.capture.secret(cls.a, "down", timeout=60)

    # -- helpers -------------------------------------------------------------------------------

    def gateway_lines(self):
        """The gateway's lines of Orthanc's log, as parsed JSON objects (each must be one)."""
        out = []
        for line in self.a.log_text().splitlines():
            at = line.find(GATEWAY_MARK)
            if at < 0:
                continue
            text = line[at + len(GATEWAY_MARK):]
            try:
                out.append(json.loads(text))
            except ValueError:
                self.fail(f"a gateway log line is not one JSON object: {line!r}")
        return out

    def log_line(self, predicate, what):
        return wait_until(lambda: next((l for l in self.gateway_lines() if predicate(l)), None), 20, what)

    def audit_records(self):
        if not self.audit_file.exists():
            return []
        return [json.loads(l) for l in self.audit_file.read_text().splitlines() if l.strip()]

    def audit_record(self, predicate, what):
        return wait_until(lambda: next((r for r in self.audit_records() if predicate(r)), None), 20, what)

    def upstream_entry(self, mark, predicate, what):
        def find():
            return next((e for e in self.upstream.access_entries()[mark:] if predicate(e)), None)
        return wait_until(find, 20, what)

    # -- tests ---------------------------------------------------------------------------------

    def test_a_proxied_stow_continues_the_callers_trace_up_to_the_upstream(self):
        study = make_study(2, seed=141, patient_name=PATIENT_NAME, patient_id=PATIENT_ID)
        ids = [self.a.upload(d)["ID"] for d in study.instances]
        study_id = self.a.get_json(f"/instances/{ids[0]}/study")["ID"]
        mark = len(self.upstream.access_entries())
        # The caller's traceparent goes with the job's requests (DICOMweb's HttpHeaders), as the
        # DICOMweb plugin sends it to the route.
        r = self.a.rest("POST", "/dicom-web/servers/cloud/stow",
                        json={"Resources": [study_id], "Synchronous": False,
                              "HttpHeaders": {"traceparent": TRACEPARENT}})
        self.assertEqual(r.status, 200, r.text)
        job = self.a.wait_job(r.json()["ID"], timeout=120)
        self.assertEqual(job["State"], "Success", job)
        self.assertEqual(self.upstream.backend.study_hashes(study.study_instance_uid), study.sha256_by_sop)

        entry = self.upstream_entry(mark, lambda e: e["method"] == "POST" and e["status"] == 200,
                                    "the STOW in the upstream's access log")
        m = TRACEPARENT_RE.match(entry["traceparent"])
        self.assertIsNotNone(m, entry)
        self.assertEqual(m.group(1), TRACE_ID, "the upstream got another trace")
        self.assertNotEqual(m.group(2), PARENT_ID, "the gateway must send its own parent id")
        self.assertEqual(m.group(3), "01")
        gateway_span = m.group(2)

        line = self.log_line(lambda l: l.get("event") == "proxy.request" and l.get("traceId") == TRACE_ID
                             and l.get("outcome") == "forwarded", "the STOW's proxy.request log line")
        self.assertEqual(line["server"], "cloud")
        self.assertEqual(line["requestId"], gateway_span)
        self.assertEqual(line["status"], 200)
        self.assertIn("durationMs", line)
        for key in ("time", "level", "message"):
            self.assertIn(key, line)

        record = self.audit_record(lambda r: r["event"] == "proxy.request" and r.get("traceId") == TRACE_ID,
                                   "the STOW's audit record")
        self.assertEqual(record["fields"]["method"], "POST")

    def test_a_failing_request_carries_its_trace_id_in_the_error_body_log_and_audit(self):
        trace = "0af7651916cd43dd8448eb211c80319c"
        r = proxy_request(self.a, "down", "GET", "studies?limit=1", secret=self.down_secret,
                          headers={"Accept": "application/dicom+json",
                                   "traceparent": f"00-{trace}-b7ad6b7169203331-01"})
        self.assertEqual(r.status, 502, r.text)
        error = r.json()["error"]
        self.assertEqual(error["code"], "PXY-003")
        self.assertEqual(error["traceId"], trace)
        line = self.log_line(lambda l: l.get("traceId") == trace and l.get("outcome") == "failed",
                             "the failed request's log line")
        self.assertEqual(line["code"], "PXY-003")
        self.assertEqual(line["level"], "warning")
        self.assertEqual(line["server"], "down")
        record = self.audit_record(lambda r: r.get("traceId") == trace, "the failed request's audit record")
        self.assertEqual(record["fields"]["outcome"], "failed")
        # A refusal before anything goes upstream (wrong loopback secret) carries one too.
        r = proxy_request(self.a, "cloud", "GET", "studies", secret="wrong",
                          headers={"traceparent": f"00-{trace[::-1]}-b7ad6b7169203331-01"})
        self.assertEqual(r.status, 403, r.text)
        self.assertEqual(r.json()["error"]["traceId"], trace[::-1])

    def test_an_invalid_traceparent_is_replaced_and_a_missing_one_created(self):
        cases = [("00-00000000000000000000000000000000-b7ad6b7169203331-01", "all-zero trace id"),
                 ("00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01", "upper case"),
                 ("ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "version ff"),
                 (None, "absent")]
        for value, why in cases:
            with self.subTest(why=why):
                mark = len(self.upstream.access_entries())
                headers = {"Accept": "application/dicom+json", "tracestate": "vendor=opaque"}
                if value:
                    headers["traceparent"] = value
                r = proxy_request(self.a, "cloud", "GET", "studies?limit=1", secret=self.secret, headers=headers)
                self.assertEqual(r.status, 200, r.text)
                entry = self.upstream_entry(mark, lambda e: e["method"] == "GET", "the QIDO upstream")
                m = TRACEPARENT_RE.match(entry["traceparent"])
                self.assertIsNotNone(m, entry)
                self.assertNotIn(m.group(1), value or "")
                self.assertEqual(entry["tracestate"], "", "a tracestate without its trace went upstream")
                self.audit_record(lambda r: r.get("traceId") == m.group(1), "the QIDO's audit record")
        # A valid one keeps its tracestate.
        mark = len(self.upstream.access_entries())
        r = proxy_request(self.a, "cloud", "GET", "studies?limit=1", secret=self.secret,
                          headers={"traceparent": "00-1af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
                                   "tracestate": "vendor=opaque"})
        self.assertEqual(r.status, 200, r.text)
        entry = self.upstream_entry(mark, lambda e: e["method"] == "GET", "the QIDO upstream")
        self.assertTrue(entry["traceparent"].startswith("00-1af7651916cd43dd8448eb211c80319c-"), entry)
        self.assertTrue(entry["traceparent"].endswith("-00"), entry)
        self.assertEqual(entry["tracestate"], "vendor=opaque")

    def test_inject_mode_ties_the_client_calls_log_line_and_audit_record(self):
        trace = "5af7651916cd43dd8448eb211c80319c"
        traceparent = f"00-{trace}-b7ad6b7169203331-01"
        mark = len(self.upstream.access_entries())
        # The documented recipe (docs/inject-mode.md): the same traceparent on the call (the filter
        # sees it) and in its HttpHeaders (the DICOMweb plugin sends it upstream as it is).
        r = self.a.rest("POST", "/dicom-web/servers/inj/qido",
                        json={"Uri": "/studies", "Arguments": {"limit": "1"},
                              "HttpHeaders": {"traceparent": traceparent}},
                        headers={"traceparent": traceparent})
        self.assertEqual(r.status, 200, r.text)
        entry = self.upstream_entry(mark, lambda e: e["method"] == "GET", "the inject-mode QIDO upstream")
        self.assertEqual(entry["traceparent"], traceparent, "inject mode: the upstream gets the caller's header as is")
        line = self.log_line(lambda l: l.get("event") == "client.request" and l.get("traceId") == trace,
                             "the inject-mode call's log line")
        self.assertEqual(line["server"], "inj")
        self.assertEqual(line["outcome"], "allowed")
        record = self.audit_record(lambda r: r["event"] == "client.request" and r.get("traceId") == trace,
                                   "the inject-mode call's audit record")
        self.assertEqual(record["server"], "inj")

    def test_zz_no_secret_token_or_patient_identifier_in_any_log_line(self):
        # Planted values: a caller's token override and a QIDO naming the patient, through both
        # modes; the STOW body of the first test carried them as PatientName/PatientID.
        for name in ("cloud", "inj"):
            r = self.a.rest("POST", f"/dicom-web/servers/{name}/qido",
                            json={"Uri": "/studies", "Arguments": {"PatientName": PATIENT_NAME,
                                                                    "PatientID": PATIENT_ID},
                                  "HttpHeaders": {"Authorization": f"Bearer {PLANTED_TOKEN}"}})
            # Proxy mode drops the override; inject mode sends it and the upstream refuses it.
            self.assertIn(r.status, (200, 401), r.text)
        r = proxy_request(self.a, "cloud", "GET", f"studies?PatientName={PATIENT_NAME}&PatientID={PATIENT_ID}",
                          secret=self.secret, headers={"Authorization": f"Bearer {PLANTED_TOKEN}",
                                                       "Accept": "application/dicom+json"})
        self.assertIn(r.status, (200, 403), r.text)
        self.log_line(lambda l: l.get("event") == "proxy.request" and l.get("server") == "cloud",
                      "a proxy.request line")
        log = self.a.log_text()
        lines = self.gateway_lines()  # fails on any gateway line that is not one JSON object
        self.assertGreater(len(lines), 10)
        self.assertIsNone(JWT_SHAPE.search(log), "a JWT shows up in Orthanc's log")
        assert_no_secret(self, [SECRET, INJ_SECRET, CHAIN_KEY, PLANTED_TOKEN, self.secret, self.down_secret], log)
        gateway_text = "\n".join(json.dumps(l) for l in lines)
        for planted in (PATIENT_NAME, PATIENT_ID, "PLANTEDNAME", "QUUXLEY"):
            self.assertNotIn(planted, gateway_text, f"a patient identifier ({planted}) in a gateway log line")
        # The audit chain, trace ids included, still verifies.
        r = subprocess.run([str(env.cli_path()), "audit", "verify", str(self.audit_file), "--key", "env:GW_TEST_CHAIN_KEY"],
                           capture_output=True, text=True, timeout=60,
                           env={**os.environ, "GW_TEST_CHAIN_KEY": CHAIN_KEY})
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertTrue(any("traceId" in rec for rec in self.audit_records()))


if __name__ == "__main__":
    testing.main()
