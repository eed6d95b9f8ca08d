#include "gw/proxy/SpoolBody.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <filesystem>
#include <stdexcept>

#include "gw/proxy/ProxyErrors.h"

namespace gw::proxy {

namespace {

Error SpoolError(const std::string& why) {
  return MakeError("PXY-009", "cannot spool the request body: " + why, 500);
}

}  // namespace

SpoolBody::SpoolBody(int fd, std::string directory, crypto::Sha256Hasher digest)
    : fd_(fd), directory_(std::move(directory)), digest_(std::move(digest)) {}

SpoolBody::~SpoolBody() {
  if (fd_ >= 0) ::close(fd_);
}

Result<std::unique_ptr<SpoolBody>> SpoolBody::Create(const std::string& directory) {
  std::string dir = directory;
  if (dir.empty()) {
    std::error_code ec;
    dir = std::filesystem::temp_directory_path(ec).string();
    if (ec) dir = "/tmp";
  }
  std::optional<crypto::Sha256Hasher> digest;
  try {
    digest.emplace();
  } catch (const std::runtime_error&) {
    return SpoolError("SHA-256 unavailable");
  }
  int fd = -1;
#ifdef O_TMPFILE
  fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
#endif
  if (fd < 0) {
    // File systems without O_TMPFILE: a named file, unlinked at once.
    std::string pattern = dir + "/dicomweb-oauth-spool-XXXXXX";
    fd = ::mkostemp(pattern.data(), O_CLOEXEC);
    if (fd < 0) return SpoolError("no temporary file in " + dir + ": " + SystemErrorText(errno));
    ::unlink(pattern.c_str());
    ::fchmod(fd, 0600);
  }
  return std::unique_ptr<SpoolBody>(new SpoolBody(fd, dir, std::move(*digest)));
}

Status SpoolBody::Append(std::string_view data) {
  if (finished_) return SpoolError("body already complete");
  try {
    digest_.Update(data);
  } catch (const std::exception&) {  // OpenSSL failed, or the digest was spent by a failed Finish
    return SpoolError("SHA-256 failed");
  }
  while (!data.empty()) {
    const ssize_t n = ::write(fd_, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return SpoolError("writing to " + directory_ + " failed: " + SystemErrorText(errno));
    }
    data.remove_prefix(static_cast<size_t>(n));
    size_ += static_cast<uint64_t>(n);
  }
  return Status::Success();
}

Status SpoolBody::Finish(std::optional<uint64_t> declaredSize) {
  if (finished_) return Status::Success();
  if (declaredSize && *declaredSize != size_) {
    return BodyError("the body has " + std::to_string(size_) + " bytes, Content-Length announced " +
                     std::to_string(*declaredSize));
  }
  try {
    sha256_ = digest_.FinalHex();
  } catch (const std::exception&) {  // OpenSSL failed, or the digest was spent by a failed Finish
    return SpoolError("SHA-256 failed");
  }
  finished_ = true;
  position_ = 0;
  return Status::Success();
}

Result<size_t> SpoolBody::Read(char* out, size_t max) {
  if (!finished_) return SpoolError("body read before it was complete");
  if (max == 0 || position_ >= size_) return size_t{0};
  const size_t want = static_cast<size_t>(std::min<uint64_t>(max, size_ - position_));
  while (true) {
    const ssize_t n = ::pread(fd_, out, want, static_cast<off_t>(position_));
    if (n < 0) {
      if (errno == EINTR) continue;
      return SpoolError("reading the spool file failed: " + SystemErrorText(errno));
    }
    if (n == 0) return SpoolError("the spool file is shorter than written");
    position_ += static_cast<uint64_t>(n);
    return static_cast<size_t>(n);
  }
}

}  // namespace gw::proxy
