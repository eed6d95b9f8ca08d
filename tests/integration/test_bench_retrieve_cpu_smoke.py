#!/usr/bin/python3
"""The CPU benchmark (bench/retrieve_cpu.py) in a tiny run, so it cannot rot: one small study
retrieved and sent, direct and proxy, every transfer checked by content on the receiving side; and
its attribution of perf samples to roles (DICOMweb client, Orthanc's HTTP server, the gateway's
route and exchange threads) on a fixed `perf script` text. No timing is asserted."""
# gw-test-timeout: 180
import sys
from pathlib import Path

from harness import testing

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent / "bench"))
import retrieve_cpu  # noqa: E402

GATEWAY = "/usr/share/orthanc/plugins/libOrthancOAuthGateway.so"
CIVETWEB = "/usr/lib/x86_64-linux-gnu/libcivetweb.so.1.15.0"
DICOMWEB = "/usr/lib/orthanc/libOrthancDicomWeb.so.1.7"
KERNEL = "[kernel.kallsyms]"

# Five samples as `perf script -F ip,sym,dso` prints them (call chains, leaf first).
SCRIPT = f"""
\t ffffffff82242009 __x64_sys_recvfrom ({KERNEL})
\t ffffffff81000130 entry_SYSCALL_64_after_hwframe ({KERNEL})
\t           16036 [unknown] ({CIVETWEB})

\t          16d9f6 __memcpy_avx512_unaligned_erms (inlined)
\t           12345 gw::proxy::BodyQueue::Push+0x40 ({GATEWAY})
\t           1a0e7 [unknown] ({CIVETWEB})

\t ffffffff82242009 pvm_irq_enable ({KERNEL})
\t ffffffff81000e06 asm_exc_page_fault ({KERNEL})
\t          16d9f6 __memcpy_avx512_unaligned_erms (inlined)
\t           63d17 [unknown] ({DICOMWEB})

\t ffffffff82242009 __x64_sys_sendto ({KERNEL})
\t           4f455 curl_multi_perform (/usr/lib/x86_64-linux-gnu/libcurl.so.4.8.0)
\t           54321 gw::http::CurlHttpClient::Execute ({GATEWAY})

\t           85f16 __futex_abstimed_wait_common (/usr/lib/x86_64-linux-gnu/libc.so.6)
"""


class RetrieveCpuSmoke(testing.TestCase):

    def test_samples_are_attributed_to_their_role(self):
        self.assertEqual(retrieve_cpu.roles_from_script(SCRIPT), {
            ("Orthanc's HTTP server, outside the plugin", "syscall recvfrom"): 1,
            ("gateway, on the HTTP thread (route)", "copies (memcpy)"): 1,
            ("DICOMweb client", "page faults"): 1,
            ("gateway, exchange thread", "syscall sendto"): 1,
            ("other", "__futex_abstimed_wait_common"): 1,
        })

    def test_a_tiny_retrieve_and_stow_run_in_both_modes(self):
        for workload in ("retrieve", "stow"):
            samples = retrieve_cpu.main(["--workload", workload, "--reps", "1", "--instances", "3",
                                         "--size", "64"])
            self.assertEqual(set(samples), {"direct", "proxy"}, workload)
            for mode, runs in samples.items():
                self.assertEqual(len(runs), 1, (workload, mode))
                run = runs[0]
                self.assertGreater(run["last_s"], 0, (workload, mode))
                self.assertGreater(run["a_rss_after"], 0, (workload, mode))
                self.assertGreaterEqual(run["a_user"] + run["a_sys"], 0, (workload, mode))


if __name__ == "__main__":
    testing.main()
