// Latency of one AWS SigV4 signature as the proxy computes it: ScriptEngine::Call of
// lua/providers/aws_sigv4.lua's sign() for a QIDO-shaped request with a session token (one thread,
// warm pool, signing key cached). Prints median and p99 in nanoseconds.
// Usage: bench_aws_sign [iterations]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "BenchSupport.h"
#include "gw/lua/ScriptEngine.h"

int main(int argc, char** argv) {
  const long iterations = argc > 1 ? std::atol(argv[1]) : 50000;
  auto folder = gw::bench::TempFolder::Create("aws");
  if (!folder) return 1;
  if (!gw::bench::CopyScripts(gw::bench::SourceDir() / "lua/providers", {"aws_sigv4"}, folder->Path())) return 1;
  std::error_code copied;  // the libraries the provider uses (gw.library)
  std::filesystem::copy(gw::bench::SourceDir() / "lua/lib", folder->Path() + "/lib",
                        std::filesystem::copy_options::recursive, copied);
  if (copied) {
    std::fprintf(stderr, "cannot copy lua/lib: %s\n", copied.message().c_str());
    return 1;
  }
  const auto engine = gw::bench::LoadScripts(folder->Path());
  folder->Remove();
  if (!engine) return 1;
  rapidjson::Document arg;
  arg.Parse(R"({"server":"aws","config":{"Region":"us-east-1","Url":"https://x/"},)"
            R"("credential":"{\"AccessKeyId\":\"ASIAEXAMPLE\",\"SecretAccessKey\":\"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\",\"SessionToken\":\"FQoGZXIvYXdzEXAMPLEtoken\"}",)"
            R"("request":{"method":"GET","url":"https://dicom-medical-imaging.us-east-1.amazonaws.com/datastore/0123456789abcdef0123456789abcdef/studies/1.2.840.113619.2.55.3/series?includefield=0008103E,00200011&limit=100",)"
            R"("headers":{"Accept":"application/dicom+json","traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},)"
            R"("payload_sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}})");
  for (int i = 0; i < 5000; ++i) {  // warm-up
    auto r = engine->Call("aws_sigv4", "sign", arg);
    if (!r) {
      std::fprintf(stderr, "sign failed: %s\n", r.GetError().ToString().c_str());
      return 1;
    }
  }
  std::vector<long long> samples;
  samples.reserve(static_cast<size_t>(iterations));
  for (long i = 0; i < iterations; ++i) {
    const auto start = std::chrono::steady_clock::now();
    auto result = engine->Call("aws_sigv4", "sign", arg);
    const auto end = std::chrono::steady_clock::now();
    if (!result) return 1;
    samples.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count());
  }
  const gw::bench::Percentiles p = gw::bench::Summarize(std::move(samples));
  std::printf("aws_sigv4 sign(): %ld iterations, median %lld ns, p99 %lld ns, p99.9 %lld ns\n", iterations, p.median,
              p.p99, p.p999);
  return 0;
}
