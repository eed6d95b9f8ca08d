#!/usr/bin/python3
"""The .deb in a clean Debian 12 root, next to Debian's orthanc and orthanc-dicomweb.

    test_package_debian12.py DEB_DIR UPGRADE_DIR      (as root; ctest: infra/package-debian12)

Each folder holds one .deb (tests/infra/build_packages.sh makes them).

Outside any private namespace (apt reaches the Debian mirror only from the host's network): unpack
the cached debootstrap root (infra/lib/debian-root.sh), `apt-get install orthanc orthanc-dicomweb`,
then our package, inside it with chroot; downloaded .debs are kept in the infra cache, so a warm run
downloads nothing. Then everything else runs in a private network namespace (netns_run.py), where
Orthanc runs from the root with Debian's own configuration folder, /etc/orthanc/, as the orthanc user:

1. package defaults: the plugin loads idle with a clear log line, /dicomweb-oauth/status answers;
2. an operator configures a server in the conffile (secret in a file): the installed CLI validates
   it with its compiled-in script folder, and a study goes through Orthanc's DICOMweb client to a
   protected upstream (nginx admitting only tokens the IdP vouches for) and arrives byte-identical;
3. upgrade to a rebuild with a bumped version (dpkg -i): the edited conffile is kept, studies still go;
4. remove, then purge: Orthanc still starts and serves DICOMweb, nothing of ours is left.
"""
# The IdP (oidc-provider), the upstream and the DICOM generator are the integration harness's.
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SOURCE_DIR = Path(os.environ.get("GW_SOURCE_DIR") or Path(__file__).resolve().parents[2])
sys.path.insert(0, str(SOURCE_DIR / "tests" / "integration"))

PACKAGE = "dicomweb-oauth-gateway"
SECRET = "deb-client-secret-3f8a1c"
CONFFILE = "/etc/orthanc/dicomweb-oauth.json"
PLUGIN_LINK = "/usr/share/orthanc/plugins/libOrthancOAuthGateway.so"
IDLE_LINE = "no DicomWebOAuth section in the configuration: the gateway stays disabled"


def run(argv, timeout=600, check=True, **kwargs):
    proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and proc.returncode != 0:
        raise RuntimeError(f"INF-010: `{' '.join(map(str, argv))}` failed ({proc.returncode}):\n"
                           f"{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    return proc


def chroot(root, *argv, **kwargs):
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive"}
    return run(["chroot", root, *argv], env=env, **kwargs)


# -- phase 1: host network, the root and the installs ---------------------------------------------

def cache_dir():
    return Path(os.environ.get("GW_INFRA_CACHE", "/var/cache/dicomweb-oauth-gateway"))


def root_tarball():
    proc = run(["bash", "-c", f"source {SOURCE_DIR}/infra/lib/debian-root.sh && gw_debian_root_tarball"],
               timeout=1500)
    return proc.stdout.strip().splitlines()[-1]


def apt_install(root, *packages):
    """apt-get install inside the root; when the cached package lists have gone stale (the mirror
    dropped a version: 404), update them once and retry."""
    argv = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]
    first = chroot(root, *argv, check=False)
    if first.returncode == 0:
        return first.stdout
    chroot(root, "apt-get", "update", "-q")
    return chroot(root, *argv).stdout


def prepare_root(work, deb):
    t0 = time.monotonic()
    root = work / "root"
    root.mkdir()
    run(["tar", "-C", root, "--numeric-owner", "-xf", root_tarball()])
    shutil.copy("/etc/resolv.conf", root / "etc/resolv.conf")
    # No service may start inside the root (Debian's policy-rc.d convention).
    policy = root / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    # A throwaway root: no fsync after every file dpkg writes (minutes on a busy machine).
    (root / "etc/dpkg/dpkg.cfg.d/unsafe-io").write_text("force-unsafe-io\n")
    archives = cache_dir() / "apt-archives"
    (archives / "partial").mkdir(parents=True, exist_ok=True)
    run(["mount", "--bind", archives, root / "var/cache/apt/archives"])
    run(["mount", "-t", "proc", "proc", root / "proc"])
    print(f"root unpacked in {time.monotonic() - t0:.1f} s", flush=True)

    t0 = time.monotonic()
    apt_install(root, "orthanc", "orthanc-dicomweb")
    shutil.copy(deb, root / "tmp")
    out = apt_install(root, f"/tmp/{Path(deb).name}")
    print(f"orthanc, orthanc-dicomweb and {Path(deb).name} installed in {time.monotonic() - t0:.1f} s", flush=True)
    print("\n".join(line for line in out.splitlines() if line.startswith(("Setting up", "Unpacking"))), flush=True)
    run(["umount", root / "var/cache/apt/archives"])
    return root


def cleanup(work):
    run(["bash", "-c", f"source {SOURCE_DIR}/infra/lib/debian-root.sh && gw_debian_root_umount {work}"],
        check=False)
    shutil.rmtree(work, ignore_errors=True)


def the_deb(folder):
    debs = sorted(Path(folder).glob("*.deb"))
    if len(debs) != 1:
        sys.stderr.write(f"INF-011: {folder} holds {len(debs)} .deb files, not one: "
                         "run the test infra/package-build first\n")
        sys.exit(2)
    return debs[0]


def host_main(deb_dir, upgrade_dir):
    deb, upgrade = the_deb(deb_dir), the_deb(upgrade_dir)
    base = os.environ.get("GW_TEST_TMPDIR")
    if base:
        Path(base).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="gw-infra-deb-", dir=base))
    try:
        root = prepare_root(work, deb)
        shutil.copy(upgrade, root / "tmp")
        argv = ["unshare", "-n", "--", "/usr/bin/python3", "-B",
                SOURCE_DIR / "tests/integration/netns_run.py", Path(__file__).resolve(),
                "--in-netns", root, Path(upgrade).name]
        return subprocess.run([str(a) for a in argv]).returncode
    finally:
        cleanup(work)


# -- phase 2: private network namespace -----------------------------------------------------------

def netns_main(root, upgrade_name):
    from harness import testing, wait_until
    from harness.dicom import make_study
    from harness.idp import IdentityProvider, IdpClient
    from harness.orthanc import Orthanc
    from harness.upstream import ProtectedDicomWeb
    from gwtest import assert_no_secret

    class ChrootOrthanc(Orthanc):
        """Debian's Orthanc of the root, started the way its service starts it: `Orthanc /etc/orthanc/`
        as the orthanc user, so with the package's defaults and Debian's port 8042."""

        def __init__(self, ws):
            super().__init__(ws, name="orthanc-deb")
            self.http_port = 8042

        def _spawn(self):
            argv = ["chroot", "--userspec=orthanc:orthanc", root, "/usr/sbin/Orthanc", "--verbose", "/etc/orthanc/"]
            env = {"PATH": "/usr/sbin:/usr/bin:/bin", "LANG": "C.UTF-8"}
            if self.process is None:
                self.process = self.ws.spawn(self.name, argv, env=env, cwd="/")
            self.process.start()

        def _default_credentials(self):
            return None

        def log_since(self, mark):
            return self.log_text()[mark:]

    class DebianPackage(testing.TestCase):
        """Steps run in order (test_1 ... test_4); each relies on the state the previous one left."""

        @classmethod
        def setUpClass(cls):
            super().setUpClass()
            cls.idp = cls.use_class(IdentityProvider(cls.ws, clients=[IdpClient("orthanc-deb", secret=SECRET)]))
            cls.upstream = cls.use_class(ProtectedDicomWeb(cls.ws, cls.idp))
            cls.orthanc = ChrootOrthanc(cls.ws)
            cls.addClassCleanup(cls.orthanc.stop)

        def path(self, p):
            return Path(root) / p.lstrip("/")

        def start(self):
            """(Re)start the root's Orthanc; returns the part of its log written by this start."""
            mark = len(self.orthanc.log_text())
            self.orthanc.stop()
            self.orthanc.start(timeout=60)
            return mark

        def send_study(self, seed):
            study = make_study(3, seed=seed)
            ids = [self.orthanc.upload(d)["ID"] for d in study.instances]
            series = self.orthanc.get_json(f"/instances/{ids[0]}")["ParentSeries"]
            study_id = self.orthanc.get_json(f"/series/{series}")["ParentStudy"]
            r = self.orthanc.rest("POST", "/dicom-web/servers/cloud/stow",
                                  json={"Resources": [study_id], "Synchronous": False})
            self.assertEqual(r.status, 200, r.text)
            job = self.orthanc.wait_job(r.json()["ID"], timeout=120)
            self.assertEqual(job["State"], "Success", job)
            self.assertEqual(self.upstream.backend.study_hashes(study.study_instance_uid), study.sha256_by_sop)

        def test_1_package_defaults_load_the_plugin_idle(self):
            files = chroot(root, "dpkg", "-L", PACKAGE).stdout.split()
            for f in (PLUGIN_LINK, "/usr/bin/dicomweb-oauth", CONFFILE,
                      "/usr/share/dicomweb-oauth/lua/providers/client_credentials.lua",
                      "/usr/share/dicomweb-oauth/lua/lib/oauth.lua",
                      "/usr/share/doc/dicomweb-oauth-gateway/copyright",
                      "/usr/share/doc/dicomweb-oauth-gateway/changelog.Debian.gz"):
                self.assertIn(f, files)
            target = os.readlink(self.path(PLUGIN_LINK))
            self.assertTrue(target.startswith("../../../lib/orthanc/libOrthancOAuthGateway.so."), target)
            self.assertTrue((self.path(PLUGIN_LINK).parent / target).is_file())
            self.assertIn(CONFFILE, chroot(root, "dpkg-query", "-W", "-f=${Conffiles}", PACKAGE).stdout)

            mark = self.start()
            log = self.orthanc.log_since(mark)
            self.assertIn(IDLE_LINE, log)
            self.assertEqual([l for l in log.splitlines() if l.startswith("E")], [])  # Orthanc's error lines
            plugins = self.orthanc.get_json("/plugins")
            self.assertIn("dicom-web", plugins)
            status = self.orthanc.get_json("/dicomweb-oauth/status")
            self.assertEqual(status["status"], "disabled", status)
            self.assertIn("no DicomWebOAuth section", status["reason"])

        def test_2_a_configured_server_sends_a_study_to_a_protected_upstream(self):
            secrets = self.path("/etc/orthanc/dicomweb-oauth.d")
            secrets.mkdir(mode=0o700)
            (secrets / "cloud-secret").write_text(SECRET + "\n")
            chroot(root, "chown", "-R", "orthanc:orthanc", "/etc/orthanc/dicomweb-oauth.d")
            (secrets / "cloud-secret").chmod(0o600)
            # What an operator does: replace the empty object of the conffile with a section.
            section = {"DicomWebOAuth": {"Servers": {"cloud": {
                "Url": self.upstream.dicomweb_url, "TokenEndpoint": self.idp.token_url(),
                "ClientId": "orthanc-deb", "ClientSecret": "file:/etc/orthanc/dicomweb-oauth.d/cloud-secret",
                "Scope": "dicomweb", "Resource": "urn:gw-test:dicomweb"}}}}
            self.path(CONFFILE).write_text("// edited by the operator\n" + json.dumps(section, indent=2) + "\n")

            # The installed CLI, with its compiled-in script folder (no --scripts-dir).
            check = chroot(root, "dicomweb-oauth", "check-config", "/etc/orthanc/", check=False)
            self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
            self.assertIn("configuration valid: 1 server", check.stdout + check.stderr)
            self.assertIn("/usr/share/dicomweb-oauth/lua", check.stdout + check.stderr)

            mark = self.start()
            wait_until(lambda: "Authorization" in self.orthanc.get_json("/dicom-web/servers?expand")
                       .get("cloud", {}).get("HttpHeaders", []), 20, "the gateway to define the server")
            status = self.orthanc.get_json("/dicomweb-oauth/status")
            self.assertIn("5.4", json.dumps(status))
            self.send_study(seed=31)
            self.assertGreaterEqual(self.idp.token_requests("orthanc-deb"), 1)
            assert_no_secret(self, [SECRET], self.orthanc.log_since(mark), json.dumps(status))

        def test_3_upgrade_keeps_the_configuration(self):
            before = chroot(root, "dpkg-query", "-W", "-f=${Version}", PACKAGE).stdout
            out = chroot(root, "dpkg", "-i", f"/tmp/{upgrade_name}").stdout
            after = chroot(root, "dpkg-query", "-W", "-f=${Version}", PACKAGE).stdout
            self.assertNotEqual(before, after)
            self.assertIn(f"Unpacking {PACKAGE} ({after}) over ({before})", out)
            self.assertIn("edited by the operator", self.path(CONFFILE).read_text())
            self.assertFalse(self.path(CONFFILE + ".dpkg-new").exists())
            self.start()
            self.send_study(seed=32)

        def test_4_remove_and_purge_leave_orthanc_working(self):
            self.orthanc.stop()
            chroot(root, "dpkg", "-r", PACKAGE)
            self.assertFalse(os.path.lexists(self.path(PLUGIN_LINK)))
            self.assertFalse(self.path("/usr/bin/dicomweb-oauth").exists())
            self.assertTrue(self.path(CONFFILE).exists(), "dpkg -r keeps conffiles")
            for step in ("removed", "purged"):
                mark = self.start()
                self.assertNotIn("libOrthancOAuthGateway", self.orthanc.log_since(mark))
                self.assertEqual(self.orthanc.rest("GET", "/dicomweb-oauth/status").status, 404)
                self.assertEqual(self.orthanc.rest("GET", "/dicom-web/studies").status, 200)
                self.assertIn("dicom-web", self.orthanc.get_json("/plugins"))
                if step == "removed":
                    self.orthanc.stop()
                    chroot(root, "dpkg", "-P", PACKAGE)
                    self.assertFalse(self.path(CONFFILE).exists())
                    self.assertFalse(self.path("/usr/share/dicomweb-oauth").exists())
            status = chroot(root, "dpkg-query", "-W", "-f=${Status}", PACKAGE, check=False)
            self.assertNotIn("installed", status.stdout)

    globals()["DebianPackage"] = DebianPackage  # unittest looks for tests in the module
    testing.main()


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "--in-netns":
        root_arg, upgrade_arg = sys.argv[2], sys.argv[3]
        sys.argv = [sys.argv[0]]
        netns_main(root_arg, upgrade_arg)
    elif len(sys.argv) == 3:
        sys.exit(host_main(sys.argv[1], sys.argv[2]))
    else:
        sys.stderr.write(f"usage: {sys.argv[0]} DEB_DIR UPGRADE_DIR\n")
        sys.exit(2)
