#include "ManagerCore.h"

#include <algorithm>
#include <random>
#include <stdexcept>

#include "KeySlot.h"
#include "gw/common/Log.h"
#include "gw/token/SystemClock.h"
#include "gw/token/TokenErrors.h"

namespace gw::token::detail {

ManagerCore::ManagerCore(TokenManagerOptions options) : options_(std::move(options)) {
  if (!options_.clock) options_.clock = SystemClock::Instance();
  if (!options_.metrics) options_.metrics = std::make_shared<MetricsRegistry>();
  options_.fetchThreads = std::max<size_t>(1, options_.fetchThreads);
  if (options_.seed == 0) options_.seed = (static_cast<uint64_t>(std::random_device{}()) << 32) | std::random_device{}();
}

ManagerCore::~ManagerCore() { Stop(); }

void ManagerCore::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_) return;
  started_ = true;
  std::weak_ptr<ManagerCore> weak = shared_from_this();
  hookId_ = options_.metrics->AddCollectHook([weak] {
    if (auto core = weak.lock()) {
      const SteadyTime now = core->Clock()->SteadyNow();
      for (const auto& slot : core->Slots()) slot->UpdateGauges(now);
    }
  });
  // Each thread holds the core, so the core outlives them even if Stop() had to detach one.
  auto self = shared_from_this();
  threads_.emplace_back([self] { self->SchedulerLoop(); });
  for (size_t i = 0; i < options_.fetchThreads; ++i) threads_.emplace_back([self] { self->WorkerLoop(false); });
}

void ManagerCore::Stop() {
  std::deque<std::shared_ptr<KeySlot>> queued;
  std::vector<std::shared_ptr<KeySlot>> running;
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    queued.swap(queue_);
    running = running_;
    threads.swap(threads_);
    for (auto& t : extraThreads_) threads.push_back(std::move(t));
    extraThreads_.clear();
    exitedExtras_.clear();
    schedulerCv_.notify_all();
    jobCv_.notify_all();
    idleCv_.notify_all();
  }
  for (auto& slot : running) slot->CancelRunning();
  const Error stopped = MakeTokenError(codes::kAcquisitionFailed, "token manager stopped before the fetch ran");
  for (auto& slot : queued) slot->AbortQueued(stopped);
  for (auto& t : threads) {
    if (t.get_id() != std::this_thread::get_id()) t.join();
    else t.detach();  // Stop() called from a callback on one of our threads: it exits by itself
  }
  if (hookId_ != 0) options_.metrics->RemoveCollectHook(hookId_);
  // Break the slot -> core -> slot cycle; handles still held keep their slot alive.
  std::map<std::string, std::shared_ptr<KeySlot>, std::less<>> slots;
  std::map<std::string, std::shared_ptr<KeySlot>, std::less<>> byServer;
  {
    std::lock_guard<std::mutex> lock(mu_);
    slots.swap(slots_);
    byServer.swap(byServer_);
    running_.clear();
  }
}

std::shared_ptr<KeySlot> ManagerCore::Register(const std::string& key, std::shared_ptr<ITokenSource> source,
                                               KeyOptions options) {
  if (!source) throw std::invalid_argument("TokenManager::Register: null token source for key '" + key + "'");
  const std::string server = options.server;
  std::shared_ptr<KeySlot> existing;
  uint64_t seed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = slots_.find(key);
    if (it != slots_.end()) existing = it->second;
    seed = options_.seed + 0x9e3779b97f4a7c15ULL * ++seedCounter_;
  }
  if (!existing) {
    auto created = std::make_shared<KeySlot>(shared_from_this(), key, std::move(source), std::move(options), seed);
    std::lock_guard<std::mutex> lock(mu_);
    auto [it, inserted] = slots_.emplace(key, created);
    existing = it->second;
    if (!server.empty()) byServer_.insert_or_assign(server, existing);
    if (inserted) return existing;
  }
  existing->AddServer(server);
  std::lock_guard<std::mutex> lock(mu_);
  if (!server.empty()) byServer_.insert_or_assign(server, existing);
  return existing;
}

bool ManagerCore::Remove(std::string_view key) {
  std::shared_ptr<KeySlot> slot;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = slots_.find(key);
    if (it == slots_.end()) return false;
    slot = it->second;
    slots_.erase(it);
    for (auto s = byServer_.begin(); s != byServer_.end();) {
      if (s->second == slot) s = byServer_.erase(s);
      else ++s;
    }
    queue_.erase(std::remove(queue_.begin(), queue_.end(), slot), queue_.end());
  }
  slot->AbortQueued(MakeTokenError(codes::kUnknownKey, "token key removed"));
  slot->MarkRemoved();
  return true;
}

std::shared_ptr<KeySlot> ManagerCore::Find(std::string_view key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = slots_.find(key);
  return it == slots_.end() ? nullptr : it->second;
}

std::shared_ptr<KeySlot> ManagerCore::FindServer(std::string_view server) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = byServer_.find(server);
  return it == byServer_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<KeySlot>> ManagerCore::Slots() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::shared_ptr<KeySlot>> out;
  out.reserve(slots_.size());
  for (const auto& [key, slot] : slots_) out.push_back(slot);
  return out;
}

void ManagerCore::Schedule(KeySlot* slot, SteadyTime due) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return;
  slot->dueAt = due;
  dirty_ = true;
  schedulerCv_.notify_all();
}

bool ManagerCore::Enqueue(std::shared_ptr<KeySlot> slot) {
  std::vector<std::thread> exited;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return false;
    queue_.push_back(std::move(slot));
    if (queue_.size() > idleWorkers_ && liveExtras_ < options_.maxExtraFetchThreads) {
      // Every fetch thread is busy (other keys' IdPs may hang until their timeout): this key's
      // fetch gets a thread of its own now instead of queueing behind them.
      StartExtraWorkerLocked();
    } else {
      jobCv_.notify_one();
    }
    for (const std::thread::id id : exitedExtras_) {
      auto it = std::find_if(extraThreads_.begin(), extraThreads_.end(),
                             [id](const std::thread& t) { return t.get_id() == id; });
      if (it == extraThreads_.end()) continue;
      exited.push_back(std::move(*it));
      extraThreads_.erase(it);
    }
    exitedExtras_.clear();
  }
  for (auto& t : exited) t.join();  // they have left their loop: returns at once
  return true;
}

void ManagerCore::StartExtraWorkerLocked() {
  try {
    auto self = shared_from_this();
    extraThreads_.emplace_back([self] { self->WorkerLoop(true); });
    ++extraStarted_;
    ++liveExtras_;
  } catch (const std::exception& e) {
    // No thread to be had: the fetch waits for a busy one (the behaviour before isolation).
    LogWarning(std::string("token fetch queued: no extra fetch thread could be started: ") + e.what());
    jobCv_.notify_one();
  }
}

uint64_t ManagerCore::ExtraThreadsStarted() const {
  std::lock_guard<std::mutex> lock(mu_);
  return extraStarted_;
}

bool ManagerCore::Stopping() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stopping_;
}

bool ManagerCore::IdleLocked() const {
  return stopping_ || (queue_.empty() && running_.empty() && schedulerSleeping_ && !dirty_ &&
                       sleepingUntil_ > options_.clock->SteadyNow());
}

bool ManagerCore::WaitIdle(std::chrono::milliseconds realTimeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  // The predicate depends on the clock, which a test may advance without notifying idleCv_:
  // re-check every few milliseconds as well (the answer never depends on that period).
  const auto giveUp = std::chrono::steady_clock::now() + realTimeout;
  while (!IdleLocked()) {
    if (std::chrono::steady_clock::now() >= giveUp) return false;
    idleCv_.wait_for(lock, std::chrono::milliseconds(5));
  }
  return true;
}

void ManagerCore::SchedulerLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  std::vector<std::shared_ptr<KeySlot>> due;
  while (!stopping_) {
    const SteadyTime now = options_.clock->SteadyNow();
    SteadyTime next = SteadyTime::max();
    for (const auto& [key, slot] : slots_) {
      if (slot->dueAt <= now) {
        due.push_back(slot);
        slot->dueAt = SteadyTime::max();
      } else {
        next = std::min(next, slot->dueAt);
      }
    }
    if (!due.empty()) {
      lock.unlock();
      for (const auto& slot : due) slot->OnDue();  // takes the slot's lock, may Enqueue/Schedule
      due.clear();
      lock.lock();
      continue;
    }
    dirty_ = false;
    schedulerSleeping_ = true;
    sleepingUntil_ = next;
    idleCv_.notify_all();
    options_.clock->WaitUntil(lock, schedulerCv_, next);
    schedulerSleeping_ = false;
  }
}

void ManagerCore::WorkerLoop(bool extra) {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    if (extra) {
      if (stopping_ || queue_.empty()) {  // an extra thread serves the queue while it is not empty
        if (!stopping_) exitedExtras_.push_back(std::this_thread::get_id());
        --liveExtras_;
        return;
      }
    } else {
      ++idleWorkers_;
      jobCv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      --idleWorkers_;
    }
    if (stopping_) return;  // Stop() fails whatever is still queued
    std::shared_ptr<KeySlot> slot = std::move(queue_.front());
    queue_.pop_front();
    running_.push_back(slot);
    lock.unlock();
    slot->RunFetch();
    lock.lock();
    auto it = std::find(running_.begin(), running_.end(), slot);
    if (it != running_.end()) running_.erase(it);
    idleCv_.notify_all();
  }
}

}  // namespace gw::token::detail
