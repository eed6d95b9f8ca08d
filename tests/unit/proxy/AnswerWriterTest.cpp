// How one upstream answer becomes the caller's answer: buffered whole with its real status, or a
// multipart answer streamed part by part; and what happens when it breaks.
#include <catch2/catch.hpp>

#include <string>

#include "FakeOutput.h"
#include "gw/proxy/AnswerWriter.h"
#include "gw/proxy/ProxyErrors.h"

using gw::Result;
using gw::http::Headers;
using gw::proxy::AnswerLimits;
using gw::proxy::AnswerWriter;
using gw::test::FakeOutput;

namespace {

const std::string kBoundary = "b0undary-42";

std::string Multipart(int parts, size_t size) {
  std::string out = "preamble\r\n";
  for (int i = 0; i < parts; ++i) {
    out += "--" + kBoundary + "\r\nContent-Type: application/dicom\r\nContent-Length: " + std::to_string(size) +
           "\r\nMIME-Version: 1.0\r\nContent-Location: /instances/" + std::to_string(i) + "\r\n\r\n" +
           std::string(size, static_cast<char>('a' + i)) + "\r\n";
  }
  return out + "--" + kBoundary + "--\r\n";
}

const Headers kMultipartHead = {{"content-type", "multipart/related; type=\"application/dicom\"; boundary=" + kBoundary},
                                {"transfer-encoding", "chunked"},
                                {"set-cookie", "x=y"}};

void FeedInPieces(AnswerWriter& w, const std::string& body, size_t step) {
  for (size_t i = 0; i < body.size(); i += step) REQUIRE(w.OnBody(std::string_view(body).substr(i, step)));
}

}  // namespace

TEST_CASE("AnswerWriter/non-multipart answers are sent whole with their real status", "[proxy][answer]") {
  for (long status : {200L, 202L, 204L, 400L, 401L, 403L, 404L, 409L, 500L, 503L}) {
    INFO(status);
    FakeOutput out;
    AnswerWriter w(out);
    REQUIRE(w.OnHead(status, {{"content-type", "application/dicom+json"},
                              {"www-authenticate", "Bearer error=\"invalid_token\""},
                              {"content-length", "21"},
                              {"connection", "close"}}));
    REQUIRE(w.OnBody("{\"00081198\":"));
    REQUIRE(w.OnBody("{\"vr\":\"SQ\"}}"));
    CHECK(w.Finish(Result<long>(status)) == AnswerWriter::Outcome::Complete);
    REQUIRE(out.whole.has_value());
    CHECK(out.whole->status == status);
    CHECK(out.whole->contentType == "application/dicom+json");
    CHECK(out.whole->body == "{\"00081198\":{\"vr\":\"SQ\"}}");
    CHECK(out.whole->headers == Headers{{"www-authenticate", "Bearer error=\"invalid_token\""}});
    CHECK(out.calls == 1);
  }
}

TEST_CASE("AnswerWriter/multipart 200 answers are streamed part by part", "[proxy][answer]") {
  const std::string body = Multipart(3, 1000);
  for (size_t step : {size_t(1), size_t(7), size_t(999), size_t(100000)}) {
    INFO("step " << step);
    FakeOutput out;
    AnswerWriter w(out);
    REQUIRE(w.OnHead(200, kMultipartHead));
    FeedInPieces(w, body, step);
    CHECK(w.Finish(Result<long>(200L)) == AnswerWriter::Outcome::Complete);
    CHECK(out.multipart == std::optional<std::string>("related|application/dicom"));
    REQUIRE(out.parts.size() == 3);
    for (int i = 0; i < 3; ++i) {
      CHECK(out.parts[i].body == std::string(1000, static_cast<char>('a' + i)));
      // Content-Length and MIME-Version are Orthanc's to write.
      CHECK(out.parts[i].headers == Headers{{"content-type", "application/dicom"},
                                            {"content-location", "/instances/" + std::to_string(i)}});
    }
    CHECK_FALSE(out.whole.has_value());
    CHECK(w.PartsSent() == 3);
  }
}

TEST_CASE("AnswerWriter/the multipart answer starts only with its first complete part", "[proxy][answer]") {
  const std::string body = Multipart(2, 500);
  FakeOutput out;
  AnswerWriter w(out);
  REQUIRE(w.OnHead(200, kMultipartHead));
  REQUIRE(w.OnBody(std::string_view(body).substr(0, 300)));
  CHECK(out.calls == 0);
  SECTION("upstream fails before the first part: a real error status") {
    CHECK(w.Finish(gw::proxy::UpstreamUnreachable(gw::MakeError("NET-005", "connection reset", 502))) ==
          AnswerWriter::Outcome::Complete);
    REQUIRE(out.error.has_value());
    CHECK(out.error->code == "PXY-003");
    CHECK_FALSE(out.multipart.has_value());
  }
  SECTION("upstream fails after the first part: broken, never a short well-formed answer") {
    REQUIRE(w.OnBody(std::string_view(body).substr(300, 400)));
    REQUIRE(out.parts.size() == 1);
    CHECK(w.Finish(gw::proxy::UpstreamUnreachable(gw::MakeError("NET-005", "connection reset", 502))) ==
          AnswerWriter::Outcome::Broken);
    CHECK_FALSE(out.error.has_value());
    // The last part is not DICOM, so a client that ignores the missing boundary still fails.
    REQUIRE(out.parts.size() == 2);
    CHECK(out.parts[1].headers == Headers{{"content-type", "application/dicom"}});
    CHECK(out.parts[1].body.rfind(AnswerWriter::kAbortMarker, 0) == 0);
    CHECK(out.parts[1].body.find("PXY-003") != std::string::npos);
    CHECK(out.parts[1].body.find("DICM") == std::string::npos);
  }
  SECTION("the answer ends without its closing boundary") {
    REQUIRE(w.OnBody(std::string_view(body).substr(300, 400)));
    CHECK(w.Finish(Result<long>(200L)) == AnswerWriter::Outcome::Broken);
    REQUIRE(w.Failure().has_value());
    CHECK(w.Failure()->code == "PXY-007");
    REQUIRE(out.parts.size() == 2);
    CHECK(out.parts[1].body.rfind(AnswerWriter::kAbortMarker, 0) == 0);
  }
}

TEST_CASE("AnswerWriter/a broken frames answer gets no bogus last part", "[proxy][answer]") {
  const std::string b = "frames-boundary";
  FakeOutput out;
  AnswerWriter w(out);
  REQUIRE(w.OnHead(200, {{"content-type", "multipart/related; type=\"application/octet-stream\"; boundary=" + b}}));
  REQUIRE(w.OnBody("--" + b + "\r\nContent-Type: application/octet-stream\r\n\r\nframe-1\r\n--" + b +
                   "\r\nContent-Type: application/octet-stream\r\n\r\nfra"));
  CHECK(w.Finish(gw::proxy::UpstreamUnreachable(gw::MakeError("NET-005", "connection reset", 502))) ==
        AnswerWriter::Outcome::Broken);
  REQUIRE(out.parts.size() == 1);
  CHECK(out.parts[0].body == "frame-1");
}

TEST_CASE("AnswerWriter/multipart answer with no part", "[proxy][answer]") {
  FakeOutput out;
  AnswerWriter w(out);
  REQUIRE(w.OnHead(200, {{"content-type", "multipart/related; boundary=" + kBoundary}}));
  REQUIRE(w.OnBody("--" + kBoundary + "--"));
  CHECK(w.Finish(Result<long>(200L)) == AnswerWriter::Outcome::Complete);
  CHECK(out.multipart == std::optional<std::string>("related|application/octet-stream"));
  CHECK(out.parts.empty());
}

TEST_CASE("AnswerWriter/part type from the first part when the type parameter is missing", "[proxy][answer]") {
  FakeOutput out;
  AnswerWriter w(out);
  REQUIRE(w.OnHead(200, {{"content-type", "multipart/related; boundary=" + kBoundary}}));
  REQUIRE(w.OnBody("--" + kBoundary + "\r\nContent-Type: application/octet-stream; transfer-syntax=1.2\r\n\r\nxyz\r\n--" +
                   kBoundary + "--"));
  CHECK(w.Finish(Result<long>(200L)) == AnswerWriter::Outcome::Complete);
  CHECK(out.multipart == std::optional<std::string>("related|application/octet-stream"));
}

TEST_CASE("AnswerWriter/caller gone during a multipart answer aborts the transfer", "[proxy][answer]") {
  FakeOutput out;
  out.failPartsAfter = 1;
  AnswerWriter w(out);
  REQUIRE(w.OnHead(200, kMultipartHead));
  CHECK_FALSE(w.OnBody(Multipart(3, 10)));
  CHECK(w.Finish(gw::proxy::UpstreamMalformed("the answer could not be delivered")) == AnswerWriter::Outcome::Broken);
  CHECK(w.Failure()->message.find("client closed") != std::string::npos);
  CHECK(out.calls == 3);  // start, part 1, the refused part 2: nothing after the caller is gone
}

TEST_CASE("AnswerWriter/limits and refusals", "[proxy][answer]") {
  SECTION("a non-multipart answer over the buffer limit") {
    FakeOutput out;
    AnswerLimits limits;
    limits.maxBufferedBytes = 100;
    AnswerWriter w(out, limits);
    REQUIRE(w.OnHead(200, {{"content-type", "application/octet-stream"}}));
    REQUIRE(w.OnBody(std::string(100, 'x')));
    CHECK_FALSE(w.OnBody("y"));
    CHECK(w.Finish(gw::proxy::UpstreamMalformed("the answer could not be delivered")) == AnswerWriter::Outcome::Complete);
    REQUIRE(out.error.has_value());
    CHECK(out.error->code == "PXY-007");
    CHECK(out.error->message.find("100 bytes") != std::string::npos);
  }
  SECTION("a part over the part limit") {
    FakeOutput out;
    AnswerLimits limits;
    limits.maxPartBytes = 50;
    AnswerWriter w(out, limits);
    REQUIRE(w.OnHead(200, kMultipartHead));
    CHECK_FALSE(w.OnBody(Multipart(1, 51)));
  }
  SECTION("multipart without a boundary") {
    FakeOutput out;
    AnswerWriter w(out);
    CHECK_FALSE(w.OnHead(200, {{"content-type", "multipart/related; type=\"application/dicom\""}}));
    CHECK(w.Finish(gw::proxy::UpstreamMalformed("the answer could not be delivered")) == AnswerWriter::Outcome::Complete);
    CHECK(out.error->message.find("boundary") != std::string::npos);
  }
  SECTION("compressed multipart cannot be streamed") {
    FakeOutput out;
    AnswerWriter w(out);
    CHECK_FALSE(w.OnHead(200, {{"content-type", "multipart/related; boundary=x"}, {"content-encoding", "gzip"}}));
  }
  SECTION("a non-200 multipart answer is buffered as is") {
    FakeOutput out;
    AnswerWriter w(out);
    REQUIRE(w.OnHead(206, kMultipartHead));
    REQUIRE(w.OnBody("--" + kBoundary + "--"));
    CHECK(w.Finish(Result<long>(206L)) == AnswerWriter::Outcome::Complete);
    CHECK(out.whole->status == 206);
    CHECK(out.whole->body == "--" + kBoundary + "--");
  }
  SECTION("token errors travel as they are") {
    FakeOutput out;
    AnswerWriter w(out);
    CHECK(w.Finish(gw::MakeError("TOK-003", "identity provider unavailable", 503)) == AnswerWriter::Outcome::Complete);
    CHECK(out.error->code == "TOK-003");
    CHECK(out.error->httpStatus == 503);
  }
}

TEST_CASE("Hardening: an upstream redirect never reaches the DICOMweb plugin", "[proxy][answer]") {
  for (long status : {300L, 301L, 302L, 303L, 307L, 308L}) {
    INFO(status);
    FakeOutput out;
    AnswerWriter w(out);
    CHECK_FALSE(w.OnHead(status, {{"location", "http://127.0.0.1:1/elsewhere"}, {"content-type", "text/plain"}}));
    REQUIRE(w.Failure().has_value());
    CHECK(w.Failure()->code == "PXY-010");
    // The client stops the exchange when the sink refuses the head; the writer answers the error.
    CHECK(w.Finish(gw::proxy::UpstreamMalformed("the answer could not be delivered")) ==
          AnswerWriter::Outcome::Complete);
    REQUIRE(out.error.has_value());
    CHECK(out.error->code == "PXY-010");
    CHECK(out.error->httpStatus == 502);
    CHECK(out.error->message.find("127.0.0.1") == std::string::npos);
    CHECK_FALSE(out.whole.has_value());
  }
  // 304 has no Location to follow: it passes.
  FakeOutput out;
  AnswerWriter w(out);
  REQUIRE(w.OnHead(304, {{"etag", "\"1\""}}));
  CHECK(w.Finish(Result<long>(304L)) == AnswerWriter::Outcome::Complete);
  REQUIRE(out.whole.has_value());
  CHECK(out.whole->status == 304);
}
