#pragma once
// Watches script folders with inotify (recursively, including folders created later) and calls
// `onChange` on its own thread once changes have settled for `settle` (~200 ms), so that an editor
// or `cp -r` writing many files triggers one reload. Folders missing at start are picked up when
// they appear (checked every second). Editor scratch files (*.swp, *~, .#*, vim's "4913") are ignored.
#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "gw/common/Error.h"

namespace gw::lua {

class ScriptWatcher {
 public:
  ScriptWatcher(std::vector<std::string> folders, std::chrono::milliseconds settle, std::function<void()> onChange);
  ~ScriptWatcher();  // Stop()
  ScriptWatcher(const ScriptWatcher&) = delete;
  ScriptWatcher& operator=(const ScriptWatcher&) = delete;

  // Starts the thread. Error (LUA-010) if inotify is unavailable.
  Status Start();
  // Wakes and joins the thread; idempotent. Must not be called from `onChange`.
  void Stop();

 private:
  void Run();
  void WatchTree(const std::string& folder);  // the folder and its non-hidden subfolders
  bool WatchRoots();                          // true if a root was added that was not watched

  const std::vector<std::string> folders_;
  const std::chrono::milliseconds settle_;
  const std::function<void()> onChange_;
  int inotify_ = -1;
  int wake_ = -1;  // eventfd
  std::thread thread_;
  std::map<int, std::string> watches_;  // watch descriptor -> folder (watcher thread only)
};

}  // namespace gw::lua
