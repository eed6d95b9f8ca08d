#include "gw/http/CurlHeaderList.h"

namespace gw::http {

bool CurlHeaderList::Append(const std::string& line) {
  curl_slist* head = curl_slist_append(list_.get(), line.c_str());
  if (head == nullptr) return false;
  // `head` is the list's first node: the same one when the list was not empty. Hand ownership
  // over without freeing it.
  static_cast<void>(list_.release());
  list_.reset(head);
  return true;
}

}  // namespace gw::http
