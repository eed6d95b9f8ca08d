#pragma once
// One thread that runs queued tasks in order, and a periodic task whenever nothing was queued for a
// whole period. Inject mode needs it because Orthanc calls on-change callbacks while holding internal
// locks (job events are signalled under the jobs registry lock): calling its REST API from there
// deadlocks (GET /jobs/{id} from a JobFailure callback hung every later /jobs call). Change handlers
// and token-engine threads therefore only Post() work; this thread makes the REST calls.
//
// Owned by the component that posts to it: Stop() (also run by the destructor) wakes the thread,
// drops what is still queued and joins it. A task that throws is logged (GW-500) and the thread
// goes on. Thread safe.
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace gw::service {

class TaskWorker {
 public:
  // `name`: who owns the thread, for the GW-500 log line of a task that throws.
  explicit TaskWorker(std::string name) : name_(std::move(name)) {}
  ~TaskWorker() { Stop(); }
  TaskWorker(const TaskWorker&) = delete;
  TaskWorker& operator=(const TaskWorker&) = delete;

  // Starts the thread (nothing if it runs already). `tick` (may be empty) runs after every `period`
  // without queued work.
  void Start(std::function<void()> tick, std::chrono::milliseconds period);
  // Idempotent. After Stop(), Post() drops its task and Start() may start the thread again.
  void Stop();
  // Queues `task`; dropped when the worker is stopped (a task posted before Start() waits for it).
  void Post(std::function<void()> task);
  bool Running() const;

 private:
  void Run();

  const std::string name_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stop_ = false;
  std::function<void()> tick_;
  std::chrono::milliseconds period_{std::chrono::hours(1)};
  std::thread thread_;
};

}  // namespace gw::service
