#!/usr/bin/python3
"""The local story, end to end (run by scripts/demo.sh inside a private network namespace):
an OAuth2 identity provider, a protected "cloud" DICOMweb service, and Orthanc with the gateway.
Uploads a sample study, sends it to the cloud, queries it there, retrieves it back, and prints what
happened and where to look."""
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))

from harness import Workspace, wait_until                      # noqa: E402
from harness.dicom import make_study, sha256                   # noqa: E402
from harness.idp import IdentityProvider, IdpClient            # noqa: E402
from harness.upstream import ProtectedDicomWeb                 # noqa: E402
from gwtest import gateway_orthanc                             # noqa: E402

SECRET = "demo-client-secret-change-me"


def step(text):
    print(f"\n== {text}", flush=True)


def main():
    keep = "--keep" in sys.argv
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
        orthanc = gateway_orthanc(ws, name="orthanc", servers={"cloud": {
            "Url": cloud.dicomweb_url, "TokenEndpoint": idp.token_url(), "ClientId": "orthanc-demo",
            "ClientSecret": SECRET, "Scope": "dicomweb", "Resource": "urn:gw-test:dicomweb", "Mode": "inject"}})
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
        if keep:
            print(f"  logs and configs: {ws.path}")
        if same != len(study.instances) or job["State"] != "Success":
            print("demo FAILED")
            return 1
        if keep:
            input("\nservers are running (inside this namespace); press Enter to stop them ")
        print("\ndemo OK")
        failed = False
        return 0
    finally:
        ws.close(failed)


if __name__ == "__main__":
    sys.exit(main())
