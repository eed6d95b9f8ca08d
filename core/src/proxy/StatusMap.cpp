#include "gw/proxy/StatusMap.h"

#include <algorithm>
#include <iterator>

namespace gw::proxy {

namespace {
// Final statuses of Orthanc 1.10.1's HttpStatus enumeration (OrthancFramework Enumerations.h).
constexpr int kKnown[] = {200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 307,
                          400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416,
                          417, 422, 423, 424, 426, 500, 501, 502, 503, 504, 505, 506, 507, 509, 510};
}  // namespace

int RepresentableStatus(long upstreamStatus) {
  const int s = static_cast<int>(upstreamStatus);
  if (s >= 200 && s <= 599 && std::find(std::begin(kKnown), std::end(kKnown), s) != std::end(kKnown)) return s;
  if (s == 429) return 503;
  if (s == 308) return 307;
  if (s >= 200 && s < 300) return 200;
  if (s >= 300 && s < 400) return 300;
  if (s >= 400 && s < 500) return 400;
  return 502;
}

}  // namespace gw::proxy
