// Single-producer/single-consumer lock-free byte ring (SPEC "The native writer").
//
// Shaped after rigtorp/SPSCQueue: the producer owns `head_`, the consumer owns `tail_`, each on
// its own cache line, published with release stores and read with acquire loads by the other
// side; each side caches the other's index so the shared line is touched only when the cached
// value says the ring looks full (producer) or empty (consumer).
//
// The capacity is a whole number of blocks and the consumer only ever takes whole blocks (the
// final short block at end of input is the exception and nothing follows it), so every block
// starts on a block boundary and is contiguous: the writer hands it to write(2) in place, and
// the bytes are copied exactly once, by push().
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>

namespace acedt {

constexpr size_t kCacheLine = 64;

class SpscRing {
 public:
  SpscRing(size_t blockSize, size_t blocks) : bs_(blockSize), cap_(blockSize * blocks) {
    if (blockSize == 0 || blocks == 0) throw std::invalid_argument("ring needs at least one block of at least one byte");
    if (cap_ / blocks != blockSize) throw std::length_error("ring size overflows");
    // Page alignment lets the st driver map the buffer for direct I/O (st.rst "try_direct_io").
    size_t alloc = (cap_ + 4095) & ~size_t(4095);
    buf_ = static_cast<uint8_t*>(std::aligned_alloc(4096, alloc));
    if (!buf_) throw std::bad_alloc();
  }
  ~SpscRing() { std::free(buf_); }
  SpscRing(const SpscRing&) = delete;
  SpscRing& operator=(const SpscRing&) = delete;

  size_t capacity() const { return cap_; }
  size_t blockSize() const { return bs_; }
  // The ring's memory, for a producer that receives straight into the free region at the head
  // (writable()/commit()); the consumer's part [tail, head) must never be written.
  uint8_t* data() const { return buf_; }

  // ---- producer side ----

  // Copies as much of [p, p+n) as fits; returns the number of bytes copied.
  size_t push(const uint8_t* p, size_t n) {
    const uint64_t head = head_.load(std::memory_order_relaxed);
    size_t room = cap_ - static_cast<size_t>(head - tailCache_);
    if (room < n) {
      tailCache_ = tail_.load(std::memory_order_acquire);
      room = cap_ - static_cast<size_t>(head - tailCache_);
    }
    const size_t take = n < room ? n : room;
    if (take == 0) return 0;
    const size_t at = static_cast<size_t>(head % cap_);
    const size_t first = take < cap_ - at ? take : cap_ - at;
    std::memcpy(buf_ + at, p, first);
    if (take > first) std::memcpy(buf_, p + first, take - first);
    head_.store(head + take, std::memory_order_release);
    return take;
  }

  // Zero-copy producing (the native input pump, or JavaScript receiving from a socket, reads
  // straight into the ring): the contiguous free region at the head, then commit() what was filled.
  uint8_t* writable(size_t* len) {
    const uint64_t head = head_.load(std::memory_order_relaxed);
    tailCache_ = tail_.load(std::memory_order_acquire);
    const size_t room = cap_ - static_cast<size_t>(head - tailCache_);
    const size_t at = static_cast<size_t>(head % cap_);
    *len = room < cap_ - at ? room : cap_ - at;
    return buf_ + at;
  }
  void commit(size_t n) { head_.store(head_.load(std::memory_order_relaxed) + n, std::memory_order_release); }

  // Free bytes as the producer sees them now (exact: reads the consumer's index).
  size_t freeSpace() {
    tailCache_ = tail_.load(std::memory_order_seq_cst);
    return cap_ - static_cast<size_t>(head_.load(std::memory_order_relaxed) - tailCache_);
  }

  // ---- consumer side ----

  // Bytes the consumer may read now.
  size_t readable() {
    headCache_ = head_.load(std::memory_order_acquire);
    return static_cast<size_t>(headCache_ - tail_.load(std::memory_order_relaxed));
  }

  // Start of the next block to read; valid for min(readable(), blockSize()) bytes.
  const uint8_t* front() const {
    return buf_ + static_cast<size_t>(tail_.load(std::memory_order_relaxed) % cap_);
  }

  void pop(size_t n) {
    tail_.store(tail_.load(std::memory_order_relaxed) + n, std::memory_order_seq_cst);
  }

  // ---- either side (statistics; a consistent-enough snapshot) ----
  uint64_t pushed() const { return head_.load(std::memory_order_acquire); }
  uint64_t popped() const { return tail_.load(std::memory_order_acquire); }
  size_t fill() const {
    const uint64_t t = tail_.load(std::memory_order_acquire);
    const uint64_t h = head_.load(std::memory_order_acquire);
    return h >= t ? static_cast<size_t>(h - t) : 0;
  }

 private:
  alignas(kCacheLine) std::atomic<uint64_t> head_{0};  // written by the producer
  alignas(kCacheLine) uint64_t tailCache_ = 0;          // producer's copy of tail_
  alignas(kCacheLine) std::atomic<uint64_t> tail_{0};  // written by the consumer
  alignas(kCacheLine) uint64_t headCache_ = 0;          // consumer's copy of head_
  alignas(kCacheLine) uint8_t* buf_ = nullptr;
  size_t bs_;
  size_t cap_;
};

static_assert(alignof(SpscRing) == kCacheLine, "indices must sit on their own cache lines");

}  // namespace acedt
