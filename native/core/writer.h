// The block writer: one producer (JavaScript, through the addon) copies bytes into the ring; one
// writer thread drains it to the device in records of exactly blockSize bytes (SPEC "The native
// writer"; behaviour note 5.1/5.2 for the high-water-mark semantics of the original).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "device.h"
#include "event.h"
#include "ring.h"

namespace acedt {

struct WriterConfig {
  size_t blockSize = 1 << 20;
  size_t bufferSize = 0;    // bytes; rounded up to whole blocks, at least one block
  unsigned hwmPercent = 90; // 1..100
};

// Ring geometry exactly as the original computes it: n = ceil(size/bs) with size 0 -> 1 block;
// hwm = ceil(size*pct/100 / bs), at least 1, at most n.
struct Geometry {
  size_t blocks;
  size_t hwmBlocks;
};
Geometry computeGeometry(const WriterConfig& c);

struct WriterStats {
  uint64_t accepted = 0;   // bytes pushed into the ring
  uint64_t written = 0;    // data bytes acknowledged by write(2)
  uint64_t records = 0;    // records (blocks) that reached the device
  uint64_t fill = 0;       // bytes in the ring now
  uint64_t capacity = 0;
  uint64_t underruns = 0;  // ring ran dry while active and input had not ended
  uint64_t hwmBytes = 0;
  bool active = false;     // the writer is draining (past the high-water mark)
};

struct WriterFailure {
  int err = 0;
  std::string syscall;
  uint64_t offset = 0;       // data bytes acknowledged before the failure
  bool endOfMedium = false;  // ENOSPC on a tape: early warning, end of volume
};

// Called on the writer thread. onSpace: the free space asked for by requestSpace() is there.
// onDone: the thread finished (drained and closed, failed, or cancelled); always the last call.
class WriterListener {
 public:
  virtual ~WriterListener() = default;
  virtual void onSpace() = 0;
  virtual void onDone() = 0;
};

class BlockWriter : public std::enable_shared_from_this<BlockWriter> {
 public:
  BlockWriter(std::unique_ptr<Device> device, const WriterConfig& config);
  ~BlockWriter();

  // Starts the (detached) writer thread; it keeps this object and the listener alive.
  void start(std::shared_ptr<WriterListener> listener);

  // ---- producer (one thread) ----
  // Copies what fits; returns bytes copied, or -1 once the writer has finished or failed.
  int64_t push(const uint8_t* p, size_t n);
  // Zero-copy producing, for a producer that receives straight into the ring (a socket's read
  // buffer in JavaScript): the contiguous free bytes at the head, which starts at byte `*offset`
  // of ringData(); -1 once the writer has finished or failed, or input has ended.
  int64_t writable(size_t* offset);
  // Publishes `n` bytes written at ring offset `offset` (where writable() said the head is).
  // Returns n, -1 once the writer has finished or failed, -2 when `offset` is not the head or
  // the bytes are more than the free region holds (a producer bug: nothing is committed).
  int64_t commit(size_t offset, size_t n);
  uint8_t* ringData() const { return ring_.data(); }
  size_t ringCapacity() const { return ring_.capacity(); }
  // Asks for `need` free bytes. true: they are there (or the writer is gone), push again now;
  // false: listener->onSpace() (or onDone()) follows.
  bool requestSpace(size_t need);
  // No more input: drain everything (short last record), finish the device, then onDone().
  void end();
  // Teardown: stop as soon as possible without draining.
  void cancel();

  // Native producer instead of push(): a thread reads `inputFd` straight into the ring until end
  // of file (then end()), a read error, or stopInput(). `inputFd` is owned and closed. Only one
  // producer may exist, so push() must not be used once this is called. false (and *err, the
  // errno of eventfd(2)) when the thread could not be set up.
  bool pumpFrom(int inputFd, size_t readSize, int* err, bool direct = false);
  // Stop reading input (SIGINT): what is in the ring is drained, then the writer finishes.
  void stopInput();
  // errno of a failed read(2) on the input, 0 if none.
  int inputError() const { return inputErr_.load(std::memory_order_acquire); }

  // ---- any thread ----
  bool finished() const { return done_.load(std::memory_order_acquire); }
  // Valid once failed() is true (set before the flag is published).
  bool failed() const { return failed_.load(std::memory_order_acquire); }
  const WriterFailure& failure() const { return failure_; }
  WriterStats stats() const;
  const Device& device() const { return *device_; }
  // Blocks the calling thread until the writer thread has finished (tests, CLI-less users).
  void waitFinished();

 private:
  void run();
  void pump(int inputFd, size_t readSize, bool direct);
  bool writeRecord(size_t n, size_t padded);
  void fail(int err, const char* syscall);
  void maybeSignalSpace();

  std::unique_ptr<Device> device_;
  SpscRing ring_;
  size_t hwmBytes_;
  std::shared_ptr<WriterListener> listener_;

  Event dataEv_;  // producer -> writer: data past the mark, end of input, cancel
  Event doneEv_;
  Event spaceEv_;  // writer -> native pump: room in the ring (or finished)
  std::atomic<int> stopFd_{-1};  // eventfd that wakes the pump's poll() on stopInput()
  std::atomic<bool> stopInput_{false};  // stopInput() was called (a regular-file input polls nothing)
  std::atomic<int> inputErr_{0};
  alignas(kCacheLine) std::atomic<size_t> spaceNeed_{0};
  std::atomic<bool> ended_{false};
  std::atomic<bool> cancel_{false};
  std::atomic<bool> done_{false};
  std::atomic<bool> failed_{false};
  std::atomic<bool> active_{false};
  std::atomic<uint64_t> written_{0};
  std::atomic<uint64_t> records_{0};
  std::atomic<uint64_t> underruns_{0};
  WriterFailure failure_;
};

}  // namespace acedt
