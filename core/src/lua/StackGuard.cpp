#include "lua/StackGuard.h"

#include <pthread.h>

#include <exception>
#include <limits>

#include "gw/common/Error.h"

namespace gw::lua {
namespace {

uintptr_t ComputeLowestAddress() {
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) != 0) return 0;
  void* address = nullptr;
  size_t size = 0;
  // glibc reports [address, address + size) without the guard area (also for the main thread,
  // whose size follows RLIMIT_STACK).
  const int status = pthread_attr_getstack(&attr, &address, &size);
  pthread_attr_destroy(&attr);
  if (status != 0 || address == nullptr || size == 0) return 0;
  return reinterpret_cast<uintptr_t>(address);
}

struct ThreadBounds {
  uintptr_t lowest = ComputeLowestAddress();  // once per thread, at first use
};

struct Job {
  const std::function<void()>* work;
  std::exception_ptr failure;
};

void* RunJob(void* argument) {
  auto* job = static_cast<Job*>(argument);
  try {
    (*job->work)();
  } catch (...) {
    job->failure = std::current_exception();
  }
  return nullptr;
}

}  // namespace

uintptr_t StackLowestAddress() {
  thread_local const ThreadBounds bounds;
  return bounds.lowest;
}

__attribute__((noinline)) uintptr_t CurrentStackAddress() {
  return reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
}

size_t StackRemaining() {
  const uintptr_t lowest = StackLowestAddress();
  const uintptr_t here = CurrentStackAddress();
  if (lowest == 0) return std::numeric_limits<size_t>::max();
  return here > lowest ? here - lowest : 0;
}

bool RunWithStack(size_t stackBytes, const std::function<void()>& work, std::string& error) {
  if (StackRemaining() >= stackBytes) {
    work();
    return true;
  }
  pthread_attr_t attr;
  if (int status = pthread_attr_init(&attr); status != 0) {
    error = SystemErrorText(status);
    return false;
  }
  Job job{&work, nullptr};
  pthread_t thread;
  int status = pthread_attr_setstacksize(&attr, stackBytes);
  if (status == 0) status = pthread_create(&thread, &attr, &RunJob, &job);
  pthread_attr_destroy(&attr);
  if (status != 0) {
    error = SystemErrorText(status);
    return false;
  }
  pthread_join(thread, nullptr);
  if (job.failure) std::rethrow_exception(job.failure);
  return true;
}

}  // namespace gw::lua
