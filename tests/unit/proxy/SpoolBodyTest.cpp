// SpoolBody: the request body of a signing provider, hashed while written to an unlinked file and
// read back (and again after a rewind) for the transfer.
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>

#include <catch2/catch.hpp>

#include "gw/proxy/SpoolBody.h"

using gw::proxy::SpoolBody;

namespace {

std::string ReadAll(SpoolBody& body, size_t piece) {
  std::string out;
  std::string buffer(piece, '\0');
  while (true) {
    auto n = body.Read(buffer.data(), buffer.size());
    REQUIRE(n.Ok());
    if (n.Value() == 0) return out;
    out.append(buffer.data(), n.Value());
  }
}

struct TempDir {
  std::string path;
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "gw-spool-test-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  size_t Entries() const {
    return static_cast<size_t>(std::distance(std::filesystem::directory_iterator(path), {}));
  }
};

}  // namespace

TEST_CASE("SpoolBody/hash, size, read back and rewind", "[proxy][spool]") {
  TempDir dir;
  auto created = SpoolBody::Create(dir.path);
  REQUIRE(created.Ok());
  SpoolBody& body = *created.Value();
  // Nothing named in the folder, ever: the file is unlinked from the start.
  CHECK(dir.Entries() == 0);

  std::string data;
  for (int i = 0; i < 3000; ++i) data += "piece " + std::to_string(i) + " of a STOW body\r\n";
  for (size_t at = 0; at < data.size(); at += 4093) REQUIRE(body.Append(std::string_view(data).substr(at, 4093)).Ok());
  CHECK(body.PayloadSha256().empty());  // unknown until complete
  REQUIRE(body.Finish(data.size()).Ok());
  CHECK(dir.Entries() == 0);
  REQUIRE(body.Size().has_value());
  CHECK(*body.Size() == data.size());

  SECTION("the SHA-256 is that of the bytes written") {
    // sha256 of "abc" checked separately below; here: the hash changes with the data and has the form.
    CHECK(body.PayloadSha256().size() == 64);
    CHECK(ReadAll(body, 1000) == data);
  }
  SECTION("a rewind serves the same bytes again (401 replay)") {
    CHECK(ReadAll(body, 65536) == data);
    REQUIRE(body.Rewind());
    CHECK(ReadAll(body, 777) == data);
  }
}

TEST_CASE("SpoolBody/known digests", "[proxy][spool]") {
  auto empty = SpoolBody::Create("");
  REQUIRE(empty.Ok());
  REQUIRE(empty.Value()->Finish(0).Ok());
  CHECK(empty.Value()->PayloadSha256() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

  auto abc = SpoolBody::Create("");
  REQUIRE(abc.Ok());
  REQUIRE(abc.Value()->Append("a").Ok());
  REQUIRE(abc.Value()->Append("bc").Ok());
  REQUIRE(abc.Value()->Finish(std::nullopt).Ok());
  CHECK(abc.Value()->PayloadSha256() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("SpoolBody/errors", "[proxy][spool]") {
  SECTION("length differs from Content-Length: PXY-005") {
    auto body = SpoolBody::Create("");
    REQUIRE(body.Ok());
    REQUIRE(body.Value()->Append("12345").Ok());
    auto finished = body.Value()->Finish(6);
    REQUIRE_FALSE(finished.Ok());
    CHECK(finished.GetError().code == "PXY-005");
  }
  SECTION("no such folder: PXY-009") {
    auto body = SpoolBody::Create("/nonexistent/gw-spool-folder");
    REQUIRE_FALSE(body.Ok());
    CHECK(body.GetError().code == "PXY-009");
    CHECK(body.GetError().httpStatus == 500);
  }
  SECTION("read before the body is complete") {
    auto body = SpoolBody::Create("");
    REQUIRE(body.Ok());
    REQUIRE(body.Value()->Append("x").Ok());
    char c;
    CHECK_FALSE(body.Value()->Read(&c, 1).Ok());
  }
}
