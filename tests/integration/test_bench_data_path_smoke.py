#!/usr/bin/python3
"""The data-path benchmark (bench/data_path.py) in its smoke mode, so it cannot rot: tiny studies,
every mode (direct, inject, proxy, header-adding nginx) against an Orthanc without a front and a
front behind the delaying relay, one repetition, each transfer checked by SHA-256 on the receiving
side. No timing is asserted: benchmarks never are."""
# gw-test-timeout: 120
import os
import sys
import tempfile
import unittest
from pathlib import Path

from harness import testing

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent / "bench"))
import data_path  # noqa: E402

NOT_TRANSFERS = {"targets_missed", "cpu_steal_fraction", "split_cpus", "cpu_affinity"}


class BenchSmoke(testing.TestCase):

    def test_every_mode_and_upstream_kind_transfers_verified_data(self):
        with tempfile.TemporaryDirectory() as tmp:
            raw = data_path.main(["--smoke", "--kinds", "orthanc,far", "--far-delay-ms", "5",
                                  "--json", str(Path(tmp) / "smoke.json")])
            self.assertTrue((Path(tmp) / "smoke.json").is_file())
        expected = {f"{w} / {k} / {m}" for w in ("STOW 8 x 5 KB", "retrieve 8 x 5 KB", "2 jobs at once")
                    for k in ("orthanc", "far") for m in data_path.MODES}
        self.assertEqual(set(raw) - NOT_TRANSFERS, expected)
        self.assertTrue(0 <= raw["cpu_steal_fraction"] <= 1)
        self.assertFalse(raw["split_cpus"])
        for key in expected:
            first, last = raw[key]["first_s"][0], raw[key]["last_s"][0]
            self.assertTrue(0 < first <= last, (key, first, last))
            ratio = raw[key]["ratio_to_direct"]
            self.assertEqual(len(ratio), 1, key)
            self.assertAlmostEqual(ratio[0], raw[key.rsplit(" / ", 1)[0] + " / direct"]["last_s"][0] / last, places=9)

    def test_a_subset_of_workloads_and_modes_runs_alone(self):
        raw = data_path.main(["--smoke", "--kinds", "orthanc", "--modes", "proxy", "--workloads", "2 jobs"])
        self.assertEqual(set(raw) - NOT_TRANSFERS,
                         {"2 jobs at once / orthanc / direct", "2 jobs at once / orthanc / proxy"})

    @unittest.skipUnless(len(os.sched_getaffinity(0)) >= 2, "needs two CPUs")
    def test_split_cpus_keeps_each_side_on_its_own_cpu(self):
        # Checked after the transfers, over every thread each Orthanc then has.
        first, second = sorted(os.sched_getaffinity(0))[:2]
        raw = data_path.main(["--smoke", "--kinds", "orthanc", "--modes", "proxy", "--workloads", "2 jobs",
                              "--split-cpus"])
        self.assertTrue(raw["split_cpus"])
        self.assertEqual(raw["cpu_affinity"], {"orthanc-a": [first], "upstream": [second]})
        self.assertEqual(len(raw["2 jobs at once / orthanc / proxy"]["last_s"]), 1)


if __name__ == "__main__":
    testing.main()
