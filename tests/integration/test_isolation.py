#!/usr/bin/python3
"""Isolation between servers in a real Orthanc (docs/token-engine.md and docs/lua-api.md, "Isolation
between servers"). One gateway, five proxy-mode servers:

- `hang1`, `hang2`: their token endpoint is a TCP listener that accepts and never answers (an IdP that
  hangs); each of their fetches holds a fetch thread and a Lua state until its timeout;
- `good`: a healthy server on the real IdP, behind a protected upstream (nginx + IdP introspection);
- `slowpol`: a policy that waits on the hanging listener for most of the policy budget;
- `goodpol`: the shipped `default_routing` policy.

While `hang1` and `hang2` hang, `good`'s test route fetches a fresh token at once and its DICOMweb
traffic works (before: both fetch threads were taken and the test route answered TOK-007). While
`slowpol`'s calls fill its share of the Lua pool, `goodpol`'s policy-protected requests keep
succeeding without waiting (before: the pool was exhausted and other servers' policies failed).

Which of slowpol's queued calls ends as LUA-012 (no state within its budget) and which gets a state
with too little budget left (LUA-004, refused as POL-002) is a race between equal budgets: the test
asserts what does not depend on it (the share is never exceeded, every queued call is refused with one
of those codes). tests/unit/lua/IsolationTest.cpp pins LUA-012 itself."""
# gw-test-timeout: 300

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from harness import testing, wait_until
from harness.idp import IdentityProvider, IdpClient
from harness.upstream import ProtectedDicomWeb
from gwtest import assert_no_secret, copy_scripts, gateway_orthanc, wait_proxy_definition

SECRET = "isolation-client-secret-5d0e"
HANG_SECRET = "isolation-hang-secret-93b1"
POLICY_BUDGET_MS = 8000

SLOW_POLICY = """
local M = { name = "slow_lookup", version = "1", kind = "policy" }
function M.decide(request)
  if request.stage ~= "client" then return { allow = true } end
  -- A lookup service that never answers: the call holds its Lua state for most of the budget.
  local response, err = gw.http.request{ url = request.config.HangUrl, timeout_ms = 7000 }
  return { allow = true }
end
return M
"""


class HangingListener:
    """A TCP listener that accepts connections and never answers (an IdP or service that hangs)."""

    def __init__(self, ws):
        self.port = ws.ports.allocate()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.held = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.running = False

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def accepted(self):
        with self.lock:
            return len(self.held)

    def _accept(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.held.append(conn)  # kept open, never read, never answered

    def start(self):
        self.sock.listen(256)
        self.running = True
        self.thread.start()
        return self

    def stop(self):
        self.running = False
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        with self.lock:
            for conn in self.held:
                conn.close()
            self.held.clear()
        self.thread.join(timeout=5)

    terminate = stop


class Isolation(testing.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.idp = cls.use_class(IdentityProvider(cls.ws, clients=[IdpClient("orthanc-iso", secret=SECRET)]))
        cls.upstream = cls.use_class(ProtectedDicomWeb(cls.ws, cls.idp, name="upstream-iso"))
        cls.hang = cls.use_class(HangingListener(cls.ws))     # the silent IdP
        cls.lookup = cls.use_class(HangingListener(cls.ws))   # the silent service of the slow policy
        cls.scripts = copy_scripts(cls.ws)
        (cls.scripts / "policies" / "test").mkdir(parents=True, exist_ok=True)
        (cls.scripts / "policies" / "test" / "slow_lookup.lua").write_text(SLOW_POLICY)

        def healthy(**over):
            return {"Url": cls.upstream.dicomweb_url, "Mode": "proxy", "TokenEndpoint": cls.idp.token_url(),
                    "ClientId": "orthanc-iso", "ClientSecret": SECRET, "Scope": "dicomweb",
                    "Resource": "urn:gw-test:dicomweb", **over}

        def hanging(client_id):
            return {"Url": cls.upstream.dicomweb_url, "Mode": "proxy", "TokenEndpoint": cls.hang.url + "/token",
                    "ClientId": client_id, "ClientSecret": HANG_SECRET, "ProviderType": "generic"}

        servers = {
            "hang1": hanging("hang-one"),
            "hang2": hanging("hang-two"),
            "good": healthy(),
            "slowpol": healthy(Policies=["slow_lookup"], PolicyConfig={"HangUrl": cls.lookup.url + "/lookup"}),
            "goodpol": healthy(Policies=["default_routing"]),
        }
        # 8 states, 5 servers + the gateway's own calls: one server holds at most 3 at once.
        cls.a = cls.use_class(gateway_orthanc(
            cls.ws, servers=servers, scripts=cls.scripts, name="orthanc-iso",
            section={"LuaPoolSize": 8, "PolicyTimeoutMs": POLICY_BUDGET_MS, "WatchScripts": False}))
        for name in ("good", "slowpol", "goodpol"):
            wait_proxy_definition(cls.a, name)
        cls.texts = []

    # -- helpers -------------------------------------------------------------------------------

    def server_test(self, name, fresh=False, timeout=60):
        r = self.a.rest("POST", f"/dicomweb-oauth/servers/{name}/test", json={"Fresh": fresh}, timeout=timeout)
        self.texts.append(r.text)
        return r.status, r.json()

    def qido(self, server):
        started = time.monotonic()
        r = self.a.rest("POST", f"/dicom-web/servers/{server}/qido",
                        json={"Uri": "/studies", "Arguments": {"limit": "5"}}, timeout=60)
        self.texts.append(r.text)
        return r.status, time.monotonic() - started

    # -- tests ---------------------------------------------------------------------------------

    def test_hanging_idps_of_two_servers_leave_a_third_its_token_fetch(self):
        self.assertEqual(self.server_test("good")[0], 200)
        before = self.hang.accepted()
        with ThreadPoolExecutor(max_workers=4) as pool:
            # The hanging servers' test routes wait for their fetches (10 s, then TOK-007).
            hung = [pool.submit(self.server_test, name, True) for name in ("hang1", "hang2")]
            wait_until(lambda: self.hang.accepted() >= before + 2, 20,
                       "both hanging servers' fetches to be connected to the silent IdP")
            # Both fetches now sit on the IdP until their own timeout. The healthy server's fetch
            # does not wait for a thread: a fresh token through the test route, then data traffic.
            for _ in range(3):
                status, body = self.server_test("good", fresh=True)
                self.assertEqual(status, 200, body)
                self.assertTrue(body["ok"])
                self.assertLess(body["elapsedMs"], 8000, body)  # TOK-007 after 10 s when it queued
                status, _ = self.qido("good")
                self.assertEqual(status, 200)
            self.assertGreaterEqual(self.hang.accepted(), before + 2)
            for future in hung:
                status, body = future.result(timeout=60)
                self.assertEqual(status, 503, body)
                self.assertEqual(body["error"]["code"], "TOK-007", body)

    def test_slow_policy_saturating_its_share_leaves_other_servers_policies_working(self):
        stop = threading.Event()
        slow_outcomes = []

        def slow_caller():
            while not stop.is_set():
                slow_outcomes.append(self.qido("slowpol"))

        self.assertEqual(self.qido("goodpol")[0], 200)
        before = self.lookup.accepted()
        with ThreadPoolExecutor(max_workers=10) as pool:
            callers = [pool.submit(slow_caller) for _ in range(9)]
            try:
                # slowpol's share (3 states) is full: its calls hang on the lookup service (7 s).
                wait_until(lambda: self.lookup.accepted() >= before + 3, 20, "slowpol's share to fill")
                time.sleep(1.0)
                # Nine callers, three states: the other six wait, none reaches the lookup service.
                self.assertEqual(self.lookup.accepted(), before + 3)
                good = [self.qido("goodpol") for _ in range(8)]
            finally:
                stop.set()
                for c in callers:
                    c.result(timeout=120)
        for status, seconds in good:
            self.assertEqual(status, 200)
            # A request that had to wait for one of slowpol's states would wait 7 s or fail.
            self.assertLess(seconds, 5.0, good)
        log = self.a.log_text()
        self.texts.append(log)
        # slowpol's queued calls were refused: no state within the budget (LUA-012), or a state with
        # too little budget left for the lookup (LUA-004, POL-002). Other servers never waited.
        self.assertRegex(log, r"refusing /dicom-web/servers/slowpol/qido \(POST, HTTP 50[03] answered as 403\): "
                              r"(LUA-012|POL-002)")
        self.assertNotRegex(log, r"refusing /dicom-web/servers/(goodpol|good|hang1|hang2)/")
        self.assertNotRegex(log, r"no Lua state free for server '(goodpol|good|hang1|hang2)'")
        self.assertTrue(all(status in (200, 403) for status, _ in slow_outcomes), slow_outcomes)
        self.assertTrue(any(status == 403 for status, _ in slow_outcomes), slow_outcomes)

    def test_zz_no_secret_in_any_output(self):
        for path in ("/dicomweb-oauth/status", "/dicomweb-oauth/servers", "/dicomweb-oauth/metrics"):
            self.texts.append(self.a.rest("GET", path).text)
        self.texts.append(self.a.log_text())
        assert_no_secret(self, [SECRET, HANG_SECRET], *self.texts)


if __name__ == "__main__":
    testing.main()
