#!/usr/bin/python3
"""The local story, end to end (run by scripts/demo.sh inside a private network namespace):
an OAuth2 identity provider, a protected "cloud" DICOMweb service, and Orthanc with the gateway.
Uploads a sample study, sends it to the cloud, queries it there, retrieves it back, and prints what
happened and where to look.

With --keep the servers stay up, and Orthanc (Explorer, the gateway's operator page) is reachable
from this machine's browser at http://127.0.0.1:<port>/ (GW_DEMO_PORT, default 8042, or a free port
if that one is taken): scripts/demo.sh first runs this file with --host-relay on the host's network,
which binds that port and hands the listening socket to the demo in its private namespace
(`unshare` keeps inherited descriptors, and a socket stays in the namespace it was created in). The
demo accepts on it and connects to Orthanc on the namespace's loopback. The identity provider and the
protected cloud stay private."""
import json
import os
import socket
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))

from harness import Workspace, wait_until                      # noqa: E402
from harness.dicom import make_study, sha256                   # noqa: E402
from harness.idp import IdentityProvider, IdpClient            # noqa: E402
from harness.upstream import ProtectedDicomWeb                 # noqa: E402
from gwtest import copy_scripts, gateway_orthanc               # noqa: E402

SECRET = "demo-client-secret-change-me"
ROOT = Path(__file__).resolve().parents[1]


def host_relay(argv):
    """Host side of --keep: bind 127.0.0.1:GW_DEMO_PORT here, then become the demo in a private
    network namespace, passing the listening socket down."""
    port = int(os.environ.get("GW_DEMO_PORT", "8042"))
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("127.0.0.1", port))
    except OSError as err:
        listener.bind(("127.0.0.1", 0))
        print(f"127.0.0.1:{port} is taken ({err.strerror}): using 127.0.0.1:{listener.getsockname()[1]}")
    listener.listen(64)
    listener.set_inheritable(True)
    unshare = ["unshare", "-n"] if os.geteuid() == 0 else ["unshare", "-r", "-n"]
    rest = [a for a in argv if a != "--host-relay"]
    os.execvp("unshare", [*unshare, "--", "/usr/bin/python3", "-B", str(ROOT / "tests/integration/netns_run.py"),
                          str(Path(__file__).resolve()), *rest, f"--host-fd={listener.fileno()}"])


class HostRelay:
    """Namespace side: accepts on the socket bound on the host's 127.0.0.1 and pipes each connection
    to 127.0.0.1:`target_port` of this namespace (byte for byte, both directions)."""

    def __init__(self, fd, target_port):
        self.listener = socket.socket(fileno=fd)
        self.target_port = target_port
        self.port = self.listener.getsockname()[1]

    def start(self):
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client):
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=10)
            upstream.settimeout(None)
        except OSError:
            client.close()
            return
        threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()
        self._pipe(client, upstream)

    @staticmethod
    def _pipe(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
                try:
                    sock.shutdown(how)
                except OSError:
                    pass


def step(text):
    print(f"\n== {text}", flush=True)


def main():
    if "--host-relay" in sys.argv:
        return host_relay(sys.argv[1:])
    keep = "--keep" in sys.argv
    host_fd = next((int(a.split("=", 1)[1]) for a in sys.argv if a.startswith("--host-fd=")), None)
    ws = Workspace("demo")
    failed = True
    try:
        step("identity provider (oidc-provider, client credentials) and protected cloud DICOMweb (Orthanc behind nginx)")
        idp = IdentityProvider(ws, clients=[IdpClient("orthanc-demo", secret=SECRET)], access_token_ttl=300)
        idp.start()
        cloud = ProtectedDicomWeb(ws, idp)
        cloud.start()
        print(f"token endpoint : {idp.token_url()}")
        print(f"cloud DICOMweb : {cloud.dicomweb_url}  (401 without a valid bearer token)")
        r = cloud.qido("/studies")
        print(f"unauthenticated QIDO on the cloud -> {r.status}")

        step("Orthanc with the DICOMweb plugin and the OAuth gateway")
        # With --keep: a copy of the scripts to edit, published by the operator page's Reload button
        # (no file watch), so a dry run shows the change first.
        scripts = copy_scripts(ws) if keep else None
        orthanc = gateway_orthanc(ws, name="orthanc", scripts=scripts,
                                  section={"WatchScripts": False} if keep else None, servers={"cloud": {
                                      "Url": cloud.dicomweb_url, "TokenEndpoint": idp.token_url(),
                                      "ClientId": "orthanc-demo", "ClientSecret": SECRET, "Scope": "dicomweb",
                                      "Resource": "urn:gw-test:dicomweb", "Mode": "inject"}})
        orthanc.start()
        status = orthanc.get_json("/dicomweb-oauth/status")
        print(f"Orthanc        : {orthanc.url}")
        print(f"gateway status : {status['status']}, {status['lua']['version']}, "
              f"script snapshot v{status['lua']['snapshot']['version']}")
        test = orthanc.rest("POST", "/dicomweb-oauth/servers/cloud/test").json()
        print(f"token test     : ok={test['ok']} provider={test.get('provider')} "
              f"expires in {test.get('expiresInSeconds')} s (the token itself is never shown)")

        step("upload a sample study (20 synthetic instances) to Orthanc")
        study = make_study(20, series_count=2, seed=2026, patient_name="DEMO^PATIENT")
        ids = [orthanc.upload(d)["ID"] for d in study.instances]
        series = orthanc.get_json(f"/instances/{ids[0]}")["ParentSeries"]
        study_id = orthanc.get_json(f"/series/{series}")["ParentStudy"]
        print(f"study {study.study_instance_uid}: {len(ids)} instances")

        step("send it to the cloud with Orthanc's own DICOMweb client (POST /dicom-web/servers/cloud/stow)")
        wait_until(lambda: "Authorization" in orthanc.get_json("/dicom-web/servers?expand")["cloud"]
                   .get("HttpHeaders", []), 15, "the gateway to put a token in the server definition")
        t0 = time.monotonic()
        job = orthanc.post_json("/dicom-web/servers/cloud/stow", {"Resources": [study_id], "Synchronous": False})
        job = orthanc.wait_job(job["ID"])
        print(f"STOW job: {job['State']} in {time.monotonic() - t0:.1f} s")

        step("query the cloud (POST /dicom-web/servers/cloud/qido)")
        found = orthanc.post_json("/dicom-web/servers/cloud/qido",
                                  {"Uri": "/studies", "Arguments": {"StudyInstanceUID": study.study_instance_uid}})
        print(f"QIDO: {len(found)} study found in the cloud")

        step("delete the local copy and retrieve the study back (POST /dicom-web/servers/cloud/retrieve)")
        orthanc.rest("DELETE", f"/studies/{study_id}")
        job = orthanc.post_json("/dicom-web/servers/cloud/retrieve",
                                {"Resources": [{"Study": study.study_instance_uid}], "Asynchronous": True})
        job = orthanc.wait_job(job["ID"])
        same = sum(1 for sop, digest in study.sha256_by_sop.items()
                   if (oid := orthanc.find_instance(sop)) and sha256(orthanc.instance_file(oid)) == digest)
        print(f"retrieve job: {job['State']}; {same}/{len(study.instances)} instances byte-identical (SHA-256)")

        step("what happened")
        states = orthanc.get_json("/dicomweb-oauth/servers")["servers"][0]["token"]
        print(f"IdP token requests by orthanc-demo: {idp.token_requests('orthanc-demo')}")
        print(f"token state: {json.dumps(states)}")
        entries = cloud.access_entries()
        print(f"requests seen by the cloud's nginx: {len(entries)} "
              f"({sum(1 for e in entries if e.get('status') == 401)} refused)")
        print("\nwhere to look:")
        print(f"  GET {orthanc.url}/dicomweb-oauth/status    (health, Lua snapshot, token state)")
        print(f"  GET {orthanc.url}/dicomweb-oauth/metrics   (Prometheus)")
        print(f"  {orthanc.url}/dicomweb-oauth/ui/       (operator page; Orthanc Explorer has a button to it)")
        if keep:
            print(f"  logs and configs: {ws.path}")
        if same != len(study.instances) or job["State"] != "Success":
            print("demo FAILED")
            return 1
        if keep:
            if host_fd is not None:
                relay = HostRelay(host_fd, int(orthanc.url.rsplit(":", 1)[1])).start()
                host = f"http://127.0.0.1:{relay.port}"
                print("\nopen in a browser on this machine (forwarded into the demo's private network;")
                print("the identity provider and the cloud stay private):")
                print(f"  Orthanc Explorer : {host}/app/explorer.html")
                print("                     -> button \"DICOMweb OAuth gateway\" under the lookup form")
                print(f"  operator page    : {host}/dicomweb-oauth/ui/")
                print("  click: Test on server cloud (a fresh token from the IdP, its time to expiry);")
                print(f"         edit a policy in {scripts}/policies/routing/, then Dry run (what a reload")
                print("         would publish, nothing published) and Reload scripts (the snapshot version goes up);")
                print("         in Explorer, open the study, Send to DICOMweb server -> cloud.")
            try:
                input("\nservers are running; press Enter to stop them ")
            except (EOFError, KeyboardInterrupt):  # stdin closed or Ctrl-C: stop the same way
                print()
        print("\ndemo OK")
        failed = False
        return 0
    finally:
        ws.close(failed)


if __name__ == "__main__":
    sys.exit(main())
