#!/usr/bin/python3
"""`./scripts/demo.sh --keep` makes Orthanc reachable from the host's 127.0.0.1 although it runs in a
private network namespace: a listening socket bound outside is handed to the demo inside, which pipes
each connection to the namespace's loopback (scripts/demo.py, HostRelay). Proven here with the test's
own namespace as the "host" and a nested namespace as the demo's: an HTTP server only reachable inside
the nested one answers through the relay, byte for byte, and is not reachable directly."""
# gw-test-timeout: 60
import hashlib
import os
import socket
import subprocess
import sys

from harness import env, testing, wait_until

CHILD = r"""
import http.server, os, socket, subprocess, sys, threading
sys.path.insert(0, sys.argv[2])
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
import demo
body = bytes(range(256)) * 4096  # 1 MiB, every byte value
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
threading.Thread(target=server.serve_forever, daemon=True).start()
demo.HostRelay(int(sys.argv[1]), server.server_address[1]).start()
print(server.server_address[1], flush=True)
sys.stdin.read()  # until the test closes it
"""


class DemoRelay(testing.TestCase):

    def test_orthanc_in_the_demo_namespace_is_reachable_from_the_host_loopback(self):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.set_inheritable(True)
        port = listener.getsockname()[1]
        unshare = ["unshare", "-n"] if os.geteuid() == 0 else ["unshare", "-r", "-n"]
        child = subprocess.Popen([*unshare, "--", sys.executable, "-B", "-c", CHILD, str(listener.fileno()),
                                  str(env.SOURCE_DIR / "scripts")],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 pass_fds=(listener.fileno(),), text=True)
        try:
            inner_port = int(child.stdout.readline().strip() or 0)
            self.assertGreater(inner_port, 0, child.stderr.read() if child.poll() is not None else "no port")
            listener.close()  # the relay holds its own copy

            def fetch():
                with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    data = b""
                    while chunk := s.recv(65536):
                        data += chunk
                return data
            answer = wait_until(fetch, 10, "an answer through the relay")
            head, _, body = answer.partition(b"\r\n\r\n")
            self.assertTrue(head.startswith(b"HTTP/1.1 200"), head[:100])
            expected = bytes(range(256)) * 4096
            self.assertEqual(hashlib.sha256(body).hexdigest(), hashlib.sha256(expected).hexdigest())
            # The server itself stays private: its port is not open on this side.
            if inner_port != port:
                with self.assertRaises(OSError):
                    socket.create_connection(("127.0.0.1", inner_port), timeout=2).close()
        finally:
            child.stdin.close()
            child.wait(timeout=10)


if __name__ == "__main__":
    testing.main()
