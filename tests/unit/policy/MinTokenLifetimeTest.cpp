// A policy's min_token_seconds reaches the credential source through the Forwarder: the longer of
// the Forwarder's own minimum and the policy's applies.
#include <catch2/catch.hpp>

#include "gw/proxy/Forwarder.h"
#include "proxy/RecordingSink.h"

namespace {

// Records the minimum lifetime asked for, then refuses (no upstream is needed to observe it).
class MinRecorder final : public gw::proxy::ICredentialSource {
 public:
  gw::Result<gw::http::Headers> CredentialHeaders(const std::string&, const gw::proxy::OutgoingRequest&,
                                                  std::chrono::seconds minRemaining,
                                                  std::chrono::milliseconds) override {
    asked.push_back(minRemaining);
    return gw::MakeError("TOK-003", "no token in this test", 503);
  }
  void CredentialRejected(const std::string&) override {}
  std::vector<std::chrono::seconds> asked;
};

}  // namespace

TEST_CASE("Forwarder/min_token_seconds of a policy", "[policy]") {
  auto credentials = std::make_shared<MinRecorder>();
  gw::proxy::ForwarderOptions options;
  options.minRemaining = std::chrono::seconds(60);
  gw::proxy::Forwarder forwarder(credentials, std::make_shared<gw::proxy::UpstreamClient>(), options);
  auto base = gw::proxy::UpstreamUrl::FromBase("http://127.0.0.1:9/dicom-web/");
  REQUIRE(base.Ok());
  gw::proxy::ServerRoute route{"cloud", base.Value(), gw::proxy::LoopbackSecret::Generate().Value(), {}, {},
                               std::chrono::milliseconds(1000), std::chrono::milliseconds(1000), false, {}};
  gw::proxy::ForwardRequest request;
  request.method = "GET";
  request.url = "http://127.0.0.1:9/dicom-web/studies";
  gw::test::RecordingSink sink;

  auto outcome = forwarder.Forward(route, request, sink);  // no policy minimum
  request.minRemaining = std::chrono::seconds(900);         // a policy asks for 15 minutes
  outcome = forwarder.Forward(route, request, sink);
  request.minRemaining = std::chrono::seconds(10);          // shorter than the Forwarder's own
  outcome = forwarder.Forward(route, request, sink);
  REQUIRE_FALSE(outcome.Ok());
  CHECK(outcome.GetError().code == "TOK-003");
  // The Forwarder's own 60 s is asked first without waiting; when it cannot be had, the request
  // takes what the policy requires (nothing, or 10 s). A longer policy minimum is the one ask.
  REQUIRE(credentials->asked.size() == 5);
  CHECK(credentials->asked[0] == std::chrono::seconds(60));
  CHECK(credentials->asked[1] == std::chrono::seconds(0));
  CHECK(credentials->asked[2] == std::chrono::seconds(900));
  CHECK(credentials->asked[3] == std::chrono::seconds(60));
  CHECK(credentials->asked[4] == std::chrono::seconds(10));
}
