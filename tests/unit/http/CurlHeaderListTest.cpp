// CurlHeaderList: the one owner of a libcurl request header list (both libcurl clients).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "gw/http/CurlHeaderList.h"

TEST_CASE("CurlHeaderList/keeps every line, in order, under one owner", "[http]") {
  gw::http::CurlHeaderList list;
  CHECK(list.Get() == nullptr);
  const std::vector<std::string> lines{"Authorization: Bearer x", "X-Empty;", "Expect:"};
  for (const auto& line : lines) REQUIRE(list.Append(line));
  std::vector<std::string> seen;
  for (const curl_slist* node = list.Get(); node != nullptr; node = node->next) seen.emplace_back(node->data);
  CHECK(seen == lines);
}  // freed once here: ASan reports a leak or a double free otherwise
