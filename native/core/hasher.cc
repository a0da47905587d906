#include "hasher.h"

#include <openssl/evp.h>

#include <stdexcept>

namespace acedt {

Hasher::Hasher(Algorithm alg) : alg_(alg), ctx_(EVP_MD_CTX_new()) {
  if (!ctx_ || EVP_DigestInit_ex(ctx_, alg == Algorithm::Sha256 ? EVP_sha256() : EVP_sha512(), nullptr) != 1) {
    if (ctx_) EVP_MD_CTX_free(ctx_);
    throw std::runtime_error("OpenSSL digest initialisation failed");
  }
}

Hasher::~Hasher() {
  {
    // Abandon what is queued (its owner is going away); the chunk in hand is finished first.
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
    queue_.clear();
  }
  work_.notify_all();
  progress_.notify_all();
  if (thread_.joinable()) thread_.join();
  EVP_MD_CTX_free(ctx_);
}

uint64_t Hasher::update(const uint8_t* p, size_t n) {
  std::unique_lock<std::mutex> lk(mu_);
  if (stop_) throw std::logic_error("update() after digest()");
  if (n == 0) return done_;
  // The thread starts on the first chunk: many hashers see one small chunk or none.
  if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
  queue_.emplace_back(p, n);
  ++queued_;
  pendingBytes_ += n;
  uint64_t d = done_;
  bool wake = queue_.size() == 1;
  lk.unlock();
  if (wake) work_.notify_one();
  return d;
}

uint64_t Hasher::completed() const {
  std::lock_guard<std::mutex> lk(mu_);
  return done_;
}

uint64_t Hasher::pendingBytes() const {
  std::lock_guard<std::mutex> lk(mu_);
  return pendingBytes_;
}

void Hasher::waitBelow(uint64_t limit) {
  std::unique_lock<std::mutex> lk(mu_);
  progress_.wait(lk, [&] { return pendingBytes_ <= limit || stop_; });
}

void Hasher::run() {
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    work_.wait(lk, [this] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stop_ and nothing left
    auto chunk = queue_.front();
    queue_.pop_front();
    busy_ = true;
    lk.unlock();
    bool ok = EVP_DigestUpdate(ctx_, chunk.first, chunk.second) == 1;
    lk.lock();
    busy_ = false;
    if (!ok) failed_ = true;
    ++done_;
    pendingBytes_ -= chunk.second;
    progress_.notify_all();
    if (queue_.empty()) idle_.notify_all();
  }
}

std::string Hasher::finish() {
  {
    std::unique_lock<std::mutex> lk(mu_);
    idle_.wait(lk, [this] { return queue_.empty() && !busy_; });
    stop_ = true;
  }
  work_.notify_all();
  if (thread_.joinable()) thread_.join();
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (failed_ || EVP_DigestFinal_ex(ctx_, md, &len) != 1) throw std::runtime_error("OpenSSL digest failed");
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned i = 0; i < len; ++i) {
    out.push_back(hex[md[i] >> 4]);
    out.push_back(hex[md[i] & 15]);
  }
  return out;
}

}  // namespace acedt
