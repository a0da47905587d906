#include "writer.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace acedt {

namespace {
// ceil(x / y) the way the original writes it, 1 + (x-1)/y, except that x = 0 gives 1.
size_t ceilDiv(unsigned __int128 x, size_t y) {
  if (x == 0) return 1;
  return static_cast<size_t>(1 + (x - 1) / y);
}
}  // namespace

Geometry computeGeometry(const WriterConfig& c) {
  Geometry g;
  g.blocks = ceilDiv(c.bufferSize, c.blockSize);
  unsigned __int128 mark = static_cast<unsigned __int128>(c.bufferSize) * c.hwmPercent / 100;
  g.hwmBlocks = ceilDiv(mark, c.blockSize);
  if (g.hwmBlocks < 1) g.hwmBlocks = 1;
  if (g.hwmBlocks > g.blocks) g.hwmBlocks = g.blocks;
  return g;
}

BlockWriter::BlockWriter(std::unique_ptr<Device> device, const WriterConfig& config)
    : device_(std::move(device)),
      ring_(config.blockSize, computeGeometry(config).blocks),
      hwmBytes_(computeGeometry(config).hwmBlocks * config.blockSize) {}

BlockWriter::~BlockWriter() {
  if (stopFd_.load() >= 0) ::close(stopFd_.load());
}

bool BlockWriter::pumpFrom(int inputFd, size_t readSize, int* err, bool direct) {
  int efd = eventfd(0, EFD_CLOEXEC);
  stopFd_.store(efd, std::memory_order_seq_cst);
  if (efd < 0) {
    *err = errno;
    ::close(inputFd);
    return false;
  }
  std::thread([self = shared_from_this(), inputFd, readSize, direct] { self->pump(inputFd, readSize, direct); }).detach();
  return true;
}

void BlockWriter::stopInput() {
  stopInput_.store(true, std::memory_order_release);  // seen between reads of a regular file
  int efd = stopFd_.load();
  if (efd >= 0) {
    uint64_t one = 1;
    ssize_t r = ::write(efd, &one, sizeof one);
    (void)r;
  }
}

void BlockWriter::pump(int in, size_t readSize, bool direct) {
  struct stat sb;
  const bool statOk = fstat(in, &sb) == 0;
  // A regular file or a block device is always readable, and a read of it returns without
  // waiting for anyone: no poll() before each read (mbuffer's select() is one more syscall per
  // block too); stopInput() is seen through its flag between reads. A pipe, socket or terminal
  // may stay open and idle, so there poll() waits on the input and the stop eventfd together.
  const bool pollFirst = !(statOk && (S_ISREG(sb.st_mode) || S_ISBLK(sb.st_mode)));
  // O_DIRECT reads of a regular file, as mbuffer does: every read lands on an aligned ring
  // offset as long as the ring, the blocks and the read size are aligned (only the last read at
  // the end of the file is short).
  bool directIn = direct && statOk && S_ISREG(sb.st_mode) && readSize % kDirectAlign == 0 &&
                  ring_.blockSize() % kDirectAlign == 0 && setDirect(in, true);
  const size_t need = ring_.capacity() / 4 > ring_.blockSize() ? ring_.capacity() / 4 : ring_.blockSize();
  struct pollfd pfd[2] = {{in, POLLIN, 0}, {stopFd_.load(), POLLIN, 0}};
  for (;;) {
    if (done_.load(std::memory_order_acquire)) break;  // the writer failed: stop reading
    if (stopInput_.load(std::memory_order_acquire)) break;
    uint32_t seen = spaceEv_.prepare();
    size_t room = 0;
    uint8_t* p = ring_.writable(&room);
    if (room == 0) {
      if (!requestSpace(need)) spaceEv_.wait(seen);
      continue;
    }
    if (room > readSize) room = readSize;
    if (pollFirst) {
      // poll() first so stopInput() can interrupt a read that would wait for more input.
      pfd[0].revents = pfd[1].revents = 0;
      if (poll(pfd, 2, -1) < 0) {
        if (errno == EINTR) continue;
        inputErr_.store(errno, std::memory_order_release);
        break;
      }
      if (pfd[1].revents) break;
    }
    if (directIn && (room % kDirectAlign != 0 || reinterpret_cast<uintptr_t>(p) % kDirectAlign != 0)) {
      setDirect(in, false);
      directIn = false;
    }
    ssize_t r = ::read(in, p, room);
    if (r < 0 && errno == EINVAL && directIn) {
      setDirect(in, false);  // the file system refuses direct reads here: use the page cache
      directIn = false;
      continue;
    }
    if (r > 0) {
      ring_.commit(static_cast<size_t>(r));
      if (ring_.fill() >= hwmBytes_) dataEv_.notify();
      continue;
    }
    if (r == 0) break;
    if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
    inputErr_.store(errno, std::memory_order_release);
    break;
  }
  ::close(in);
  end();
}

void BlockWriter::start(std::shared_ptr<WriterListener> listener) {
  listener_ = std::move(listener);
  // Detached: at process exit nobody should wait on a write(2) that may never return (a FIFO
  // without a reader, a drive that stopped answering). The thread owns a reference to us.
  std::thread([self = shared_from_this()] { self->run(); }).detach();
}

int64_t BlockWriter::push(const uint8_t* p, size_t n) {
  if (done_.load(std::memory_order_acquire) || ended_.load(std::memory_order_relaxed)) return -1;
  size_t copied = ring_.push(p, n);
  // Wake the writer when the fill crosses the mark; when nobody sleeps this is one atomic add.
  if (copied && ring_.fill() >= hwmBytes_) dataEv_.notify();
  return static_cast<int64_t>(copied);
}

int64_t BlockWriter::writable(size_t* offset) {
  if (done_.load(std::memory_order_acquire) || ended_.load(std::memory_order_relaxed)) return -1;
  size_t len = 0;
  uint8_t* p = ring_.writable(&len);
  *offset = static_cast<size_t>(p - ring_.data());
  return static_cast<int64_t>(len);
}

int64_t BlockWriter::commit(size_t offset, size_t n) {
  if (done_.load(std::memory_order_acquire) || ended_.load(std::memory_order_relaxed)) return -1;
  size_t len = 0;
  uint8_t* p = ring_.writable(&len);
  if (static_cast<size_t>(p - ring_.data()) != offset || n > len) return -2;
  ring_.commit(n);
  if (n && ring_.fill() >= hwmBytes_) dataEv_.notify();
  return static_cast<int64_t>(n);
}

bool BlockWriter::requestSpace(size_t need) {
  // Ask only for space that an idle writer leaves: it sleeps whenever the fill is below the
  // high-water mark, so more free space than capacity-hwm+1 may never come without more input.
  // (Asking for capacity-blockSize+1, as this once did, relied on the writer draining to below
  // one block before it sleeps. It may stop draining early: it saw the ring nearly empty, went
  // idle, and the producer had meanwhile filled it to just under the mark and asked for more
  // than that leaves. Caught live under ThreadSanitizer: fill 14 of 16 blocks, mark 15, need 15.)
  const size_t most = ring_.capacity() - hwmBytes_ + 1;
  if (need > most) need = most;
  if (need == 0) need = 1;
  if (done_.load(std::memory_order_acquire)) return true;
  spaceNeed_.store(need, std::memory_order_seq_cst);
  // The writer stores its index then reads spaceNeed_; we store spaceNeed_ then read its index
  // (both seq_cst): at least one of us sees the other, so the request cannot be lost.
  if (ring_.freeSpace() >= need || done_.load(std::memory_order_seq_cst)) {
    size_t expected = need;
    if (spaceNeed_.compare_exchange_strong(expected, 0, std::memory_order_seq_cst)) return true;
  }
  return false;
}

void BlockWriter::end() {
  ended_.store(true, std::memory_order_release);
  dataEv_.notify();
}

void BlockWriter::cancel() {
  cancel_.store(true, std::memory_order_release);
  dataEv_.notify();
}

WriterStats BlockWriter::stats() const {
  WriterStats s;
  s.accepted = ring_.pushed();
  s.written = written_.load(std::memory_order_relaxed);
  s.records = records_.load(std::memory_order_relaxed);
  s.fill = ring_.fill();
  s.capacity = ring_.capacity();
  s.underruns = underruns_.load(std::memory_order_relaxed);
  s.hwmBytes = hwmBytes_;
  s.active = active_.load(std::memory_order_relaxed);
  return s;
}

void BlockWriter::waitFinished() {
  for (;;) {
    uint32_t s = doneEv_.prepare();
    if (done_.load(std::memory_order_acquire)) return;
    doneEv_.wait(s);
  }
}

void BlockWriter::fail(int err, const char* syscall) {
  if (failed_.load(std::memory_order_relaxed)) return;  // the first error sticks
  failure_.err = err;
  failure_.syscall = syscall;
  failure_.offset = written_.load(std::memory_order_relaxed);
  failure_.endOfMedium = device_->isTape() && err == ENOSPC;
  failed_.store(true, std::memory_order_release);
}

void BlockWriter::maybeSignalSpace() {
  size_t need = spaceNeed_.load(std::memory_order_seq_cst);
  if (need == 0) return;
  if (ring_.capacity() - ring_.fill() < need) return;
  if (!spaceNeed_.compare_exchange_strong(need, 0, std::memory_order_seq_cst)) return;
  if (stopFd_.load(std::memory_order_relaxed) >= 0) {
    spaceEv_.notify();  // the native pump is the producer
  } else if (listener_) {
    listener_->onSpace();
  }
}

bool BlockWriter::writeRecord(size_t n, size_t padded) {
  // The record starts on a block boundary and never wraps (ring.h).
  uint8_t* p = const_cast<uint8_t*>(ring_.front());
  if (padded > n) std::memset(p + n, 0, padded - n);  // input has ended: nobody writes here now
  WriteOutcome o = device_->writeRecord(p, padded);
  size_t data = o.acknowledged < n ? o.acknowledged : n;
  if (o.acknowledged > 0) {
    written_.fetch_add(data, std::memory_order_relaxed);
    records_.fetch_add(1, std::memory_order_relaxed);
  }
  if (o.err) {
    fail(o.err, o.syscall);
    return false;
  }
  ring_.pop(n);
  maybeSignalSpace();
  return true;
}

void BlockWriter::run() {
  const size_t bs = ring_.blockSize();
  for (;;) {
    // Idle: wait for the high-water mark or the end of input.
    for (;;) {
      uint32_t seen = dataEv_.prepare();
      if (cancel_.load(std::memory_order_acquire)) goto finish;
      if (ring_.readable() >= hwmBytes_ || ended_.load(std::memory_order_acquire)) break;
      // Never sleep on a space request that the ring can grant. Below the mark the free space is
      // more than capacity-hwm, which requestSpace() never exceeds: a pending request is granted
      // here if the pops that made the room did not already do it.
      maybeSignalSpace();
      dataEv_.wait(seen);
    }
    active_.store(true, std::memory_order_relaxed);
    // Active: write until the ring is empty.
    for (;;) {
      if (cancel_.load(std::memory_order_acquire)) goto finish;
      if (ring_.readable() >= bs) {
        if (!writeRecord(bs, bs)) goto finish;
        continue;
      }
      if (ended_.load(std::memory_order_acquire)) {
        // Re-read after seeing the flag: the producer's last push happened before it.
        size_t rest = ring_.readable();
        if (rest >= bs) continue;
        if (rest > 0) {
          size_t pad = device_->padTo();
          size_t padded = (rest + pad - 1) / pad * pad;
          if (!writeRecord(rest, padded)) goto finish;
        }
        goto finish;
      }
      underruns_.fetch_add(1, std::memory_order_relaxed);
      active_.store(false, std::memory_order_relaxed);
      break;
    }
  }
finish:
  active_.store(false, std::memory_order_relaxed);
  {
    WriteOutcome o = device_->finish(records_.load(std::memory_order_relaxed) > 0 || failed_.load());
    if (o.err) fail(o.err, o.syscall);
  }
  done_.store(true, std::memory_order_seq_cst);
  spaceNeed_.store(0, std::memory_order_seq_cst);
  doneEv_.notify();
  spaceEv_.notify();
  std::shared_ptr<WriterListener> l = std::move(listener_);
  if (l) l->onDone();
}

}  // namespace acedt
