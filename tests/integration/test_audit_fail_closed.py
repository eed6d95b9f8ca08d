#!/usr/bin/python3
"""Audit.FailClosed end to end (docs/audit.md, "Durability and failures"): the audit file of a real
Orthanc with the gateway lives on a small tmpfs (harness/tmpfs.py: a private mount namespace, never
visible to the host), which the test fills up so that the writer's write(2) really fails with
ENOSPC, then frees again.

Orthanc "closed" (FailClosed true, a queue of 4 records) proves: once a write has failed, a request
through the proxy route gets 503 AUD-005 (no secret in the body), a DICOMweb client call on the
proxy-mode server fails, an inject-mode client call is refused by the request filter, and nothing
reaches the upstream; records that do not fit the queue are dropped and counted. When space is back
the gateway recovers by itself (no restart), the file verifies with `dicomweb-oauth audit verify`
(the partial line of the failed write was cut), and the gap shows in the metrics and the log.
Orthanc "open" (FailClosed false) keeps forwarding during the same failure, counts it, and writes
every record once space is back.
"""
# gw-test-timeout: 300
import json
import os
import subprocess
import time

from harness import env, testing, wait_until
from harness.idp import IdentityProvider, IdpClient
from harness.tmpfs import SmallTmpfs, mounted_in
from harness.upstream import ProtectedDicomWeb
from gwtest import LoopbackSecretCapture, assert_no_secret, gateway_orthanc, proxy_request
from test_audit import HASH_KEY, SECRET, server
from test_token_cache import parse_metrics

QUEUE = 4
WRITE_ERRORS = "dicomweb_oauth_audit_write_errors_total"
DROPPED = "dicomweb_oauth_audit_records_dropped_total"


class AuditFailure(testing.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # First, while the test process has a single thread (unshare(CLONE_NEWNS) needs that).
        cls.closed_disk = cls.use_class(SmallTmpfs(cls.ws, "audit-disk-closed", size_kib=256))
        cls.open_disk = cls.use_class(SmallTmpfs(cls.ws, "audit-disk-open", size_kib=256))
        cls.idp = cls.use_class(IdentityProvider(cls.ws, clients=[IdpClient("orthanc-a", secret=SECRET)]))
        cls.upstream = cls.use_class(ProtectedDicomWeb(cls.ws, cls.idp))
        cls.closed, cls.closed_secret = cls.gateway("orthanc-closed", cls.closed_disk, fail_closed=True,
                                                    QueueCapacity=QUEUE, QueueTimeoutMs=50)
        cls.open, cls.open_secret = cls.gateway("orthanc-open", cls.open_disk, fail_closed=False)

    @classmethod
    def gateway(cls, name, disk, fail_closed, **audit):
        capture = LoopbackSecretCapture(cls.ws)
        servers = {"cloud": server(cls.idp, cls.upstream.dicomweb_url, "proxy"),
                   "inj": server(cls.idp, cls.upstream.dicomweb_url, "inject")}
        section = {"WatchScripts": False,
                   "Audit": {"File": str(disk.path / "audit.jsonl"), "HashKey": HASH_KEY, "Rules": ["phi_redaction"],
                             "FsyncIntervalMs": 0, "FailClosed": fail_closed, **audit}}
        orthanc = cls.use_class(gateway_orthanc(cls.ws, name=name, servers=servers, section=section,
                                                config=capture.config()))
        return orthanc, capture.secret(orthanc, "cloud")

    # -- helpers -------------------------------------------------------------------------------

    @staticmethod
    def complete_lines(path):
        text = path.read_text(encoding="utf-8")
        return text[:text.rfind("\n") + 1]

    def records(self, disk):
        return [json.loads(line) for line in self.complete_lines(disk.path / "audit.jsonl").splitlines()]

    def verify(self, path):
        return subprocess.run([str(env.cli_path()), "audit", "verify", str(path)], capture_output=True, text=True,
                              timeout=60)

    def verify_copy(self, disk, name):
        """Verifies the complete lines of the live file (the writer may be appending)."""
        copy = self.ws.path / name
        copy.write_text(self.complete_lines(disk.path / "audit.jsonl"), encoding="utf-8")
        return self.verify(copy)

    def metric(self, orthanc, name, labels=""):
        return parse_metrics(orthanc.rest("GET", "/dicomweb-oauth/metrics").text).get((name, labels), 0.0)

    def qido(self, orthanc, secret, limit):
        return proxy_request(orthanc, "cloud", "GET", f"studies?limit={limit}", secret=secret)

    def forwarded(self, disk, limit):
        return [r for r in self.records(disk) if r["event"] == "proxy.request" and
                r["fields"]["outcome"] == "forwarded" and {"name": "limit", "value": str(limit)} in
                r["fields"].get("query", [])]

    def no_upstream_traffic_since(self, mark):
        # nginx logs a request once its answer has left; a request that reached it would have been
        # answered (and logged) before Orthanc answered the caller. Wait a little for a late line.
        time.sleep(1.0)
        self.assertEqual(self.upstream.access_entries()[mark:], [])

    # -- tests ---------------------------------------------------------------------------------

    def test_the_tmpfs_is_private_to_the_test(self):
        # The parent (ctest, a shell) lives in the mount namespace the test came from.
        for disk in (self.closed_disk, self.open_disk):
            self.assertTrue(mounted_in("self", disk.path))
            self.assertFalse(mounted_in(os.getppid(), disk.path))

    def test_fail_closed_refuses_while_the_file_cannot_be_written_then_recovers(self):
        a, secret, disk = self.closed, self.closed_secret, self.closed_disk
        audit_file = disk.path / "audit.jsonl"
        self.assertEqual(self.qido(a, secret, 1).status, 200)
        r = a.rest("POST", "/dicom-web/servers/inj/qido", json={"Uri": "/studies", "Arguments": {"limit": "1"}})
        self.assertEqual(r.status, 200, r.text)

        # The disk fills up. Records still fit in the free bytes of the file's last block, so the
        # first requests are forwarded; the record whose write fails (a short write, then ENOSPC)
        # makes the gateway refuse from then on. That request itself was already forwarded: its
        # record waits in memory.
        disk.fill()
        statuses = []
        for _ in range(40):
            r = self.qido(a, secret, 2)
            statuses.append(r.status)
            if r.status != 200:
                break
            time.sleep(0.05)
        self.assertEqual(statuses[-1], 503, statuses)
        self.assertTrue(all(status == 200 for status in statuses[:-1]), statuses)
        forwarded_during_fill = len(statuses) - 1
        error = r.json()["error"]
        self.assertEqual(error["code"], "AUD-005")
        self.assertIn("FailClosed", error["message"])
        assert_no_secret(self, [SECRET, HASH_KEY, secret], r.body)
        self.assertNotIn("Bearer", r.text)
        self.assertGreaterEqual(self.metric(a, WRITE_ERRORS), 1)

        # The failed write left no partial line: the file ends on a line boundary and verifies.
        self.assertTrue(audit_file.read_text(encoding="utf-8").endswith("\n"))
        live = self.verify(audit_file)
        self.assertEqual(live.returncode, 0, live.stdout + live.stderr)

        # Refused everywhere, and nothing reaches the upstream.
        mark = self.upstream.log_mark()
        refused = 1
        # Inject mode: the request filter refuses the call; Orthanc answers a bare 403 (AUD-005 in
        # the log and the record), the DICOMweb plugin never runs.
        r = a.rest("POST", "/dicom-web/servers/inj/qido", json={"Uri": "/studies", "Arguments": {"limit": "3"}})
        self.assertEqual(r.status, 403, r.text)
        assert_no_secret(self, [SECRET, HASH_KEY, secret], r.body)
        refused += 1
        r = self.qido(a, secret, 3)
        self.assertEqual(r.status, 503, r.text)
        refused += 1
        # Orthanc's DICOMweb client on the proxy-mode server: the route answers 503, and DICOMweb
        # 1.7 turns that into a failed REST call.
        r = a.rest("POST", "/dicom-web/servers/cloud/qido", json={"Uri": "/studies", "Arguments": {"limit": "3"}})
        self.assertEqual(r.status, 500, r.text)
        refused += 1
        # More refusals than the queue holds: their records are dropped, and counted.
        for _ in range(QUEUE + 2):
            self.assertEqual(self.qido(a, secret, 4).status, 503)
            refused += 1
        self.no_upstream_traffic_since(mark)
        self.assertGreaterEqual(self.metric(a, DROPPED, '{reason="queue_full"}'), 1)
        log = a.wait_log("AUD-007")
        self.assertIn("AUD-004", log)
        self.assertIn("proxy requests are refused meanwhile", log)
        self.assertIn("inject mode: refusing /dicom-web/servers/inj/qido", log)

        # Space is back: the writer's next retry (every second) succeeds and requests pass again,
        # without restarting Orthanc.
        disk.free()
        wait_until(lambda: self.qido(a, secret, 5).status == 200, 15, "the proxy route to accept requests again",
                   interval=0.25)
        r = a.rest("POST", "/dicom-web/servers/inj/qido", json={"Uri": "/studies", "Arguments": {"limit": "5"}})
        self.assertEqual(r.status, 200, r.text)
        a.wait_log("works again")

        # The record of every request forwarded during the fill is there (nothing forwarded untraced),
        # then the refusals that fit the queue; the chain is intact.
        wait_until(lambda: len(self.forwarded(disk, 2)) == forwarded_during_fill, 10,
                   "the records of the requests forwarded while the disk filled")
        records = self.records(disk)
        denied = [x for x in records if x["fields"].get("code") == "AUD-005"]
        self.assertTrue(denied, "no AUD-005 record")
        self.assertTrue(all(x["fields"]["outcome"] == "denied" for x in denied))
        # The inject-mode refusal came second, so its record fit the queue (at most 2 before it).
        self.assertIn({"event": "client.request", "uri": "/dicom-web/servers/inj/qido"},
                      [{"event": x["event"], "uri": x["fields"].get("uri")} for x in denied])
        dropped = self.metric(a, DROPPED, '{reason="queue_full"}')
        self.assertLess(len(denied), refused)
        self.assertGreaterEqual(len(denied) + dropped, refused)
        self.assertEqual([x["seq"] for x in records], list(range(1, len(records) + 1)))
        ok = self.verify_copy(disk, "closed-after.jsonl")
        self.assertEqual(ok.returncode, 0, ok.stdout + ok.stderr)
        self.assertGreaterEqual(self.metric(a, WRITE_ERRORS), 1)
        assert_no_secret(self, [SECRET, HASH_KEY], a.log_text(), self.complete_lines(audit_file))

    def test_fail_open_keeps_forwarding_and_counts_the_failure(self):
        a, secret, disk = self.open, self.open_secret, self.open_disk
        self.assertEqual(self.qido(a, secret, 1).status, 200)
        disk.fill()
        sent = 0
        for _ in range(40):
            self.assertEqual(self.qido(a, secret, 6).status, 200)
            sent += 1
            if self.metric(a, WRITE_ERRORS) >= 1:
                break
            time.sleep(0.05)
        self.assertGreaterEqual(self.metric(a, WRITE_ERRORS), 1)
        mark = self.upstream.log_mark()
        for _ in range(3):
            self.assertEqual(self.qido(a, secret, 6).status, 200)
            sent += 1
        r = a.rest("POST", "/dicom-web/servers/inj/qido", json={"Uri": "/studies", "Arguments": {"limit": "6"}})
        self.assertEqual(r.status, 200, r.text)
        self.assertGreaterEqual(len(self.upstream.new_entries(mark, 4)), 4)
        log = a.wait_log("AUD-004")
        self.assertNotIn("AUD-005", log)
        self.assertNotIn("proxy requests are refused meanwhile", log)

        disk.free()
        a.wait_log("works again", timeout=15)
        wait_until(lambda: len(self.forwarded(disk, 6)) == sent, 10, "every record written after the failure")
        self.assertEqual(self.metric(a, DROPPED, '{reason="queue_full"}'), 0)
        ok = self.verify_copy(disk, "open-after.jsonl")
        self.assertEqual(ok.returncode, 0, ok.stdout + ok.stderr)
        assert_no_secret(self, [SECRET, HASH_KEY, secret], a.log_text(), self.complete_lines(disk.path / "audit.jsonl"))


if __name__ == "__main__":
    testing.main()
