// A futex-backed wake-up primitive for the ring's two threads.
//
// The ring itself is lock-free; this is only how a thread that has nothing to do sleeps and is
// woken. The protocol is the classic "sequence + waiter count" one:
//   waiter:   s = ev.prepare(); if (!condition()) ev.wait(s);
//   notifier: make condition true; ev.notify();
// notify() bumps the sequence before looking at the waiter count and wait() registers before the
// kernel compares the sequence, both sequentially consistent, so a wake-up is never lost and a
// notify() with nobody asleep costs one atomic add and one load (no syscall).
#pragma once

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <ctime>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace acedt {

class Event {
 public:
  uint32_t prepare() const { return seq_.load(std::memory_order_seq_cst); }

  // Sleeps until notify() was called after prepare() returned `seen` (or spuriously).
  void wait(uint32_t seen) {
    waiters_.fetch_add(1, std::memory_order_seq_cst);
    if (seq_.load(std::memory_order_seq_cst) == seen) {
      syscall(SYS_futex, reinterpret_cast<uint32_t*>(&seq_), FUTEX_WAIT_PRIVATE, seen, nullptr, nullptr, 0);
    }
    waiters_.fetch_sub(1, std::memory_order_seq_cst);
  }

  void notify() {
    seq_.fetch_add(1, std::memory_order_seq_cst);
    if (waiters_.load(std::memory_order_seq_cst) != 0) {
      syscall(SYS_futex, reinterpret_cast<uint32_t*>(&seq_), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
    }
  }

 private:
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t), "futex word must be a plain 32-bit int");
  std::atomic<uint32_t> seq_{0};
  std::atomic<uint32_t> waiters_{0};
};

}  // namespace acedt
