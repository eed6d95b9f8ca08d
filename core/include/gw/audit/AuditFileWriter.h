#pragma once
// Appends sealed records to the audit file from one writer thread, behind a bounded queue.
//
// Why a thread: the data path must not wait for the disk. Callers Enqueue() a record (seq, prev
// and hash not yet set); the writer seals records in queue order (so seq order = file order, and
// lines never interleave), writes each batch with one write(2) on an O_APPEND descriptor, and
// fsyncs per FsyncInterval.
//
// Durability: a record is handed to the kernel within a few milliseconds of Enqueue() (it then
// survives a crash of Orthanc); it survives a power loss once the next fsync ran, i.e. at most
// `fsyncInterval` later (0: fsync after every batch, before the next one is taken).
//
// The file: created 0600 (an existing file with wider permissions is narrowed to 0600, with a
// warning), opened append-only, locked with flock(LOCK_EX) so a second process cannot
// interleave its own chain (AUD-002). At Open() the last line of an existing file is checked and
// the chain continues from it; an incomplete or invalid last line refuses to open (AUD-003): run
// `dicomweb-oauth audit verify`, move the file aside, start again.
//
// When a write fails (disk full, I/O error): the file is cut back to its last complete line, the
// batch is kept and retried every second, `Healthy()` turns false until a write succeeds again,
// and the queue fills; Enqueue() then waits up to its timeout and drops the record (counted).
//
// Thread safety: all public methods may be called from any thread.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <rapidjson/document.h>

#include "gw/audit/AuditChain.h"
#include "gw/common/Error.h"

namespace gw::audit {

struct WriterOptions {
  std::string path;
  size_t queueCapacity = 10000;
  std::chrono::milliseconds fsyncInterval{1000};  // 0: after every batch
  std::chrono::milliseconds retryInterval{1000};  // after a failed write
  // Called on the writer thread with each line written (e.g. a copy to Orthanc's log). May be empty.
  std::function<void(const std::string& line)> onLine;
  // Called on the writer thread when a write fails (`error`) or works again after failing
  // (`recovered`). May be empty.
  std::function<void(const Error& error)> onWriteError;
  std::function<void()> onRecovered;
};

class AuditFileWriter {
 public:
  // Opens (or creates) the file and starts the writer thread. AUD-001 cannot open/create,
  // AUD-002 locked by another process, AUD-003 the existing last line is not a valid record.
  static Result<std::unique_ptr<AuditFileWriter>> Open(WriterOptions options);
  ~AuditFileWriter();  // Stop()
  AuditFileWriter(const AuditFileWriter&) = delete;
  AuditFileWriter& operator=(const AuditFileWriter&) = delete;

  // Queues a record; waits up to `timeout` for room. False: the queue stayed full (or the writer
  // is stopped), the record is dropped.
  bool Enqueue(rapidjson::Document record, std::chrono::milliseconds timeout);

  // Waits until everything queued so far is written (or failed for good at Stop()), up to `timeout`.
  bool Flush(std::chrono::milliseconds timeout);

  // Writes what is queued (one more attempt if writes are failing), fsyncs, closes the file.
  void Stop();

  bool Healthy() const;
  size_t QueueDepth() const;
  ChainPosition Position() const;  // last record written
  const std::string& Path() const { return options_.path; }

 private:
  AuditFileWriter(WriterOptions options, int fd, uint64_t size, ChainPosition position);
  void Run();
  // Writes `data` at the end of the file; on failure cuts the file back to size_. Unlocked.
  Status Append(const std::string& data);

  const WriterOptions options_;
  int fd_ = -1;
  uint64_t size_ = 0;  // bytes of complete lines (writer thread only)

  mutable std::mutex mutex_;
  std::condition_variable wake_;      // writer: records queued or stop
  std::condition_variable space_;     // producers: room in the queue
  std::condition_variable progress_;  // Flush(): records done
  std::deque<rapidjson::Document> queue_;
  uint64_t enqueued_ = 0;
  uint64_t done_ = 0;  // written, or given up at Stop()
  bool stop_ = false;
  bool healthy_ = true;
  ChainPosition position_;
  std::thread thread_;
};

}  // namespace gw::audit
