#!/usr/bin/python3
"""Harness self-test: generated DICOM is valid for dcmtk (dcmdump, dcmftest) and dicom3tools (dciodvfy),
the reader and multipart helpers round-trip, and the JWT helpers sign and verify with every alg."""
import shutil
import subprocess

from harness import dicom, jose, testing
from harness.errors import HarnessError
from harness.http import multipart_related, parse_multipart
from harness.pki import Pki


def run(*argv):
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=60)


class DicomGeneratorTest(testing.TestCase):

    def setUp(self):
        for tool in ("dcmdump", "dcmftest", "dciodvfy"):
            if not shutil.which(tool):
                self.fail(f"{tool} is missing: apt-get install -y dcmtk dicom3tools")

    def test_files_pass_dcmtk_and_dciodvfy(self):
        out = self.ws.dir("dicom-files")
        cases = [
            dicom.InstanceSpec(rows=64, columns=64, bits_allocated=16),
            dicom.InstanceSpec(rows=7, columns=5, bits_allocated=8, patient_name="Müller^Jörg"),
            dicom.InstanceSpec(rows=1, columns=1, bits_allocated=16, accession_number="ACC-1"),
        ]
        for i, spec in enumerate(cases):
            with self.subTest(case=i):
                path = out / f"case{i}.dcm"
                path.write_bytes(dicom.make_instance(spec))
                dump = run("dcmdump", "-q", "+L", path)
                self.assertEqual(dump.returncode, 0, dump.stderr)
                self.assertEqual(dump.stderr, "")
                self.assertIn(f"[{spec.sop_instance_uid}]", dump.stdout)
                self.assertIn(f"[{spec.study_instance_uid}]", dump.stdout)
                self.assertIn(f"US {spec.rows}", dump.stdout)
                self.assertIn("=LittleEndianExplicit", dump.stdout)
                ftest = run("dcmftest", path)
                self.assertTrue(ftest.stdout.startswith("yes:"), ftest.stdout)
                iod = run("dciodvfy", path)
                self.assertEqual(iod.returncode, 0, iod.stderr)
                self.assertNotIn("Error", iod.stderr)
                self.assertNotIn("Warning", iod.stderr)

    def test_study_uids_and_reader(self):
        study = dicom.make_study(7, series_count=3, rows=16, columns=16, patient_id="P-7",
                                 patient_name="Doe^Jane")
        self.assertEqual(len(study.series_instance_uids), 3)
        self.assertEqual(len(set(study.sha256_by_sop.values())), 7)
        for spec, data in zip(study.specs, study.instances):
            self.assertEqual(dicom.uids(data), (study.study_instance_uid, spec.series_instance_uid,
                                                spec.sop_instance_uid))
            e = dicom.read_elements(data)
            self.assertEqual(e[(0x0010, 0x0020)].rstrip(b" "), b"P-7")
            self.assertEqual(len(e[(0x7FE0, 0x0010)]), 16 * 16 * 2)
        # the same seed gives the same bytes; another seed other bytes
        again = dicom.make_instance(study.specs[0])
        self.assertEqual(again, study.instances[0])
        self.assertNotEqual(dicom.make_instance(study.specs[0], seed=12345), again)
        with self.assertRaises(HarnessError):
            dicom.read_elements(b"not dicom")

    def test_reader_handles_implicit_vr(self):
        d = self.ws.dir("implicit")
        spec = dicom.InstanceSpec(rows=4, columns=4)
        (d / "in.dcm").write_bytes(dicom.make_instance(spec))
        conv = run("dcmconv", "+ti", d / "in.dcm", d / "out.dcm")
        self.assertEqual(conv.returncode, 0, conv.stderr)
        data = (d / "out.dcm").read_bytes()
        self.assertEqual(dicom.read_elements(data)[(0x0002, 0x0010)].rstrip(b"\0"),
                         dicom.IMPLICIT_VR_LITTLE_ENDIAN.encode())
        self.assertEqual(dicom.uids(data), (spec.study_instance_uid, spec.series_instance_uid,
                                            spec.sop_instance_uid))

    def test_thousand_instances_are_distinct(self):
        study = dicom.make_study(1000, series_count=4)
        self.assertEqual(len(study.sha256_by_sop), 1000)
        self.assertEqual(len(set(study.sha256_by_sop.values())), 1000)
        side = dicom.side_for_bytes(1 << 20)
        self.assertGreaterEqual(side * side * 2, 1 << 20)
        self.assertLess((side - 1) * (side - 1) * 2, 1 << 20)

    def test_multipart_round_trip(self):
        parts = [dicom.make_instance(rows=8, columns=8) for _ in range(3)] + [b"", b"--\r\n--x"]
        content_type, body = multipart_related(parts)
        self.assertEqual([data for _, data in parse_multipart(content_type, body)], parts)
        # without Content-Length headers in the parts
        boundary = content_type.split("boundary=")[1]
        stripped = body.replace(b"Content-Length: ", b"X-Ignored: ")
        self.assertEqual([d for _, d in parse_multipart(f"multipart/related; boundary={boundary}", stripped)],
                         parts)


class JoseTest(testing.TestCase):

    def test_sign_and_verify_every_alg(self):
        pki = Pki(self.ws, "jose")
        rsa = pki.key_pair("rsa", "rsa")
        ec = pki.key_pair("ec", "ec")
        for alg, pair in (("RS256", rsa), ("PS256", rsa), ("ES256", ec)):
            with self.subTest(alg=alg):
                token = jose.sign({"sub": "x"}, alg, key=pair.private, kid="k1")
                jwk = self._jwk_of(pair, "k1")
                self.assertEqual(jose.verify(token, {"keys": [jwk]}), {"sub": "x"})
                h, p, s = token.split(".")
                other = jose.sign({"sub": "y"}, alg, key=pair.private, kid="k1").split(".")[1]
                with self.assertRaises(HarnessError):
                    jose.verify(f"{h}.{other}.{s}", {"keys": [jwk]})
        token = jose.sign({"a": 1}, "HS256", secret="k")
        self.assertEqual(jose.decode(token)[0]["alg"], "HS256")

    @staticmethod
    def _jwk_of(pair, kid):
        # Build the JWK from the public key's DER with openssl's text output (independent of jose.py).
        text = run("openssl", "pkey", "-pubin", "-in", pair.public, "-noout", "-text").stdout
        lines = text.splitlines()
        if pair.kind == "rsa":
            start = next(i for i, l in enumerate(lines) if l.startswith("Modulus"))
            hexdigits = "".join(l.strip() for l in lines[start + 1:] if l.startswith(" ")).replace(":", "")
            n = bytes.fromhex(hexdigits).lstrip(b"\0")
            return {"kty": "RSA", "kid": kid, "n": jose.b64url(n), "e": "AQAB"}
        start = next(i for i, l in enumerate(lines) if l.startswith("pub:"))
        block = []
        for l in lines[start + 1:]:
            if not l.startswith(" "):
                break
            block.append(l.strip())
        point = bytes.fromhex("".join(block).replace(":", ""))
        return {"kty": "EC", "crv": "P-256", "kid": kid, "x": jose.b64url(point[1:33]), "y": jose.b64url(point[33:])}


if __name__ == "__main__":
    testing.main()
