// Digest computation on a thread of its own, with OpenSSL (the CPU's SHA extensions where
// present). Where ace-dt uses it and why: the hashing policy at the top of src/oci/verify.ts.
// The caller keeps each chunk alive and unmodified until completed() counts it: chunks are
// hashed in place, not copied.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

typedef struct evp_md_ctx_st EVP_MD_CTX;

namespace acedt {

class Hasher {
 public:
  enum class Algorithm { Sha256, Sha512 };
  explicit Hasher(Algorithm alg);
  ~Hasher();
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;

  // Queues a chunk. Returns the number of chunks hashed so far (including earlier calls).
  uint64_t update(const uint8_t* p, size_t n);
  uint64_t completed() const;
  // Bytes queued and not hashed yet.
  uint64_t pendingBytes() const;
  // Blocks until at most `limit` bytes are pending (backpressure for a fast producer).
  void waitBelow(uint64_t limit);
  // Blocks until every queued chunk is hashed; returns the lowercase hex digest. Once only.
  std::string finish();

 private:
  void run();
  Algorithm alg_;
  EVP_MD_CTX* ctx_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable work_;
  std::condition_variable idle_;      // queue empty and nothing in hand
  std::condition_variable progress_;  // a chunk was finished
  std::deque<std::pair<const uint8_t*, size_t>> queue_;
  uint64_t queued_ = 0;
  uint64_t pendingBytes_ = 0;
  uint64_t done_ = 0;
  bool stop_ = false;
  bool busy_ = false;  // the thread is hashing a chunk it took off the queue
  bool failed_ = false;
};

}  // namespace acedt
