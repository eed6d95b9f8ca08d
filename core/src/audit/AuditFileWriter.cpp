#include "gw/audit/AuditFileWriter.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "gw/common/Log.h"

namespace gw::audit {
namespace {

// Longest line Open() will look back for (records are far smaller; AuditLog caps them at 64 KiB).
constexpr off_t kMaxTail = 1 << 20;

std::string Errno() { return std::strerror(errno); }

// The position after the last line of an open file of `size` bytes.
Result<ChainPosition> ReadTail(int fd, off_t size, const std::string& path) {
  if (size == 0) return ChainPosition{};
  const off_t from = size > kMaxTail ? size - kMaxTail : 0;
  std::string tail(static_cast<size_t>(size - from), '\0');
  size_t got = 0;
  while (got < tail.size()) {
    const ssize_t n = ::pread(fd, tail.data() + got, tail.size() - got, from + static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return MakeError("AUD-001", "cannot read the end of the audit file " + path + ": " + Errno());
    got += static_cast<size_t>(n);
  }
  const std::string advice = "; check it with `dicomweb-oauth audit verify " + path +
                             "`, then move it aside so a new file (and chain) starts";
  if (tail.back() != '\n') {
    return MakeError("AUD-003", "the audit file " + path + " ends with an incomplete line" + advice);
  }
  const size_t begin = tail.rfind('\n', tail.size() - 2);
  if (begin == std::string::npos && from > 0) {
    return MakeError("AUD-003", "the last line of the audit file " + path + " is longer than 1 MiB" + advice);
  }
  const std::string_view line =
      std::string_view(tail).substr(begin == std::string::npos ? 0 : begin + 1,
                                    tail.size() - 1 - (begin == std::string::npos ? 0 : begin + 1));
  auto checked = CheckLine(line);
  if (!checked.Ok()) {
    return MakeError("AUD-003", "the last line of the audit file " + path + " is not a valid record (" +
                                    checked.GetError().message + ")" + advice);
  }
  return checked.Value().position;
}

}  // namespace

Result<std::unique_ptr<AuditFileWriter>> AuditFileWriter::Open(WriterOptions options) {
  const std::string& path = options.path;
  const int fd = ::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return MakeError("AUD-001", "cannot open the audit file " + path + ": " + Errno());
  auto fail = [fd](Error e) {
    ::close(fd);
    return e;
  };
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    return fail(MakeError("AUD-002", "the audit file " + path +
                                         " is locked by another process (two Orthanc instances cannot share one "
                                         "audit file): " + Errno()));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) return fail(MakeError("AUD-001", "cannot stat the audit file " + path + ": " + Errno()));
  if (!S_ISREG(st.st_mode)) return fail(MakeError("AUD-001", "the audit file " + path + " is not a regular file"));
  if ((st.st_mode & 077) != 0) {
    if (::fchmod(fd, 0600) != 0) {
      return fail(MakeError("AUD-001", "cannot restrict the audit file " + path + " to mode 0600: " + Errno()));
    }
    LogWarning("audit: " + path + " was readable by others; its mode is now 0600");
  }
  auto position = ReadTail(fd, st.st_size, path);
  if (!position.Ok()) return fail(position.GetError());
  return std::unique_ptr<AuditFileWriter>(
      new AuditFileWriter(std::move(options), fd, static_cast<uint64_t>(st.st_size), position.Value()));
}

AuditFileWriter::AuditFileWriter(WriterOptions options, int fd, uint64_t size, ChainPosition position)
    : options_(std::move(options)), fd_(fd), size_(size), position_(std::move(position)) {
  thread_ = std::thread([this] { Run(); });
}

AuditFileWriter::~AuditFileWriter() { Stop(); }

bool AuditFileWriter::Enqueue(rapidjson::Document record, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  const size_t capacity = options_.queueCapacity == 0 ? 1 : options_.queueCapacity;
  if (!space_.wait_for(lock, timeout, [&] { return stop_ || queue_.size() < capacity; }) || stop_) return false;
  queue_.push_back(std::move(record));
  ++enqueued_;
  wake_.notify_one();
  return true;
}

bool AuditFileWriter::Flush(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  const uint64_t target = enqueued_;
  return progress_.wait_for(lock, timeout, [&] { return done_ >= target; });
}

bool AuditFileWriter::Healthy() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return healthy_;
}

size_t AuditFileWriter::QueueDepth() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return queue_.size();
}

ChainPosition AuditFileWriter::Position() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return position_;
}

void AuditFileWriter::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  space_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) {
    ::fsync(fd_);
    ::close(fd_);  // releases the flock
    fd_ = -1;
  }
}

Status AuditFileWriter::Append(const std::string& data) {
  size_t written = 0;
  while (written < data.size()) {
    const ssize_t n = ::write(fd_, data.data() + written, data.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      Error e = MakeError("AUD-004", "cannot write the audit file " + options_.path + ": " +
                                         (n < 0 ? Errno() : std::string("no progress")));
      // Never leave half a line: the next attempt must start on a line boundary.
      if (written > 0 && ::ftruncate(fd_, static_cast<off_t>(size_)) != 0) {
        e.message += "; cutting the partial line failed too: " + Errno();
      }
      return e;
    }
    written += static_cast<size_t>(n);
  }
  size_ += data.size();
  return Status::Success();
}

void AuditFileWriter::Run() {
  using Clock = std::chrono::steady_clock;
  Clock::time_point lastSync = Clock::now();
  bool dirty = false;  // written since the last fsync
  std::deque<rapidjson::Document> batch;
  for (;;) {
    bool stopping;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      if (batch.empty()) {
        // Sleep until there is work; with unsynced data, only until the next fsync is due.
        auto ready = [&] { return stop_ || !queue_.empty(); };
        if (dirty && options_.fsyncInterval.count() > 0) {
          wake_.wait_until(lock, lastSync + options_.fsyncInterval, ready);
        } else {
          wake_.wait(lock, ready);
        }
        batch.swap(queue_);
        space_.notify_all();
      }
      stopping = stop_;
    }

    if (!batch.empty()) {
      // Seal in queue order from a copy of the position: if the write fails, nothing advanced.
      ChainPosition position;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        position = position_;
      }
      std::string data;
      std::vector<std::string> lines;
      for (auto& record : batch) {
        lines.push_back(SealRecord(record, position));
        data += lines.back();
        data += '\n';
      }
      Status written = Append(data);
      if (written.Ok()) {
        bool recovered;
        {
          std::lock_guard<std::mutex> lock(mutex_);
          position_ = position;
          done_ += batch.size();
          recovered = !healthy_;
          healthy_ = true;
        }
        progress_.notify_all();
        dirty = true;
        batch.clear();
        if (recovered && options_.onRecovered) options_.onRecovered();
        if (options_.onLine) {
          for (const auto& line : lines) options_.onLine(line);
        }
      } else {
        {
          std::lock_guard<std::mutex> lock(mutex_);
          healthy_ = false;
        }
        if (options_.onWriteError) options_.onWriteError(written.GetError());
        if (stopping) {
          LogError("audit: " + std::to_string(batch.size()) + " record(s) lost at shutdown: " +
                   written.GetError().ToString());
          {
            std::lock_guard<std::mutex> lock(mutex_);
            done_ += batch.size();
          }
          progress_.notify_all();
          batch.clear();
        } else {
          // Keep the batch (seq not advanced) and try again later; the queue fills meanwhile.
          std::unique_lock<std::mutex> lock(mutex_);
          wake_.wait_for(lock, options_.retryInterval, [&] { return stop_; });
          continue;
        }
      }
    }

    const bool due = options_.fsyncInterval.count() == 0 || Clock::now() - lastSync >= options_.fsyncInterval;
    if (dirty && (due || stopping)) {
      ::fdatasync(fd_);
      dirty = false;
      lastSync = Clock::now();
    }
    if (stopping) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (queue_.empty()) return;
    }
  }
}

}  // namespace gw::audit
