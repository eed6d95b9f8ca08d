#pragma once
// A libcurl request header list with one owner, as both libcurl clients build it (CurlHttpClient,
// proxy::UpstreamClient).
#include <curl/curl.h>

#include <memory>
#include <string>

namespace gw::http {

class CurlHeaderList {
 public:
  // Adds "Name: value" (or "Name;", libcurl's spelling of an empty value, or "Name:" to remove a
  // header libcurl would add). False when out of memory; the list is then unchanged.
  bool Append(const std::string& line);
  curl_slist* Get() const { return list_.get(); }

 private:
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> list_{nullptr, &curl_slist_free_all};
};

}  // namespace gw::http
