#!/usr/bin/python3
"""Scripts that recurse through C calls, in a real Orthanc (docs/lua-api.md, "Limits").

Debian's Orthanc runs plugin callbacks on libcivetweb's HTTP threads, whose whole stack is 100 KiB,
while Lua's own limit on nested C calls (200) assumes megabytes: a routing policy or an audit rule
recursing through pcall, gsub callbacks, table.sort comparators, __tostring or __index used to
overflow that stack and kill Orthanc. Here each shape runs in a routing policy (upstream stage, on the
proxy route) and in an audit rule; every one of them tries to swallow the error and answer "allow".
Orthanc must stay alive and answer, the request must be denied (POL-002, nothing reaches the
upstream), the audit record must be written without the rule's fields (ruleError LUA-006), and a
reload of a deeply nested script through POST /dicomweb-oauth/reload (an HTTP thread) must end
cleanly."""
# gw-test-timeout: 400

import json

from harness import testing, wait_until
from harness.idp import IdentityProvider, IdpClient
from harness.upstream import ProtectedDicomWeb
from gwtest import LoopbackSecretCapture, assert_no_secret, copy_scripts, gateway_orthanc, proxy_request, \
    wait_proxy_definition
from test_audit import HASH_KEY, SECRET, server

# Unbounded recursions through C frames of the interpreter, each wrapped in pcall so that a stop that
# could be caught would turn into "allow".
SHAPES = {
    "pcall": "local function f() return pcall(f) end\nf()",
    "gsub": "local function f(s) return (string.gsub('x', 'x', f)) end\nf('x')",
    "sort": "local function cmp(a, b) table.sort({ 3, 2, 1 }, cmp) return a < b end\ntable.sort({ 3, 2, 1 }, cmp)",
    "tostring": "local mt = {}\nmt.__tostring = function(v) return tostring(setmetatable({}, mt)) end\n"
                "tostring(setmetatable({}, mt))",
    "index": "local mt = {}\nmt.__index = function(t, k) return setmetatable({}, mt)[k] end\n"
             "local _ = setmetatable({}, mt).x",
    "format": "local mt = {}\nmt.__tostring = function(v) return string.format('%s', setmetatable({}, mt)) end\n"
              "string.format('%s', setmetatable({}, mt))",
    "xpcall": "local function f() return xpcall(f, function(e) return e end) end\nf()",
}


def lua_shapes():
    return "local SHAPES = {\n" + "".join(
        f"  [{json.dumps(name)}] = function()\n{body}\nend,\n" for name, body in SHAPES.items()) + "}\n"


RECURSIVE_POLICY = lua_shapes() + """
local M = { name = "recursive_policy", version = "1", kind = "policy" }
function M.decide(request)
  -- The client stage (Orthanc's filter) allows, so the test can learn the route's loopback secret.
  if request.stage == "client" then return { allow = true } end
  local shape = SHAPES[request.query.shape or ""]
  if shape then pcall(shape) end
  return { allow = true, reason = "survived " .. tostring(request.query.shape) }
end
return M
"""

RECURSIVE_AUDIT = lua_shapes() + """
local M = { name = "recursive_audit", version = "1", kind = "audit" }
function M.record(event)
  local query = event.fields and event.fields.query
  local shape
  for _, q in ipairs(query or {}) do
    if q.name == "audit_shape" then shape = SHAPES[q.value] end
  end
  if shape then pcall(shape) end
  return event.fields
end
return M
"""

# Lua's parser nests one C level per parenthesis, up to its limit of 200.
NESTED_OK = ("local M = { name = \"nested\", version = \"1\", kind = \"policy\" }\n"
             "function M.decide(request) return { allow = " + "(" * 150 + "true" + ")" * 150 + " } end\n"
             "return M\n")
NESTED_TOO_DEEP = NESTED_OK.replace("(" * 150, "(" * 1000).replace(")" * 150, ")" * 1000)


class HostileRecursion(testing.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.idp = cls.use_class(IdentityProvider(cls.ws, clients=[IdpClient("orthanc-a", secret=SECRET)]))
        cls.upstream = cls.use_class(ProtectedDicomWeb(cls.ws, cls.idp))
        cls.scripts = copy_scripts(cls.ws)
        (cls.scripts / "policies" / "test").mkdir(parents=True, exist_ok=True)
        (cls.scripts / "policies" / "test" / "recursive_policy.lua").write_text(RECURSIVE_POLICY)
        (cls.scripts / "policies" / "test" / "recursive_audit.lua").write_text(RECURSIVE_AUDIT)
        cls.audit_file = cls.ws.path / "audit.jsonl"
        cls.capture = LoopbackSecretCapture(cls.ws)
        servers = {
            "deep": dict(server(cls.idp, cls.upstream.dicomweb_url, "proxy"), Policies=["recursive_policy"]),
            "plain": dict(server(cls.idp, cls.upstream.dicomweb_url, "proxy"), Policies=[]),
        }
        section = {"WatchScripts": False, "PolicyTimeoutMs": 5000,
                   "Audit": {"File": str(cls.audit_file), "HashKey": HASH_KEY, "Rules": ["recursive_audit"],
                             "FsyncIntervalMs": 0}}
        cls.a = cls.use_class(gateway_orthanc(cls.ws, servers=servers, scripts=cls.scripts, section=section,
                                              config=cls.capture.config()))
        for name in ("deep", "plain"):
            wait_proxy_definition(cls.a, name)
        cls.secrets = {name: cls.capture.secret(cls.a, name) for name in ("deep", "plain")}

    def assert_alive(self):
        self.assertTrue(self.a.running, self.a.log_text()[-3000:])
        self.assertEqual(self.a.rest("GET", "/system").status, 200)

    def records(self):
        text = self.audit_file.read_text(encoding="utf-8")
        return [json.loads(line) for line in text[:text.rfind("\n") + 1].splitlines()]

    def test_recursive_policy_denies_and_orthanc_survives(self):
        mark = self.upstream.log_mark()
        for shape in SHAPES:
            with self.subTest(shape=shape):
                r = proxy_request(self.a, "deep", "GET", f"studies?shape={shape}", secret=self.secrets["deep"],
                                  headers={"Accept": "application/dicom+json"})
                self.assertEqual(r.status, 500, r.text)
                self.assertEqual(r.json()["error"]["code"], "POL-002")
                self.assertNotIn("survived", r.text)
                self.assert_alive()
        # Nothing was forwarded, and the same server still works for a harmless request.
        self.assertEqual(self.upstream.access_entries()[mark:], [])
        self.assertIn("C stack", self.a.log_text())
        r = proxy_request(self.a, "deep", "GET", "studies?shape=none", secret=self.secrets["deep"],
                          headers={"Accept": "application/dicom+json"})
        self.assertEqual(r.status, 200, r.text)

    def test_recursive_audit_rule_records_without_fields_and_orthanc_survives(self):
        def proxy_records():
            return [rec for rec in self.records() if rec["event"] == "proxy.request"]
        stopped = []
        for shape in SHAPES:
            with self.subTest(shape=shape):
                before = len(proxy_records())
                r = proxy_request(self.a, "plain", "GET", f"studies?audit_shape={shape}",
                                  secret=self.secrets["plain"], headers={"Accept": "application/dicom+json"})
                self.assertEqual(r.status, 200, r.text)  # an audit rule does not decide on the request...
                self.assert_alive()
                wait_until(lambda: len(proxy_records()) > before, 10, f"the audit record of {shape}")
                record = proxy_records()[before]
                if "ruleError" in record:
                    # ...but its record is written fail closed: none of the rule's fields, its error code.
                    self.assertEqual(record["ruleError"], {"rule": "recursive_audit", "code": "LUA-006"})
                    self.assertEqual(record["fields"], {})
                    stopped.append(shape)
                else:
                    # A shape whose 200 levels (Lua's own limit) fit in the stack left: the rule caught
                    # Lua's error and returned its fields.
                    self.assertIn({"name": "audit_shape", "value": shape}, record["fields"]["query"])
        # gsub and string.format need 330-415 KiB for 200 levels: only the guard stops them on 100 KiB.
        self.assertIn("gsub", stopped)
        self.assertIn("format", stopped)

    def test_deeply_nested_script_reloads_cleanly(self):
        path = self.scripts / "policies" / "test" / "nested.lua"
        try:
            path.write_text(NESTED_OK)
            r = self.a.rest("POST", "/dicomweb-oauth/reload")
            self.assertEqual(r.status, 200, r.text)
            self.assert_alive()
            path.write_text(NESTED_TOO_DEEP)
            r = self.a.rest("POST", "/dicomweb-oauth/reload")
            self.assertEqual(r.status, 422, r.text)
            self.assertIn("LUA-001", r.text)
            self.assertIn("nested.lua", r.text)
            self.assert_alive()
        finally:
            path.unlink(missing_ok=True)
            self.assertEqual(self.a.rest("POST", "/dicomweb-oauth/reload").status, 200)

    def test_zz_no_secret_in_logs(self):
        assert_no_secret(self, [SECRET, HASH_KEY] + list(self.secrets.values()), self.a.log_text(),
                         self.audit_file.read_text(encoding="utf-8"))


if __name__ == "__main__":
    testing.main()
