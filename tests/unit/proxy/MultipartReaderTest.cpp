// The incremental multipart reader: same parts whatever the split of the input, preamble,
// epilogue, transport padding, and the errors that must stop a WADO-RS answer.
#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "gw/proxy/MultipartReader.h"

using gw::Status;
using gw::proxy::MultipartReader;

namespace {

const std::string kBoundary = "7d1a2c3b-4e5f-6071-8293-a4b5c6d7e8f9-boundary";

struct Collected {
  std::vector<MultipartReader::Part> parts;
  MultipartReader::PartHandler Handler() {
    return [this](MultipartReader::Part& p) {
      parts.push_back(std::move(p));
      return Status::Success();
    };
  }
};

std::string Binary(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xff);
  // A body must not contain the delimiter; random bytes practically never do, but make sure.
  REQUIRE(s.find("\r\n--" + kBoundary) == std::string::npos);
  return s;
}

std::string Encode(const std::vector<std::string>& bodies, const std::string& preamble = "",
                   const std::string& epilogue = "", const std::string& padding = "") {
  std::string out = preamble.empty() ? "" : preamble + "\r\n";
  for (size_t i = 0; i < bodies.size(); ++i) {
    out += "--" + kBoundary + padding + "\r\n";
    out += "Content-Type: application/dicom\r\n";
    out += "Content-Location: /studies/1/series/2/instances/" + std::to_string(i) + "\r\n\r\n";
    out += bodies[i] + "\r\n";
  }
  out += "--" + kBoundary + "--" + epilogue;
  return out;
}

void CheckParts(const std::vector<MultipartReader::Part>& parts, const std::vector<std::string>& bodies) {
  REQUIRE(parts.size() == bodies.size());
  for (size_t i = 0; i < bodies.size(); ++i) {
    CHECK(parts[i].body == bodies[i]);
    REQUIRE(parts[i].headers.size() == 2);
    CHECK(parts[i].headers[0] == std::make_pair(std::string("content-type"), std::string("application/dicom")));
    CHECK(parts[i].headers[1].first == "content-location");
    CHECK(parts[i].headers[1].second == "/studies/1/series/2/instances/" + std::to_string(i));
  }
}

}  // namespace

TEST_CASE("MultipartReader/one piece", "[proxy][multipart]") {
  const std::vector<std::string> bodies = {Binary(1000, 1), Binary(0, 2), Binary(77, 3), "\r\n--almost\r\n"};
  MultipartReader reader(kBoundary, 1 << 20);
  Collected c;
  REQUIRE(reader.Feed(Encode(bodies), c.Handler()));
  REQUIRE(reader.Finish(c.Handler()));
  CheckParts(c.parts, bodies);
  CHECK(reader.PartsEmitted() == 4);
}

TEST_CASE("MultipartReader/split at every byte position", "[proxy][multipart]") {
  const std::vector<std::string> bodies = {Binary(300, 4), Binary(1, 5), Binary(0, 6), Binary(150, 7)};
  for (const std::string& preamble : {std::string(), std::string("This is a preamble.")}) {
    for (const std::string& epilogue : {std::string(), std::string("\r\nepilogue --" + kBoundary + "\r\n")}) {
      const std::string input = Encode(bodies, preamble, epilogue, "");
      for (size_t split = 0; split <= input.size(); ++split) {
        INFO("split at " << split << " of " << input.size());
        MultipartReader reader(kBoundary, 1 << 20);
        Collected c;
        REQUIRE(reader.Feed(std::string_view(input).substr(0, split), c.Handler()));
        REQUIRE(reader.Feed(std::string_view(input).substr(split), c.Handler()));
        REQUIRE(reader.Finish(c.Handler()));
        CheckParts(c.parts, bodies);
      }
    }
  }
}

TEST_CASE("MultipartReader/byte by byte and three-way splits", "[proxy][multipart]") {
  const std::vector<std::string> bodies = {Binary(64, 8), Binary(65, 9)};
  const std::string input = Encode(bodies, "pre", "post", " \t ");
  SECTION("one byte at a time") {
    MultipartReader reader(kBoundary, 1 << 20);
    Collected c;
    for (char ch : input) REQUIRE(reader.Feed(std::string_view(&ch, 1), c.Handler()));
    REQUIRE(reader.Finish(c.Handler()));
    CheckParts(c.parts, bodies);
  }
  SECTION("every pair of split points") {
    for (size_t a = 0; a <= input.size(); a += 3) {
      for (size_t b = a; b <= input.size(); b += 5) {
        MultipartReader reader(kBoundary, 1 << 20);
        Collected c;
        REQUIRE(reader.Feed(std::string_view(input).substr(0, a), c.Handler()));
        REQUIRE(reader.Feed(std::string_view(input).substr(a, b - a), c.Handler()));
        REQUIRE(reader.Feed(std::string_view(input).substr(b), c.Handler()));
        REQUIRE(reader.Finish(c.Handler()));
        CheckParts(c.parts, bodies);
      }
    }
  }
}

TEST_CASE("MultipartReader/parts are emitted as soon as they are complete", "[proxy][multipart]") {
  const std::vector<std::string> bodies = {Binary(500, 10), Binary(500, 11)};
  const std::string input = Encode(bodies);
  const size_t secondDelimiter = input.find("\r\n--" + kBoundary, 10);
  MultipartReader reader(kBoundary, 1 << 20);
  Collected c;
  REQUIRE(reader.Feed(std::string_view(input).substr(0, secondDelimiter + 2 + 2 + kBoundary.size()), c.Handler()));
  REQUIRE(c.parts.size() == 1);  // the first part is out before the rest has arrived
  CHECK(c.parts[0].body == bodies[0]);
  REQUIRE(reader.Feed(std::string_view(input).substr(secondDelimiter + 2 + 2 + kBoundary.size()), c.Handler()));
  REQUIRE(reader.Finish(c.Handler()));
  CHECK(c.parts.size() == 2);
}

TEST_CASE("MultipartReader/transport padding and parts without headers", "[proxy][multipart]") {
  const std::string input = "--" + kBoundary + "   \t\r\n\r\nno headers here\r\n--" + kBoundary + "--  \r\n";
  MultipartReader reader(kBoundary, 1 << 20);
  Collected c;
  REQUIRE(reader.Feed(input, c.Handler()));
  REQUIRE(reader.Finish(c.Handler()));
  REQUIRE(c.parts.size() == 1);
  CHECK(c.parts[0].headers.empty());
  CHECK(c.parts[0].body == "no headers here");
}

TEST_CASE("MultipartReader/header parsing", "[proxy][multipart]") {
  const std::string input = "--" + kBoundary + "\r\nContent-Type:  application/dicom+json \r\nX-Folded: a\r\n b\r\n\r\n{}\r\n--" +
                            kBoundary + "--";
  MultipartReader reader(kBoundary, 1 << 20);
  Collected c;
  REQUIRE(reader.Feed(input, c.Handler()));
  REQUIRE(reader.Finish(c.Handler()));
  REQUIRE(c.parts.size() == 1);
  REQUIRE(c.parts[0].headers.size() == 2);
  CHECK(c.parts[0].headers[0].second == "application/dicom+json");
  CHECK(c.parts[0].headers[1] == std::make_pair(std::string("x-folded"), std::string("a b")));
}

TEST_CASE("MultipartReader/errors", "[proxy][multipart]") {
  const std::vector<std::string> bodies = {Binary(100, 12), Binary(100, 13)};
  const std::string full = Encode(bodies);

  SECTION("missing final boundary, at every truncation point") {
    for (size_t cut = 0; cut < full.size(); ++cut) {
      INFO("cut at " << cut);
      MultipartReader reader(kBoundary, 1 << 20);
      Collected c;
      REQUIRE(reader.Feed(std::string_view(full).substr(0, cut), c.Handler()));
      Status s = reader.Finish(c.Handler());
      REQUIRE_FALSE(s);
      CHECK(s.GetError().code == "PXY-007");
      CHECK(c.parts.size() <= 2);
    }
  }
  SECTION("an empty body") {
    MultipartReader reader(kBoundary, 1 << 20);
    Collected c;
    CHECK_FALSE(reader.Finish(c.Handler()));
  }
  SECTION("part larger than the limit") {
    MultipartReader reader(kBoundary, 99);
    Collected c;
    Status s = reader.Feed(full, c.Handler());
    REQUIRE_FALSE(s);
    CHECK(s.GetError().code == "PXY-007");
    CHECK(c.parts.empty());
    SECTION("fed in small pieces too") {
      MultipartReader r2(kBoundary, 99);
      Status last = Status::Success();
      for (size_t i = 0; i < full.size() && last; i += 7) last = r2.Feed(std::string_view(full).substr(i, 7), c.Handler());
      CHECK_FALSE(last);
    }
  }
  SECTION("garbage after a delimiter") {
    MultipartReader reader(kBoundary, 1 << 20);
    Collected c;
    CHECK_FALSE(reader.Feed("--" + kBoundary + "X\r\n\r\nbody\r\n--" + kBoundary + "--", c.Handler()));
  }
  SECTION("header line without a colon") {
    MultipartReader reader(kBoundary, 1 << 20);
    Collected c;
    CHECK_FALSE(reader.Feed("--" + kBoundary + "\r\nnot a header\r\n\r\nbody\r\n--" + kBoundary + "--", c.Handler()));
  }
  SECTION("headers over the limit") {
    MultipartReader reader(kBoundary, 1 << 20, 100);
    Collected c;
    CHECK_FALSE(reader.Feed("--" + kBoundary + "\r\nX: " + std::string(200, 'a') + "\r\n\r\nb\r\n--" + kBoundary + "--",
                            c.Handler()));
  }
  SECTION("a handler error stops the reader") {
    MultipartReader reader(kBoundary, 1 << 20);
    int calls = 0;
    auto failing = [&](MultipartReader::Part&) {
      ++calls;
      return Status(gw::MakeError("PXY-007", "client gone", 502));
    };
    Status s = reader.Feed(full, failing);
    REQUIRE_FALSE(s);
    CHECK(s.GetError().message == "client gone");
    CHECK(calls == 1);
    CHECK_FALSE(reader.Feed("more", failing));
    CHECK_FALSE(reader.Finish(failing));
  }
}

TEST_CASE("MultipartReader/Content-Type parameters", "[proxy][multipart]") {
  CHECK(MultipartReader::BoundaryOf("multipart/related; type=\"application/dicom\"; boundary=abc123").Value() == "abc123");
  CHECK(MultipartReader::BoundaryOf("Multipart/Related; BOUNDARY=\"a b=c\"; type=application/dicom").Value() == "a b=c");
  CHECK(MultipartReader::MediaTypeOf(" Multipart/Related ; type=x") == "multipart/related");
  CHECK(MultipartReader::ParameterOf("multipart/related; type=\"application/dicom\"; boundary=b", "type").value() ==
        "application/dicom");
  CHECK_FALSE(MultipartReader::ParameterOf("multipart/related; boundary=b", "type").has_value());
  for (const char* bad : {"application/dicom+json", "multipart/related", "multipart/related; boundary=",
                          "multipart/related; boundary=\"unterminated",
                          "multipart/related; boundary=01234567890123456789012345678901234567890123456789012345678901234567890",
                          "multipart/related; boundary=a\x01"}) {
    INFO(bad);
    auto r = MultipartReader::BoundaryOf(bad);
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == "PXY-007");
  }
}

// --- Parts with a Content-Length: the body is not searched when the delimiter is where the length
// says; otherwise the parts are exactly those of the search (docs/proxy-mode.md). ---

namespace {

std::string WithLengths(const std::vector<std::string>& bodies, const std::vector<std::string>& lengths) {
  std::string out;
  for (size_t i = 0; i < bodies.size(); ++i) {
    out += "--" + kBoundary + "\r\nContent-Type: application/dicom\r\n";
    if (!lengths[i].empty()) out += "Content-Length: " + lengths[i] + "\r\n";
    out += "\r\n" + bodies[i] + "\r\n";
  }
  out += "--" + kBoundary + "--";
  return out;
}

// The parts of `input` fed whole and cut at every byte (and every second pair of bytes): the same
// whatever the cut, and returned with the outcome of Finish.
std::pair<bool, std::vector<std::string>> ReadEverySplit(const std::string& input, size_t maxPart = 1 << 20) {
  auto run = [&](const std::vector<size_t>& cuts) {
    MultipartReader reader(kBoundary, maxPart);
    Collected c;
    size_t from = 0;
    bool ok = true;
    for (size_t cut : cuts) {
      ok = ok && reader.Feed(std::string_view(input).substr(from, cut - from), c.Handler());
      from = cut;
    }
    ok = ok && reader.Feed(std::string_view(input).substr(from), c.Handler());
    ok = ok && reader.Finish(c.Handler());
    std::vector<std::string> bodies;
    for (auto& p : c.parts) bodies.push_back(p.body);
    return std::make_pair(ok, bodies);
  };
  const auto whole = run({});
  for (size_t a = 0; a <= input.size(); ++a) {
    INFO("split at " << a << " of " << input.size());
    REQUIRE(run({a}) == whole);
  }
  for (size_t a = 0; a <= input.size(); a += 7) {
    for (size_t b = a; b <= input.size(); b += 11) {
      INFO("split at " << a << " and " << b);
      REQUIRE(run({a, b}) == whole);
    }
  }
  return whole;
}

}  // namespace

TEST_CASE("MultipartReader/honest Content-Length gives the same parts at every split", "[proxy][multipart]") {
  const std::vector<std::string> bodies = {Binary(300, 20), Binary(0, 21), Binary(1, 22), Binary(150, 23)};
  const auto [ok, parts] = ReadEverySplit(WithLengths(bodies, {"300", "0", "1", "150"}));
  CHECK(ok);
  CHECK(parts == bodies);
}

TEST_CASE("MultipartReader/a wrong Content-Length splits the answer as the search does", "[proxy][multipart]") {
  const std::vector<std::string> bodies = {Binary(200, 24), Binary(120, 25), Binary(90, 26)};
  // Lengths that are shorter or longer than the part, one that ends on the next part's headers,
  // one longer than the rest of the answer (the last part), and one that is not a number.
  for (const auto& lengths : std::vector<std::vector<std::string>>{{"199", "120", "90"},
                                                                   {"201", "119", "91"},
                                                                   {"250", "120", "5000"},
                                                                   {"200", "-120", "+90"},
                                                                   {"2 00", "0x78", "99999999999999999999999"},
                                                                   {"", "", ""}}) {
    INFO(lengths[0] << " / " << lengths[1] << " / " << lengths[2]);
    const auto [ok, parts] = ReadEverySplit(WithLengths(bodies, lengths));
    CHECK(ok);
    CHECK(parts == bodies);
  }
}

TEST_CASE("MultipartReader/a Content-Length over the part limit is not trusted", "[proxy][multipart]") {
  const std::vector<std::string> bodies = {Binary(100, 27)};
  // A declared 50 within a limit of 99 for a part of 100: the search fails the part as without a
  // length; a declared 100 over the limit is ignored, and the search fails it too.
  for (const char* length : {"50", "100", "18446744073709551615"}) {
    INFO(length);
    const auto [ok, parts] = ReadEverySplit(WithLengths(bodies, {length}), 99);
    CHECK_FALSE(ok);
    CHECK(parts.empty());
  }
}

TEST_CASE("MultipartReader/repeated Content-Length headers must agree", "[proxy][multipart]") {
  const std::string body = "abc\r\n--" + kBoundary + "\r\ndef";  // the delimiter inside the body
  const std::string head = "--" + kBoundary + "\r\nContent-Length: 19\r\n";
  const std::string tail = "\r\n" + body + "\r\n--" + kBoundary + "--";
  REQUIRE(body.size() == 3 + 2 + 2 + kBoundary.size() + 2 + 3);
  const std::string n = std::to_string(body.size());
  SECTION("the same value twice: trusted") {
    const auto [ok, parts] = ReadEverySplit("--" + kBoundary + "\r\nContent-Length: " + n + "\r\ncontent-length: " + n +
                                            "\r\n" + tail);
    CHECK(ok);
    CHECK(parts == std::vector<std::string>{body});
  }
  SECTION("two values: searched") {
    const auto [ok, parts] = ReadEverySplit(head + "Content-Length: " + n + "\r\n" + tail);
    CHECK_FALSE(ok);  // the search ends the part at "abc"; what follows is no complete part
    CHECK(parts == std::vector<std::string>{"abc"});
  }
}

TEST_CASE("MultipartReader/the delimiter inside a body with an honest Content-Length stays in the body", "[proxy][multipart]") {
  // Not RFC 2046 (a body must not contain its delimiter), so only a broken or hostile upstream
  // sends it: the length decides, and the caller gets the bytes as one part under Orthanc's own
  // boundary. Without the length the same bytes are searched and split (or refused).
  const std::string inner = "--" + kBoundary + "\r\nContent-Type: text/plain\r\n\r\nsmuggled";
  const std::string body = Binary(64, 28) + "\r\n" + inner;
  const std::vector<std::string> bodies = {body, Binary(32, 29)};
  const auto [ok, parts] = ReadEverySplit(WithLengths(bodies, {std::to_string(body.size()), "32"}));
  CHECK(ok);
  CHECK(parts == bodies);
  const auto [searchedOk, searched] = ReadEverySplit(WithLengths(bodies, {"", "32"}));
  CHECK(searchedOk);
  REQUIRE(searched.size() == 3);
  CHECK(searched[1] == "smuggled");
}

TEST_CASE("MultipartReader/a part with Content-Length is emitted as soon as its delimiter is in", "[proxy][multipart]") {
  const std::vector<std::string> bodies = {Binary(500, 30), Binary(500, 31)};
  const std::string input = WithLengths(bodies, {"500", "500"});
  const size_t firstEnd = input.find("\r\n--" + kBoundary, 10) + 2 + 2 + kBoundary.size();
  MultipartReader reader(kBoundary, 1 << 20);
  Collected c;
  REQUIRE(reader.Feed(std::string_view(input).substr(0, firstEnd - 1), c.Handler()));
  CHECK(c.parts.empty());
  REQUIRE(reader.Feed(std::string_view(input).substr(firstEnd - 1, 1), c.Handler()));
  REQUIRE(c.parts.size() == 1);
  CHECK(c.parts[0].body == bodies[0]);
  REQUIRE(reader.Feed(std::string_view(input).substr(firstEnd), c.Handler()));
  REQUIRE(reader.Finish(c.Handler()));
  CHECK(c.parts.size() == 2);
}

TEST_CASE("MultipartReader/a declared length reserves the part buffer once", "[proxy][multipart]") {
  // Parts of 300 KB fed in 64 KiB pieces: the part buffer is reserved from the first length (not
  // grown by doubling to 512 KiB as the pieces arrive) and never moves afterwards.
  const std::vector<std::string> bodies = {Binary(300000, 32), Binary(300000, 33), Binary(299000, 34)};
  const std::string input = WithLengths(bodies, {"300000", "300000", "299000"});
  MultipartReader reader(kBoundary, 1 << 20);
  std::vector<const char*> buffers;
  auto handler = [&](MultipartReader::Part& p) {
    CHECK(p.body.capacity() < 300000 + 1024);
    buffers.push_back(p.body.data());
    return Status::Success();
  };
  for (size_t at = 0; at < input.size(); at += 65536) {
    REQUIRE(reader.Feed(std::string_view(input).substr(at, 65536), handler));
  }
  REQUIRE(reader.Finish(handler));
  REQUIRE(buffers.size() == 3);
  CHECK(buffers[1] == buffers[0]);
  CHECK(buffers[2] == buffers[0]);
}
