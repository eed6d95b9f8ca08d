// gw.file.read(path): small files below the folders of EngineOptions::fileAllowlist.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

#include "lua/AllowedFile.h"
#include "lua/BindingRegistry.h"
#include "lua/EngineServices.h"

namespace gw::lua {
namespace {

constexpr size_t kMaxFileBytes = 1024 * 1024;

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int Get() const { return fd_; }

 private:
  int fd_;
};

std::optional<std::string> RealPath(const std::string& path) {
  char buffer[PATH_MAX];
  if (::realpath(path.c_str(), buffer) == nullptr) return std::nullopt;
  return std::string(buffer);
}

// True if `path` (canonical) is `folder` or inside it, compared per path component so that
// /etc/gw does not admit /etc/gw-other.
bool IsUnder(const std::string& path, const std::string& folder) {
  if (folder == "/") return true;
  if (path.compare(0, folder.size(), folder) != 0) return false;
  return path.size() == folder.size() || path[folder.size()] == '/';
}

std::string Shown(std::string_view path) {
  return std::string(path.substr(0, 256)) + (path.size() > 256 ? "..." : "");
}

}  // namespace

std::string ReadAllowedFile(lua_State* L, std::string_view path, const char* function) {
  auto Fail = [function](std::string_view p, const std::string& reason) {
    throw BindingError(std::string(function) + ": '" + Shown(p) + "': " + reason);
  };
  if (path.empty() || path.find('\0') != std::string_view::npos) Fail(path, "invalid path");
  CallContext& context = RequireContext(L, function);

  const std::optional<std::string> resolved = RealPath(std::string(path));
  if (!resolved) Fail(path, SystemErrorText(errno));
  bool allowed = false;
  for (const std::string& folder : context.services->Options().fileAllowlist) {
    const std::optional<std::string> canonicalFolder = RealPath(folder);
    if (canonicalFolder && IsUnder(*resolved, *canonicalFolder)) {
      allowed = true;
      break;
    }
  }
  if (!allowed) Fail(path, "outside the folders scripts may read");

  const FileDescriptor file(::open(resolved->c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (file.Get() < 0) Fail(path, SystemErrorText(errno));
  const std::optional<std::string> opened = RealPath("/proc/self/fd/" + std::to_string(file.Get()));
  if (opened && *opened != *resolved) Fail(path, "changed while being opened");
  struct stat info {};
  if (::fstat(file.Get(), &info) != 0) Fail(path, SystemErrorText(errno));
  if (!S_ISREG(info.st_mode)) Fail(path, "not a regular file");
  if (static_cast<size_t>(info.st_size) > kMaxFileBytes) Fail(path, "larger than 1 MiB");

  std::string contents;
  contents.resize(kMaxFileBytes + 1);
  size_t total = 0;
  while (total < contents.size()) {
    const ssize_t n = ::read(file.Get(), &contents[total], contents.size() - total);
    if (n < 0) {
      if (errno == EINTR) continue;
      Fail(path, SystemErrorText(errno));
    }
    if (n == 0) break;
    total += static_cast<size_t>(n);
  }
  if (total > kMaxFileBytes) Fail(path, "larger than 1 MiB");  // grew after fstat
  contents.resize(total);
  return contents;
}

namespace {

// gw.file.read(path) -> contents (string). Raises as ReadAllowedFile does.
int Read(lua_State* L) {
  const std::string contents = ReadAllowedFile(L, ArgString(L, 1, "gw.file.read", "path"), "gw.file.read");
  lua_pushlstring(L, contents.data(), contents.size());
  return 1;
}

}  // namespace

const BindingNamespace& FileNamespace() {
  static const BindingNamespace ns{"file", {{"read", &Protect<Read>}}};
  return ns;
}

}  // namespace gw::lua
