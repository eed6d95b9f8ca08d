// Defects found by the fuzz targets (fuzz/, docs/testing.md "Fuzzing") in the proxy's parsers.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "gw/proxy/MultipartReader.h"

using gw::proxy::MultipartReader;

namespace {

// Feeds `body` in pieces of `piece` bytes; returns whether the whole answer was read.
bool ReadInPieces(const std::string& body, size_t piece, size_t maxHeaderBytes, std::vector<std::string>& bodies) {
  MultipartReader reader("frontier", 1 << 20, maxHeaderBytes);
  auto keep = [&bodies](MultipartReader::Part& p) {
    bodies.push_back(p.body);
    return gw::Status();
  };
  for (size_t at = 0; at < body.size(); at += piece) {
    if (!reader.Feed(std::string_view(body).substr(at, piece), keep).Ok()) return false;
  }
  return reader.Finish(keep).Ok();
}

}  // namespace

TEST_CASE("Fuzz finding: part headers of exactly the limit pass whatever the network's cut", "[proxy][multipart][fuzz]") {
  // A header block of maxHeaderBytes was refused when its end marker arrived in pieces (the
  // reader counted the marker's first bytes as headers) and accepted when it arrived at once.
  const std::string headers = "Content-Type: application/dicom";  // 31 bytes
  for (size_t limit : {headers.size(), headers.size() + 1}) {
    const std::string body = "--frontier\r\n" + headers + "\r\n\r\nDICM\r\n--frontier--\r\n";
    for (size_t piece : {size_t{1}, size_t{2}, size_t{3}, body.size()}) {
      INFO("limit " << limit << ", piece " << piece);
      std::vector<std::string> bodies;
      CHECK(ReadInPieces(body, piece, limit, bodies));
      CHECK(bodies == std::vector<std::string>{"DICM"});
    }
  }
  // One byte over the limit is refused, however it arrives.
  const std::string over = "--frontier\r\n" + headers + "X\r\n\r\nDICM\r\n--frontier--\r\n";
  for (size_t piece : {size_t{1}, over.size()}) {
    std::vector<std::string> bodies;
    CHECK_FALSE(ReadInPieces(over, piece, headers.size(), bodies));
  }
}
