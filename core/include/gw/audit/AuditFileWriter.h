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
// The key (docs/audit.md, "Keyed chain"): with `key`, every record is sealed with an HMAC under
// it (SealKeyedRecord). Open() first writes an audit.key record naming the key id and fingerprint
// when the file is new ("new-file"), continues an unkeyed chain ("upgrade"), or continues a chain
// sealed under another key id ("rotation": then `previousKey` must be the key of the file's last
// record, checked against its MAC, and the record carries a closingMac under it). A last record
// under the same key id whose MAC does not verify, a rotation without the previous key, and a keyed
// file opened without a key all refuse to open (AUD-009): the chain cannot be continued honestly.
//
// Checkpoints (AuditCheckpoint.h): after Open(), every `checkpointEvery` records, every
// `checkpointInterval` when records were written since the last one, and at Stop(), the writer
// fdatasyncs the file (a checkpoint never names a record a power loss could take back), then
// hands the checkpoint to `onCheckpoint` and appends it to `checkpointFile` when set.
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
#include <optional>
#include <string>
#include <thread>

#include <rapidjson/document.h>

#include "gw/audit/AuditChain.h"
#include "gw/audit/AuditCheckpoint.h"
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
  // The chain key (none: unkeyed records, the legacy format) and, for a rotation, the key of the
  // file's last record (its id is taken from the file).
  std::optional<ChainKey> key;
  std::optional<std::string> previousKeySecret;
  uint64_t checkpointEvery = 1000;                // records; 0: not by count
  std::chrono::milliseconds checkpointInterval{60000};  // 0: not by time
  std::string checkpointFile;                     // "" : none
  // Called on the writer thread (and in Open) with each checkpoint's JSON. May be empty.
  std::function<void(const std::string& checkpoint)> onCheckpoint;
};

class AuditFileWriter {
 public:
  // Opens (or creates) the file and starts the writer thread. AUD-001 cannot open/create,
  // AUD-002 locked by another process, AUD-003 the existing last line is not a valid record,
  // AUD-009 the chain cannot be continued under the configured key, AUD-011 the checkpoint file
  // cannot be opened, AUD-004 the audit.key record cannot be written.
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
  uint64_t Checkpoints() const;    // checkpoints emitted so far
  const std::string& Path() const { return options_.path; }

 private:
  AuditFileWriter(WriterOptions options, int fd, int checkpointFd, uint64_t size, ChainPosition position,
                  std::string chain);
  void Start();
  void Run();
  // fdatasync, then the checkpoint of `position` to its sinks (writer thread, or Open()).
  void Checkpoint(const ChainPosition& position);
  // Writes `data` at the end of the file; on failure cuts the file back to size_. Unlocked.
  Status Append(const std::string& data);

  const WriterOptions options_;
  int fd_ = -1;
  int checkpointFd_ = -1;
  uint64_t size_ = 0;  // bytes of complete lines (writer thread only)
  std::string chain_;  // link of seq 1, "" until written (writer thread only)
  bool checkpointFileFailing_ = false;

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
  uint64_t checkpoints_ = 0;
  std::thread thread_;
};

}  // namespace gw::audit
