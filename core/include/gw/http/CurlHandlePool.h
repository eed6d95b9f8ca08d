#pragma once
// The libcurl plumbing shared by http::CurlHttpClient and proxy::UpstreamClient: process-wide
// curl_global_init, one CURLSH share object (connection, DNS and TLS session caches, one mutex per
// kind of shared data) and a bounded list of idle easy handles attached to it. Each client owns one
// pool, so its connections are reused across its threads and handles but not mixed with the
// other client's.
//
// Thread safety: Acquire() and Release() may run on many threads at once; a handle is used by one
// thread between Acquire() and Release(). No handle may be out when the pool is destroyed.
#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

#include "gw/http/HttpTypes.h"

namespace gw::http {

// The NET-xxx code (see IHttpClient.h) of a libcurl result code, passed as int so that curl.h stays
// out of the headers. Callers that know more about a failure (a response over the size limit, a
// TLS alert after the handshake) decide those cases first.
const char* NetErrorCode(int curlCode);

// Sets the TLS options of one transfer on a handle (CURL*), the same way for both clients:
// TLS 1.2 at least, peer and host verification unless turned off, CA bundle, client certificate
// and key (PEM) for mTLS.
void ApplyTls(void* handle, const TlsOptions& tls);

class CurlHandlePool {
 public:
  // Calls curl_global_init once per process (thread safe). Throws std::runtime_error only if
  // libcurl cannot initialise or create a share object, i.e. out of memory: a start-up error.
  explicit CurlHandlePool(size_t maxIdleHandles);
  ~CurlHandlePool();
  CurlHandlePool(const CurlHandlePool&) = delete;
  CurlHandlePool& operator=(const CurlHandlePool&) = delete;

  // An idle handle, or a new one attached to the share; nullptr when libcurl cannot create one.
  // Handles are CURL* kept opaque so that curl.h stays out of the headers.
  void* Acquire();
  // Resets the handle (every option of the finished transfer is dropped; the share attachment,
  // open connections and caches stay) and keeps it idle, or cleans it up when maxIdleHandles are
  // already idle.
  void Release(void* handle);

  // Returns its handle to the pool when it goes out of scope.
  class Lease {
   public:
    explicit Lease(CurlHandlePool& pool) : pool_(pool), handle_(pool.Acquire()) {}
    ~Lease() {
      if (handle_ != nullptr) pool_.Release(handle_);
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;

    void* Get() const { return handle_; }  // nullptr when no handle could be created

   private:
    CurlHandlePool& pool_;
    void* handle_;
  };

 private:
  struct Share;  // the CURLSH and its locks

  size_t maxIdleHandles_;
  std::unique_ptr<Share> share_;
  std::mutex poolMutex_;
  std::vector<void*> idle_;
};

}  // namespace gw::http
