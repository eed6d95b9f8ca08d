#pragma once
// A request body written to a temporary file while its SHA-256 is computed, then read back for
// the upstream transfer. For credentials that sign the body (AWS SigV4 puts the payload hash in
// the signature), the hash must be known before the first byte goes out; spooling to disk keeps
// memory flat whatever the size of a STOW (the file grows, the process does not).
//
// The file is created already unlinked (O_TMPFILE, else mkstemp + unlink), mode 0600, in the
// configured folder (default: the system temp folder, $TMPDIR): nothing is left behind, even on
// a crash, and no other user can open it. Reads use pread on the file, so Rewind() always works
// (401 replay, libcurl resending on a fresh connection).
//
// Use: Create(), Append() every piece, Finish() (checks the announced Content-Length and fixes
// the hash), then hand the body to the transfer. Errors: PXY-009 (500) the spool file cannot be
// created or written (disk full), PXY-005 (400) length differs from Content-Length.
// Not thread safe: one request's threads use it one after the other.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "gw/common/Error.h"
#include "gw/crypto/Hash.h"
#include "gw/proxy/IRequestBody.h"

namespace gw::proxy {

class SpoolBody final : public IRequestBody {
 public:
  // `directory` empty: the system temp folder.
  static Result<std::unique_ptr<SpoolBody>> Create(const std::string& directory);
  ~SpoolBody() override;
  SpoolBody(const SpoolBody&) = delete;
  SpoolBody& operator=(const SpoolBody&) = delete;

  Status Append(std::string_view data);
  Status Finish(std::optional<uint64_t> declaredSize);

  std::optional<uint64_t> Size() const override { return size_; }
  Result<size_t> Read(char* out, size_t max) override;
  bool Rewind() override {
    position_ = 0;
    return finished_;
  }
  std::string_view PayloadSha256() const override { return sha256_; }

 private:
  SpoolBody(int fd, std::string directory, crypto::Sha256Hasher digest);

  int fd_ = -1;
  std::string directory_;  // for messages
  crypto::Sha256Hasher digest_;
  uint64_t size_ = 0;
  uint64_t position_ = 0;
  bool finished_ = false;
  std::string sha256_;  // hex, after Finish()
};

}  // namespace gw::proxy
