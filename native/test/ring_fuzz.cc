// Two-thread fuzz of the SPSC ring (issue 3 "Tests"): a producer pushes a pseudo-random byte
// stream in random chunk sizes, a consumer takes whole blocks (and the short tail at the end)
// and checks every byte against the same stream plus a running checksum. Geometries go from a
// one-byte single-block ring to many odd-sized blocks. Run it under ThreadSanitizer too
// (build-tsan): the acquire/release pairs are what makes the byte copies visible.
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "ring.h"

using acedt::SpscRing;

namespace {

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
};

// The data stream: byte i of the stream, from its own generator so both sides agree.
struct Stream {
  Rng r;
  explicit Stream(uint64_t seed) : r(seed) {}
  uint8_t byte() { return static_cast<uint8_t>(r.next() >> 24); }
};

int runCase(size_t bs, size_t blocks, uint64_t total, uint64_t seed) {
  SpscRing ring(bs, blocks);
  std::atomic<bool> ended{false};
  uint64_t sumIn = 0, sumOut = 0;
  std::thread producer([&] {
    Stream data(seed);
    Rng sizes(seed + 7);
    std::vector<uint8_t> chunk;
    uint64_t sent = 0;
    while (sent < total) {
      size_t n = 1 + sizes.next() % (3 * ring.capacity());
      if (n > total - sent) n = static_cast<size_t>(total - sent);
      chunk.resize(n);
      for (auto& b : chunk) {
        b = data.byte();
        sumIn = sumIn * 31 + b;
      }
      size_t off = 0;
      while (off < n) {
        size_t k = ring.push(chunk.data() + off, n - off);
        off += k;
        if (k == 0) std::this_thread::yield();
      }
      sent += n;
    }
    ended.store(true, std::memory_order_release);
  });
  Stream expect(seed);
  uint64_t got = 0;
  int bad = 0;
  for (;;) {
    size_t avail = ring.readable();
    size_t take = 0;
    if (avail >= bs) {
      take = bs;
    } else if (ended.load(std::memory_order_acquire)) {
      avail = ring.readable();
      if (avail >= bs) continue;
      if (avail == 0) break;
      take = avail;  // the short last block
    } else {
      std::this_thread::yield();
      continue;
    }
    const uint8_t* p = ring.front();
    for (size_t i = 0; i < take; ++i) {
      uint8_t e = expect.byte();
      if (p[i] != e && bad++ < 5) std::fprintf(stderr, "bs=%zu blocks=%zu: byte %llu is %u, expected %u\n", bs, blocks, (unsigned long long)(got + i), p[i], e);
      sumOut = sumOut * 31 + p[i];
    }
    ring.pop(take);
    got += take;
  }
  producer.join();
  if (got != total) {
    std::fprintf(stderr, "bs=%zu blocks=%zu: consumed %llu of %llu bytes\n", bs, blocks, (unsigned long long)got, (unsigned long long)total);
    return 1;
  }
  if (bad || sumIn != sumOut) {
    std::fprintf(stderr, "bs=%zu blocks=%zu: %d bad bytes, checksum %llx vs %llx\n", bs, blocks, bad, (unsigned long long)sumIn, (unsigned long long)sumOut);
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Smaller totals under TSan (ACE_DT_FUZZ_SCALE=1..100, default 100).
  const char* scaleEnv = std::getenv("ACE_DT_FUZZ_SCALE");
  uint64_t scale = scaleEnv ? std::strtoull(scaleEnv, nullptr, 10) : 100;
  uint64_t seed = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1;
  const size_t sizes[][2] = {{1, 1}, {1, 7}, {3, 1}, {7, 3}, {512, 1}, {512, 2}, {1000, 5}, {4096, 16}, {65536, 3}, {13, 101}};
  int failures = 0, cases = 0;
  for (auto& s : sizes) {
    for (int rep = 0; rep < 3; ++rep) {
      uint64_t total = (s[0] * s[1] * 37 + 12345 + rep * 777) * scale / 100 + rep;  // odd totals: short tails
      if (total > (uint64_t)20000000 * scale / 100) total = (uint64_t)20000000 * scale / 100 + rep;
      failures += runCase(s[0], s[1], total, seed * 1000 + cases);
      ++cases;
    }
  }
  std::printf("ring_fuzz: %d cases, %d failures\n", cases, failures);
  return failures ? 1 : 0;
}
