#include "gw/http/CurlHandlePool.h"

#include <curl/curl.h>

#include <array>
#include <stdexcept>

namespace gw::http {

const char* NetErrorCode(int curlCode) {
  switch (static_cast<CURLcode>(curlCode)) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
      return "NET-001";
    case CURLE_OPERATION_TIMEDOUT:
      return "NET-002";
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_USE_SSL_FAILED:
    case CURLE_SSL_CLIENTCERT:
      return "NET-003";
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_BAD_FUNCTION_ARGUMENT:
      return "NET-004";
    case CURLE_FILESIZE_EXCEEDED:
      return "NET-006";
    default:
      return "NET-005";
  }
}

namespace {

// curl_global_init is not reference-counted across threads in every libcurl version; once per
// process is enough, and curl_global_cleanup is never called (other parts of the host process, such
// as Orthanc itself, use libcurl too).
void GlobalInitOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      throw std::runtime_error("NET-005: curl_global_init failed");
    }
  });
}

using ShareLocks = std::array<std::mutex, CURL_LOCK_DATA_LAST>;

void ShareLock(CURL*, curl_lock_data data, curl_lock_access, void* user) {
  static_cast<ShareLocks*>(user)->at(data).lock();
}
void ShareUnlock(CURL*, curl_lock_data data, void* user) {
  static_cast<ShareLocks*>(user)->at(data).unlock();
}

}  // namespace

struct CurlHandlePool::Share {
  CURLSH* handle = nullptr;
  ShareLocks locks;
};

void ApplyTls(void* handle, const TlsOptions& tls) {
  CURL* h = static_cast<CURL*>(handle);
  curl_easy_setopt(h, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, tls.verifyPeer ? 1L : 0L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, tls.verifyPeer ? 2L : 0L);
  // Blobs are copied by libcurl (CURL_BLOB_COPY): `tls` need not outlive the transfer.
  auto blob = [](const std::string& pem) {
    return curl_blob{const_cast<char*>(pem.data()), pem.size(), CURL_BLOB_COPY};
  };
  if (!tls.caBundlePem.empty()) {
    curl_blob b = blob(tls.caBundlePem);
    curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &b);
    // Only the given CA: no default bundle file or folder next to it.
    curl_easy_setopt(h, CURLOPT_CAINFO, nullptr);
    curl_easy_setopt(h, CURLOPT_CAPATH, nullptr);
  } else if (!tls.caBundle.empty()) {
    curl_easy_setopt(h, CURLOPT_CAINFO, tls.caBundle.c_str());
  }
  if (!tls.clientCertificatePem.empty()) {
    curl_blob b = blob(tls.clientCertificatePem);
    curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &b);
    curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
  } else if (!tls.clientCertificate.empty()) {
    curl_easy_setopt(h, CURLOPT_SSLCERT, tls.clientCertificate.c_str());
    curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
  }
  if (!tls.clientKeyPem.empty()) {
    curl_blob b = blob(tls.clientKeyPem);
    curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &b);
    curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
  } else if (!tls.clientKey.empty()) {
    curl_easy_setopt(h, CURLOPT_SSLKEY, tls.clientKey.c_str());
    curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
  }
  if (!tls.clientKeyPassword.empty()) curl_easy_setopt(h, CURLOPT_KEYPASSWD, tls.clientKeyPassword.c_str());
}

CurlHandlePool::CurlHandlePool(size_t maxIdleHandles)
    : maxIdleHandles_(maxIdleHandles), share_(std::make_unique<Share>()) {
  GlobalInitOnce();
  share_->handle = curl_share_init();
  if (share_->handle == nullptr) throw std::runtime_error("NET-005: curl_share_init failed");
  curl_share_setopt(share_->handle, CURLSHOPT_USERDATA, &share_->locks);
  curl_share_setopt(share_->handle, CURLSHOPT_LOCKFUNC, &ShareLock);
  curl_share_setopt(share_->handle, CURLSHOPT_UNLOCKFUNC, &ShareUnlock);
  curl_share_setopt(share_->handle, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
  curl_share_setopt(share_->handle, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt(share_->handle, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
}

CurlHandlePool::~CurlHandlePool() {
  // Easy handles first: they must be detached from the share before it is cleaned up.
  for (void* h : idle_) curl_easy_cleanup(static_cast<CURL*>(h));
  idle_.clear();
  if (share_ && share_->handle != nullptr) curl_share_cleanup(share_->handle);
}

void* CurlHandlePool::Acquire() {
  {
    std::lock_guard<std::mutex> lock(poolMutex_);
    if (!idle_.empty()) {
      void* h = idle_.back();
      idle_.pop_back();
      return h;
    }
  }
  CURL* h = curl_easy_init();
  if (h != nullptr) curl_easy_setopt(h, CURLOPT_SHARE, share_->handle);
  return h;
}

void CurlHandlePool::Release(void* handle) {
  auto* h = static_cast<CURL*>(handle);
  // Reset drops every option of the finished request (URL, headers, callbacks, key password...) but
  // keeps the share attachment, so connections and TLS sessions stay reusable.
  curl_easy_reset(h);
  {
    std::lock_guard<std::mutex> lock(poolMutex_);
    if (idle_.size() < maxIdleHandles_) {
      idle_.push_back(h);
      return;
    }
  }
  curl_easy_cleanup(h);
}

}  // namespace gw::http
