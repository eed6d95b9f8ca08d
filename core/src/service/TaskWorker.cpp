#include "gw/service/TaskWorker.h"

#include <exception>

#include "gw/common/Log.h"

namespace gw::service {

void TaskWorker::Start(std::function<void()> tick, std::chrono::milliseconds period) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (thread_.joinable()) return;
  stop_ = false;
  tick_ = std::move(tick);
  period_ = period;
  thread_ = std::thread([this] { Run(); });
}

void TaskWorker::Stop() {
  std::thread thread;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
    tasks_.clear();
    thread = std::move(thread_);
  }
  cv_.notify_all();
  if (thread.joinable()) thread.join();
}

void TaskWorker::Post(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stop_) return;
    tasks_.push_back(std::move(task));
  }
  cv_.notify_one();
}

bool TaskWorker::Running() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return thread_.joinable() && !stop_;
}

void TaskWorker::Run() {
  auto next = std::chrono::steady_clock::now() + period_;
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait_until(lock, next, [this] { return stop_ || !tasks_.empty(); });
      if (stop_) return;
      if (!tasks_.empty()) {
        task = std::move(tasks_.front());
        tasks_.pop_front();
      } else {
        task = tick_;
        next = std::chrono::steady_clock::now() + period_;
      }
    }
    if (!task) continue;
    try {
      task();
    } catch (const std::exception& e) {
      LogError("GW-500 " + name_ + " worker: " + e.what());
    }
  }
}

}  // namespace gw::service
