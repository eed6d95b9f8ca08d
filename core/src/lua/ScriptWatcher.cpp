#include "lua/ScriptWatcher.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string_view>

#include "gw/common/Log.h"

namespace gw::lua {
namespace fs = std::filesystem;
namespace {

constexpr uint32_t kMask = IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO |
                           IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;

bool EndsWith(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

// Editor scratch files never trigger a reload.
bool IsScratch(std::string_view name) {
  return EndsWith(name, ".swp") || EndsWith(name, ".swx") || EndsWith(name, "~") || name == "4913" ||
         name.substr(0, 2) == ".#";
}

bool Hidden(std::string_view name) { return !name.empty() && name[0] == '.'; }

}  // namespace

ScriptWatcher::ScriptWatcher(std::vector<std::string> folders, std::chrono::milliseconds settle,
                             std::function<void()> onChange)
    : folders_(std::move(folders)), settle_(settle), onChange_(std::move(onChange)) {}

ScriptWatcher::~ScriptWatcher() {
  Stop();
  if (inotify_ >= 0) ::close(inotify_);
  if (wake_ >= 0) ::close(wake_);
}

Status ScriptWatcher::Start() {
  if (thread_.joinable()) return Status::Success();
  inotify_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_ < 0) return MakeError("LUA-010", std::string("inotify unavailable: ") + SystemErrorText(errno));
  wake_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_ < 0) return MakeError("LUA-010", std::string("eventfd unavailable: ") + SystemErrorText(errno));
  WatchRoots();
  thread_ = std::thread([this] { Run(); });
  return Status::Success();
}

void ScriptWatcher::Stop() {
  if (!thread_.joinable()) return;
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(wake_, &one, sizeof one);
  thread_.join();
}

void ScriptWatcher::WatchTree(const std::string& folder) {
  const int wd = ::inotify_add_watch(inotify_, folder.c_str(), kMask);
  if (wd < 0) return;  // vanished meanwhile, or not a folder
  watches_[wd] = folder;
  std::error_code ec;
  fs::recursive_directory_iterator it(folder, fs::directory_options::none, ec);
  for (const fs::recursive_directory_iterator end; !ec && it != end; it.increment(ec)) {
    if (!it->is_directory(ec)) continue;
    if (Hidden(it->path().filename().string())) {
      it.disable_recursion_pending();
      continue;
    }
    const int sub = ::inotify_add_watch(inotify_, it->path().c_str(), kMask);
    if (sub >= 0) watches_[sub] = it->path().string();
  }
}

bool ScriptWatcher::WatchRoots() {
  bool added = false;
  for (const std::string& folder : folders_) {
    bool watched = false;
    for (const auto& [wd, path] : watches_) watched = watched || path == folder;
    if (watched) continue;
    std::error_code ec;
    if (!fs::is_directory(folder, ec)) continue;
    WatchTree(folder);
    added = true;
  }
  return added;
}

void ScriptWatcher::Run() {
  using Clock = std::chrono::steady_clock;
  bool pending = false;
  Clock::time_point due{};
  alignas(struct inotify_event) char buffer[16 * 1024];
  for (;;) {
    int timeoutMs = 1000;
    if (pending) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(due - Clock::now()).count();
      timeoutMs = left > 0 ? static_cast<int>(left) : 0;
    }
    pollfd fds[2] = {{wake_, POLLIN, 0}, {inotify_, POLLIN, 0}};
    const int ready = ::poll(fds, 2, timeoutMs);
    if (ready < 0 && errno != EINTR) {
      LogError(std::string("script watcher stopped: poll failed: ") + SystemErrorText(errno));
      return;
    }
    if (ready > 0 && (fds[0].revents & POLLIN)) return;  // Stop()
    if (ready > 0 && (fds[1].revents & POLLIN)) {
      for (;;) {
        const ssize_t length = ::read(inotify_, buffer, sizeof buffer);
        if (length <= 0) break;  // EAGAIN: drained
        for (ssize_t offset = 0; offset < length;) {
          const auto* event = reinterpret_cast<const inotify_event*>(buffer + offset);
          offset += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
          const std::string_view name = event->len > 0 ? std::string_view(event->name) : std::string_view();
          if (event->mask & IN_Q_OVERFLOW) {
            pending = true;
            due = Clock::now() + settle_;
            continue;
          }
          const auto folder = watches_.find(event->wd);
          if (event->mask & IN_IGNORED) {
            if (folder != watches_.end()) watches_.erase(folder);
            continue;
          }
          if ((event->mask & IN_ISDIR) && (event->mask & (IN_CREATE | IN_MOVED_TO)) && folder != watches_.end() &&
              !Hidden(name)) {
            WatchTree(folder->second + "/" + std::string(name));
          }
          if (IsScratch(name)) continue;
          pending = true;
          due = Clock::now() + settle_;
        }
      }
    }
    if (!pending && WatchRoots()) {  // a folder that was missing appeared
      pending = true;
      due = Clock::now() + settle_;
    }
    if (pending && Clock::now() >= due) {
      pending = false;
      WatchRoots();  // a root that was replaced (deleted and created again) is watched again
      try {
        onChange_();
      } catch (const std::exception& e) {
        LogError(std::string("script reload after a change failed: ") + e.what());
      }
    }
  }
}

}  // namespace gw::lua
