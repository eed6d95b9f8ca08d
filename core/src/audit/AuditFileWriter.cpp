#include "gw/audit/AuditFileWriter.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>

#include "gw/audit/AuditEvent.h"
#include "gw/common/Log.h"
#include "gw/crypto/Hash.h"

namespace gw::audit {
namespace {

// Longest line Open() will look back for (records are far smaller; AuditLog caps them at 64 KiB).
constexpr off_t kMaxTail = 1 << 20;


Status ReadAt(int fd, off_t from, std::string& into, const std::string& path) {
  size_t got = 0;
  while (got < into.size()) {
    const ssize_t n = ::pread(fd, into.data() + got, into.size() - got, from + static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return MakeError("AUD-001", "cannot read the audit file " + path + ": " + SystemErrorText(errno));
    got += static_cast<size_t>(n);
  }
  return Status::Success();
}

std::string Advice(const std::string& path) {
  return "; check it with `dicomweb-oauth audit verify " + path +
         "`, then move it aside so a new file (and chain) starts";
}

// The last line of an open file of `size` > 0 bytes, checked on its own.
Result<CheckedLine> ReadTail(int fd, off_t size, const std::string& path) {
  const off_t from = size > kMaxTail ? size - kMaxTail : 0;
  std::string tail(static_cast<size_t>(size - from), '\0');
  if (Status read = ReadAt(fd, from, tail, path); !read.Ok()) return read.GetError();
  if (tail.back() != '\n') {
    return MakeError("AUD-003", "the audit file " + path + " ends with an incomplete line" + Advice(path));
  }
  const size_t begin = tail.rfind('\n', tail.size() - 2);
  if (begin == std::string::npos && from > 0) {
    return MakeError("AUD-003", "the last line of the audit file " + path + " is longer than 1 MiB" + Advice(path));
  }
  const std::string_view line =
      std::string_view(tail).substr(begin == std::string::npos ? 0 : begin + 1,
                                    tail.size() - 1 - (begin == std::string::npos ? 0 : begin + 1));
  auto checked = CheckLine(line);
  if (!checked.Ok()) {
    return MakeError("AUD-003", "the last line of the audit file " + path + " is not a valid record (" +
                                    checked.GetError().message + ")" + Advice(path));
  }
  return checked;
}

// The chain's identity for checkpoints: the link of the first line (the SHA-256 of its bytes
// when it is not a valid record: verify then reports the damage anyway).
std::string ReadChainId(int fd, off_t size, const std::string& path) {
  std::string head(static_cast<size_t>(std::min<off_t>(size, kMaxTail)), '\0');
  if (!ReadAt(fd, 0, head, path).Ok()) return {};
  const std::string_view line = std::string_view(head).substr(0, head.find('\n'));
  auto checked = CheckLine(line);
  return checked.Ok() ? checked.Value().position.hash : crypto::Sha256Hex(line);
}

// The record the writer adds when `key` starts sealing the chain.
rapidjson::Document KeyRecord(const ChainKey& key, const char* reason, const CheckedLine* last,
                              const ChainKey* previous) {
  rapidjson::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  d.AddMember("event", rapidjson::StringRef(kKeyEvent), a);
  d.AddMember("server", "", a);
  const std::string now = IsoTimeMs(std::chrono::system_clock::now());
  d.AddMember("time", rapidjson::Value(now.c_str(), a), a);
  rapidjson::Value f(rapidjson::kObjectType);
  f.AddMember("kid", rapidjson::Value(key.id.c_str(), a), a);
  f.AddMember("fingerprint", rapidjson::Value(key.fingerprint.c_str(), a), a);
  f.AddMember("reason", rapidjson::StringRef(reason), a);
  if (previous != nullptr) {
    f.AddMember("previousKid", rapidjson::Value(previous->id.c_str(), a), a);
    f.AddMember("previousFingerprint", rapidjson::Value(previous->fingerprint.c_str(), a), a);
  }
  if (last != nullptr && !last->position.keyed) {
    f.AddMember("unkeyedRecords", rapidjson::Value(static_cast<uint64_t>(last->position.seq)), a);
  }
  d.AddMember("fields", f, a);
  return d;
}

}  // namespace

Result<std::unique_ptr<AuditFileWriter>> AuditFileWriter::Open(WriterOptions options) {
  const std::string& path = options.path;
  const int fd = ::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return MakeError("AUD-001", "cannot open the audit file " + path + ": " + SystemErrorText(errno));
  auto fail = [fd](Error e) {
    ::close(fd);
    return e;
  };
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    return fail(MakeError("AUD-002", "the audit file " + path +
                                         " is locked by another process (two Orthanc instances cannot share one "
                                         "audit file): " + SystemErrorText(errno)));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) return fail(MakeError("AUD-001", "cannot stat the audit file " + path + ": " + SystemErrorText(errno)));
  if (!S_ISREG(st.st_mode)) return fail(MakeError("AUD-001", "the audit file " + path + " is not a regular file"));
  if ((st.st_mode & 077) != 0) {
    if (::fchmod(fd, 0600) != 0) {
      return fail(MakeError("AUD-001", "cannot restrict the audit file " + path + " to mode 0600: " + SystemErrorText(errno)));
    }
    LogWarning("audit: " + path + " was readable by others; its mode is now 0600");
  }
  std::optional<CheckedLine> last;
  if (st.st_size > 0) {
    auto tail = ReadTail(fd, st.st_size, path);
    if (!tail.Ok()) return fail(tail.GetError());
    last = std::move(tail).Value();
  }
  ChainPosition position = last ? last->position : ChainPosition{};
  std::string chain = st.st_size > 0 ? ReadChainId(fd, st.st_size, path) : std::string();

  // Which record, if any, must start the key's part of the chain (see the header).
  const std::string refuse = "the audit file " + path + " cannot be continued: ";
  std::optional<rapidjson::Document> keyRecord;
  std::optional<ChainKey> closing;
  if (options.key) {
    const ChainKey& key = *options.key;
    if (!last) {
      keyRecord = KeyRecord(key, "new-file", nullptr, nullptr);
    } else if (!last->position.keyed) {
      keyRecord = KeyRecord(key, "upgrade", &*last, nullptr);
      LogWarning("audit: " + path + " holds an unkeyed chain (seq 1.." + std::to_string(last->position.seq) +
                 "); it continues under key id " + key.id + " from seq " + std::to_string(last->position.seq + 1) +
                 " (the unkeyed records stay unkeyed)");
    } else if (last->position.kid == key.id) {
      if (!MacMatches(*last, key)) {
        return fail(MakeError("AUD-009", refuse + "its last record (seq " + std::to_string(last->position.seq) +
                                             ", key id " + key.id + ") does not verify under Audit.ChainKey: if the key "
                                             "changed, give the new one another Audit.ChainKeyId (or none) and the old "
                                             "one as Audit.PreviousChainKey; otherwise the file was altered" +
                                             Advice(path)));
      }
    } else {
      if (!options.previousKeySecret) {
        return fail(MakeError("AUD-009", refuse + "its chain is under key id " + last->position.kid +
                                             " and Audit.ChainKey has id " + key.id +
                                             ": to rotate, set Audit.PreviousChainKey to the key of " +
                                             last->position.kid + " (the rotation record is sealed under both), or "
                                             "move the file aside to start a new chain"));
      }
      closing = MakeChainKey(*options.previousKeySecret, last->position.kid);
      if (!MacMatches(*last, *closing)) {
        return fail(MakeError("AUD-009", refuse + "its last record (seq " + std::to_string(last->position.seq) +
                                             ", key id " + last->position.kid +
                                             ") does not verify under Audit.PreviousChainKey: wrong previous key, or "
                                             "the file was altered" + Advice(path)));
      }
      keyRecord = KeyRecord(key, "rotation", &*last, &*closing);
    }
  } else if (last && last->position.keyed) {
    return fail(MakeError("AUD-009", refuse + "its chain is keyed (key id " + last->position.kid +
                                         ") and Audit.ChainKey is not set; set it (a keyed chain is never continued "
                                         "without its key)"));
  }

  int checkpointFd = -1;
  if (!options.checkpointFile.empty()) {
    checkpointFd = ::open(options.checkpointFile.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (checkpointFd < 0) {
      return fail(MakeError("AUD-011", "cannot open the audit checkpoint file " + options.checkpointFile + ": " +
                                           SystemErrorText(errno)));
    }
  }
  std::unique_ptr<AuditFileWriter> writer(new AuditFileWriter(std::move(options), fd, checkpointFd,
                                                              static_cast<uint64_t>(st.st_size), position,
                                                              std::move(chain)));
  if (keyRecord) {
    // Written before any event, synchronously: the key's first record is the rotation proof.
    const std::string line = SealKeyedRecord(*keyRecord, position, *writer->options_.key,
                                             closing ? &*closing : nullptr) + "\n";
    Status written = writer->Append(line);
    if (!written.Ok()) return written.GetError();  // the destructor stops the thread, closes the files
    if (writer->chain_.empty()) writer->chain_ = position.hash;
    std::lock_guard<std::mutex> lock(writer->mutex_);
    writer->position_ = position;
  }
  if (position.seq > 0) writer->Checkpoint(position);
  writer->Start();
  return writer;
}

AuditFileWriter::AuditFileWriter(WriterOptions options, int fd, int checkpointFd, uint64_t size,
                                 ChainPosition position, std::string chain)
    : options_(std::move(options)),
      fd_(fd),
      checkpointFd_(checkpointFd),
      size_(size),
      chain_(std::move(chain)),
      position_(std::move(position)) {}

void AuditFileWriter::Start() { thread_ = std::thread([this] { Run(); }); }

uint64_t AuditFileWriter::Checkpoints() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return checkpoints_;
}

void AuditFileWriter::Checkpoint(const ChainPosition& position) {
  ::fdatasync(fd_);
  audit::Checkpoint c;
  c.chain = chain_;
  c.file = options_.path;
  c.seq = position.seq;
  c.link = position.hash;
  c.keyed = position.keyed;
  c.kid = position.kid;
  c.time = IsoTimeMs(std::chrono::system_clock::now());
  const std::string json = FormatCheckpoint(c);
  if (options_.onCheckpoint) options_.onCheckpoint(json);
  if (checkpointFd_ >= 0) {
    const std::string line = std::string(kCheckpointMarker) + json + "\n";
    const ssize_t n = ::write(checkpointFd_, line.data(), line.size());
    const bool ok = n == static_cast<ssize_t>(line.size()) && ::fdatasync(checkpointFd_) == 0;
    if (!ok && !checkpointFileFailing_) {
      LogError("AUD-011 audit: cannot write the checkpoint file " + options_.checkpointFile + ": " + SystemErrorText(errno) +
               " (checkpoints still go to the log)");
    }
    checkpointFileFailing_ = !ok;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  ++checkpoints_;
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
  if (checkpointFd_ >= 0) {
    ::close(checkpointFd_);
    checkpointFd_ = -1;
  }
}

Status AuditFileWriter::Append(const std::string& data) {
  size_t written = 0;
  while (written < data.size()) {
    const ssize_t n = ::write(fd_, data.data() + written, data.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      Error e = MakeError("AUD-004", "cannot write the audit file " + options_.path + ": " +
                                         (n < 0 ? SystemErrorText(errno) : std::string("no progress")));
      // Never leave half a line: the next attempt must start on a line boundary.
      if (written > 0 && ::ftruncate(fd_, static_cast<off_t>(size_)) != 0) {
        e.message += "; cutting the partial line failed too: " + SystemErrorText(errno);
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
  Clock::time_point lastCheckpoint = Clock::now();
  uint64_t sinceCheckpoint = 0;  // records written since the last checkpoint
  bool dirty = false;  // written since the last fsync
  std::deque<rapidjson::Document> batch;
  const bool byTime = options_.checkpointInterval.count() > 0;
  for (;;) {
    bool stopping;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      if (batch.empty()) {
        // Sleep until there is work, or until the next fsync or checkpoint is due.
        auto ready = [&] { return stop_ || !queue_.empty(); };
        std::optional<Clock::time_point> until;
        if (dirty && options_.fsyncInterval.count() > 0) until = lastSync + options_.fsyncInterval;
        if (sinceCheckpoint > 0 && byTime) {
          const auto due = lastCheckpoint + options_.checkpointInterval;
          until = until ? std::min(*until, due) : due;
        }
        if (until) {
          wake_.wait_until(lock, *until, ready);
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
      const bool first = position.seq == 0;
      std::string data;
      std::vector<std::string> lines;
      for (auto& record : batch) {
        lines.push_back(options_.key ? SealKeyedRecord(record, position, *options_.key) : SealRecord(record, position));
        data += lines.back();
        data += '\n';
      }
      Status written = Append(data);
      if (written.Ok()) {
        if (first && chain_.empty()) {
          auto checked = CheckLine(lines.front());
          if (checked.Ok()) chain_ = checked.Value().position.hash;
        }
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
        sinceCheckpoint += batch.size();
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

    bool finished = false;
    if (stopping) {
      std::lock_guard<std::mutex> lock(mutex_);
      finished = queue_.empty();
    }
    // At shutdown always (the log then ends with the final position), otherwise by count or time.
    const bool checkpointDue =
        (finished && Position().seq > 0) ||
        (sinceCheckpoint > 0 && ((options_.checkpointEvery > 0 && sinceCheckpoint >= options_.checkpointEvery) ||
                                 (byTime && Clock::now() - lastCheckpoint >= options_.checkpointInterval)));
    if (checkpointDue) {
      // Checkpoint() syncs the file first: a checkpoint never names a record a power loss could undo.
      Checkpoint(Position());
      sinceCheckpoint = 0;
      lastCheckpoint = Clock::now();
      dirty = false;
      lastSync = Clock::now();
    }
    const bool due = options_.fsyncInterval.count() == 0 || Clock::now() - lastSync >= options_.fsyncInterval;
    if (dirty && (due || stopping)) {
      ::fdatasync(fd_);
      dirty = false;
      lastSync = Clock::now();
    }
    if (finished) return;
  }
}

}  // namespace gw::audit
