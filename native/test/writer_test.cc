// The writer thread against real descriptors: a regular file (round trip, record count), a
// packet-mode pipe (every write(2) is exactly one block, the last may be short), /dev/full
// (ENOSPC is reported with the offset and a waiting producer is released: no hang), the
// high-water mark (nothing is written before it), and a pipe grown to one record.
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <thread>
#include <unistd.h>
#include <vector>

#include "writer.h"

using namespace acedt;

namespace {

int failures = 0;
#define CHECK(cond, ...)                                  \
  do {                                                    \
    if (!(cond)) {                                        \
      std::fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, __VA_ARGS__);                  \
      std::fprintf(stderr, "\n");                         \
      ++failures;                                         \
    }                                                     \
  } while (0)

struct EventListener : WriterListener {
  Event ev;
  std::atomic<int> spaces{0}, dones{0};
  void onSpace() override {
    spaces++;
    ev.notify();
  }
  void onDone() override {
    dones++;
    ev.notify();
  }
};

// Pushes all of `data` in random chunks, waiting for space like the addon's JS side does.
bool pushAll(BlockWriter& w, EventListener& l, const std::vector<uint8_t>& data, uint64_t seed) {
  uint64_t s = seed | 1;
  size_t off = 0;
  while (off < data.size()) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    size_t n = 1 + s % (w.stats().capacity * 2 + 1);
    if (n > data.size() - off) n = data.size() - off;
    size_t end = off + n;
    while (off < end) {
      uint32_t seen = l.ev.prepare();
      int64_t k = w.push(data.data() + off, end - off);
      if (k < 0) return false;
      off += static_cast<size_t>(k);
      if (off < end && !w.requestSpace(end - off)) l.ev.wait(seen);
    }
  }
  return true;
}

std::vector<uint8_t> randomData(size_t n, uint64_t seed) {
  std::vector<uint8_t> v(n);
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  for (auto& b : v) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    b = static_cast<uint8_t>(s >> 32);
  }
  return v;
}

void fileRoundTrip(size_t bs, size_t bufferSize, unsigned hwm, size_t total) {
  char path[] = "/tmp/ace-dt-writer-XXXXXX";
  int fd = mkstemp(path);
  OpenError oe;
  auto dev = openDevice(fd, false, false, bs, &oe);
  WriterConfig c{bs, bufferSize, hwm};
  auto w = std::make_shared<BlockWriter>(std::move(dev), c);
  auto l = std::make_shared<EventListener>();
  w->start(l);
  auto data = randomData(total, bs + total);
  CHECK(pushAll(*w, *l, data, total), "push failed");
  w->end();
  w->waitFinished();
  CHECK(!w->failed(), "bs=%zu: writer failed errno %d", bs, w->failure().err);
  WriterStats st = w->stats();
  CHECK(st.written == total, "written %llu of %zu", (unsigned long long)st.written, total);
  CHECK(st.records == (total + bs - 1) / bs, "records %llu for %zu bytes of bs %zu", (unsigned long long)st.records, total, bs);
  FILE* f = std::fopen(path, "rb");
  std::vector<uint8_t> back(total + 1);
  size_t got = std::fread(back.data(), 1, total + 1, f);
  std::fclose(f);
  unlink(path);
  CHECK(got == total && std::memcmp(back.data(), data.data(), total) == 0, "bs=%zu: file content differs (%zu bytes)", bs, got);
  // onDone() follows the finished flag that waitFinished() watches.
  for (int i = 0; i < 1000 && l->dones == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  CHECK(l->dones == 1, "onDone called %d times", l->dones.load());
}

// writable()/commit(): a producer that receives straight into the ring (JavaScript's socket
// reads) interleaved with push(); a commit anywhere but the head, or longer than the free
// region, is refused and changes nothing.
void commitInPlace(size_t bs, size_t blocks, size_t total) {
  char path[] = "/tmp/ace-dt-commit-XXXXXX";
  int fd = mkstemp(path);
  OpenError oe;
  auto w = std::make_shared<BlockWriter>(openDevice(fd, false, false, bs, &oe), WriterConfig{bs, bs * blocks, 50});
  auto l = std::make_shared<EventListener>();
  w->start(l);
  auto data = randomData(total, bs * 7 + total);
  uint64_t s = total | 1;
  size_t off = 0, inPlace = 0;
  int refused = 0;
  while (off < total) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    size_t want = 1 + s % (bs * 3);
    if (want > total - off) want = total - off;
    uint32_t seen = l->ev.prepare();
    if (s & 1) {
      size_t at = 0;
      int64_t room = w->writable(&at);
      CHECK(room >= 0, "writable() %lld", (long long)room);
      if (room <= 0) {
        if (!w->requestSpace(1)) l->ev.wait(seen);
        continue;
      }
      size_t n = want < static_cast<size_t>(room) ? want : static_cast<size_t>(room);
      std::memcpy(w->ringData() + at, data.data() + off, n);
      if (w->commit(at + 1, n) != -2) refused = -1000;                      // not the head
      if (w->commit(at, w->ringCapacity() + 1) != -2) refused = -1000;  // past the free region
      ++refused;
      CHECK(w->commit(at, n) == static_cast<int64_t>(n), "commit of %zu at %zu", n, at);
      off += n;
      inPlace += n;
    } else {
      int64_t k = w->push(data.data() + off, want);
      CHECK(k >= 0, "push failed");
      off += static_cast<size_t>(k);
      if (static_cast<size_t>(k) < want && !w->requestSpace(want - static_cast<size_t>(k))) l->ev.wait(seen);
    }
  }
  w->end();
  size_t at = 0;
  CHECK(w->writable(&at) == -1, "writable() after end()");
  w->waitFinished();
  CHECK(!w->failed(), "writer failed errno %d", w->failure().err);
  CHECK(refused > 0, "bad commits were not refused (%d)", refused);
  CHECK(inPlace > total / 4, "only %zu of %zu bytes committed in place", inPlace, total);
  std::vector<uint8_t> back(total + 1);
  FILE* f = std::fopen(path, "rb");  // the writer closed its descriptor
  size_t got = std::fread(back.data(), 1, total + 1, f);
  std::fclose(f);
  unlink(path);
  CHECK(got == total && std::memcmp(back.data(), data.data(), total) == 0, "bs=%zu: file content differs (%zu bytes)", bs, got);
}

// Packet-mode pipe (pipe(7) O_DIRECT): each write(2) of up to PIPE_BUF bytes is one packet and
// read(2) returns one packet, so the reader sees the writer's exact write sizes.
void writeSizes(size_t bs, size_t blocks, size_t total) {
  int p[2];
  if (pipe2(p, O_DIRECT) < 0) {
    std::fprintf(stderr, "skip writeSizes: pipe2(O_DIRECT): %s\n", std::strerror(errno));
    return;
  }
  OpenError oe;
  auto w = std::make_shared<BlockWriter>(openDevice(p[1], false, false, bs, &oe), WriterConfig{bs, bs * blocks, 50});
  auto l = std::make_shared<EventListener>();
  w->start(l);
  std::vector<size_t> sizes;
  std::thread reader([&] {
    std::vector<uint8_t> buf(65536);
    for (;;) {
      ssize_t r = read(p[0], buf.data(), buf.size());
      if (r <= 0) break;
      sizes.push_back(static_cast<size_t>(r));
    }
  });
  auto data = randomData(total, 3);
  pushAll(*w, *l, data, 99);
  w->end();
  w->waitFinished();
  reader.join();
  close(p[0]);
  size_t sum = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    sum += sizes[i];
    if (i + 1 < sizes.size()) CHECK(sizes[i] == bs, "write %zu was %zu bytes, block size %zu", i, sizes[i], bs);
  }
  CHECK(sum == total, "pipe carried %zu of %zu bytes", sum, total);
  CHECK(!sizes.empty() && sizes.back() == (total % bs ? total % bs : bs), "last write %zu bytes", sizes.empty() ? 0 : sizes.back());
}

void devFull() {
  int fd = open("/dev/full", O_WRONLY);
  OpenError oe;
  auto w = std::make_shared<BlockWriter>(openDevice(fd, false, false, 4096, &oe), WriterConfig{4096, 4096 * 4, 50});
  auto l = std::make_shared<EventListener>();
  w->start(l);
  auto data = randomData(1 << 20, 5);
  bool ok = pushAll(*w, *l, data, 7);  // must return (false) instead of hanging
  CHECK(!ok, "pushing 1 MiB into /dev/full succeeded");
  w->waitFinished();
  CHECK(w->failed() && w->failure().err == ENOSPC, "expected ENOSPC, got %d", w->failure().err);
  CHECK(w->failure().offset == 0 && w->failure().syscall == "write", "offset %llu syscall %s", (unsigned long long)w->failure().offset, w->failure().syscall.c_str());
  CHECK(!w->failure().endOfMedium, "/dev/full is not a tape");
}

void highWaterMark() {
  char path[] = "/tmp/ace-dt-hwm-XXXXXX";
  int fd = mkstemp(path);
  OpenError oe;
  // 10 blocks of 1000, hwm 35% -> ceil(3500/1000) = 4 blocks.
  auto w = std::make_shared<BlockWriter>(openDevice(fd, false, false, 1000, &oe), WriterConfig{1000, 10000, 35});
  auto l = std::make_shared<EventListener>();
  w->start(l);
  CHECK(w->stats().hwmBytes == 4000, "hwm %llu", (unsigned long long)w->stats().hwmBytes);
  auto data = randomData(3999, 1);
  w->push(data.data(), data.size());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(w->stats().records == 0, "%llu records written below the mark", (unsigned long long)w->stats().records);
  uint8_t one = 1;
  w->push(&one, 1);
  for (int i = 0; i < 1000 && w->stats().records < 4; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  CHECK(w->stats().records == 4, "%llu records after reaching the mark", (unsigned long long)w->stats().records);
  // The ring ran dry while active: one underrun.
  for (int i = 0; i < 1000 && w->stats().active; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  CHECK(w->stats().underruns == 1, "underruns %llu", (unsigned long long)w->stats().underruns);
  w->push(data.data(), 10);
  w->end();
  w->waitFinished();
  CHECK(w->stats().records == 5 && w->stats().written == 4010, "records %llu written %llu", (unsigned long long)w->stats().records, (unsigned long long)w->stats().written);
  unlink(path);
}

// A writer idle below the mark leaves more than capacity-hwm free and nothing else: a request
// for more than that must be trimmed to it and granted, or the producer waits on a writer that
// waits for the mark (the deadlock caught under ThreadSanitizer in fileRoundTrip: ring of 16
// blocks, mark 15, the writer idle at 14, the producer asking for 15 blocks of room).
void requestBelowMark() {
  char path[] = "/tmp/ace-dt-req-XXXXXX";
  int fd = mkstemp(path);
  OpenError oe;
  const size_t bs = 65536;
  auto w = std::make_shared<BlockWriter>(openDevice(fd, false, false, bs, &oe), WriterConfig{bs, 16 * bs, 90});
  auto l = std::make_shared<EventListener>();
  w->start(l);
  CHECK(w->stats().hwmBytes == 15 * bs, "hwm %llu", (unsigned long long)w->stats().hwmBytes);
  auto data = randomData(14 * bs, 3);
  CHECK(w->push(data.data(), data.size()) == static_cast<int64_t>(data.size()), "14 blocks fit");
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(w->stats().records == 0 && !w->stats().active, "the writer is idle below the mark");
  CHECK(w->requestSpace(16 * bs), "a request for more room than an idle writer leaves is trimmed and granted");
  CHECK(w->requestSpace(15 * bs - 1), "a request for capacity-blockSize+1 is trimmed and granted");
  w->end();
  w->waitFinished();
  CHECK(w->stats().written == 14 * bs, "written %llu", (unsigned long long)w->stats().written);
  unlink(path);
}

void geometry() {
  auto g = computeGeometry({1 << 20, 1ull << 30, 90});
  CHECK(g.blocks == 1024 && g.hwmBlocks == 922, "-m 1Gi: %zu blocks, hwm %zu", g.blocks, g.hwmBlocks);
  g = computeGeometry({1 << 20, 0, 90});
  CHECK(g.blocks == 1 && g.hwmBlocks == 1, "-m 0: %zu blocks, hwm %zu", g.blocks, g.hwmBlocks);
  g = computeGeometry({1000, 1001, 100});
  CHECK(g.blocks == 2 && g.hwmBlocks == 2, "-m 1001 -b 1000: %zu blocks, hwm %zu", g.blocks, g.hwmBlocks);
  g = computeGeometry({1000, 10000, 1});
  CHECK(g.blocks == 10 && g.hwmBlocks == 1, "--hwm 1: %zu blocks, hwm %zu", g.blocks, g.hwmBlocks);
}

// The native input pump (util mbuffer): file -> ring -> file, and a stop while the input is idle.
void pumpRoundTrip(size_t bs, size_t bufferSize, size_t total) {
  char in[] = "/tmp/ace-dt-pin-XXXXXX";
  char out[] = "/tmp/ace-dt-pout-XXXXXX";
  int ifd = mkstemp(in);
  auto data = randomData(total, 11);
  if (write(ifd, data.data(), data.size()) != static_cast<ssize_t>(data.size())) ++failures;
  lseek(ifd, 0, SEEK_SET);
  int ofd = mkstemp(out);
  OpenError oe;
  auto w = std::make_shared<BlockWriter>(openDevice(ofd, false, false, bs, &oe), WriterConfig{bs, bufferSize, 75});
  w->start(std::make_shared<EventListener>());
  int err = 0;
  CHECK(w->pumpFrom(ifd, 1 << 20, &err), "pumpFrom: %s", std::strerror(err));
  w->waitFinished();
  CHECK(!w->failed() && w->inputError() == 0, "pump failed");
  CHECK(w->stats().written == total && w->stats().records == (total + bs - 1) / bs, "pump wrote %llu in %llu records", (unsigned long long)w->stats().written, (unsigned long long)w->stats().records);
  FILE* f = std::fopen(out, "rb");
  std::vector<uint8_t> back(total + 1);
  size_t got = std::fread(back.data(), 1, total + 1, f);
  std::fclose(f);
  CHECK(got == total && std::memcmp(back.data(), data.data(), total) == 0, "pumped file differs");
  unlink(in);
  unlink(out);
}

void pumpStop() {
  int p[2];
  if (pipe(p) < 0) return;
  char out[] = "/tmp/ace-dt-pstop-XXXXXX";
  int ofd = mkstemp(out);
  OpenError oe;
  auto w = std::make_shared<BlockWriter>(openDevice(ofd, false, false, 100, &oe), WriterConfig{100, 100000, 90});
  w->start(std::make_shared<EventListener>());
  int err = 0;
  w->pumpFrom(p[0], 4096, &err);
  auto data = randomData(250, 2);
  if (write(p[1], data.data(), data.size()) != 250) ++failures;
  for (int i = 0; i < 1000 && w->stats().accepted < 250; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  w->stopInput();  // the input stays open and idle: the stop must not wait for it
  w->waitFinished();
  CHECK(w->stats().written == 250 && w->stats().records == 3, "stop drained %llu bytes in %llu records", (unsigned long long)w->stats().written, (unsigned long long)w->stats().records);
  close(p[1]);
  unlink(out);
}

// A stop while the pump reads a regular file (read without poll(); the stop is a flag seen
// between reads): the pump waits for room in the ring, the output is a pipe nobody reads yet.
// After stopInput() nothing more is read, and what the ring held is written.
void pumpStopRegular() {
  const size_t bs = 65536, total = bs * 40;
  char in[] = "/tmp/ace-dt-pstopr-XXXXXX";
  int ifd = mkstemp(in);
  auto data = randomData(total, 5);
  if (write(ifd, data.data(), data.size()) != static_cast<ssize_t>(total)) ++failures;
  lseek(ifd, 0, SEEK_SET);
  int p[2];
  if (pipe(p) < 0) return;
  fcntl(p[1], F_SETPIPE_SZ, static_cast<int>(bs));
  OpenError oe;
  auto w = std::make_shared<BlockWriter>(openDevice(p[1], false, false, bs, &oe), WriterConfig{bs, bs * 8, 50});
  w->start(std::make_shared<EventListener>());
  int err = 0;
  w->pumpFrom(ifd, bs, &err);
  // Nothing moving: the writer is blocked on the full pipe, the pump waits for room in the ring
  // (it asks for a quarter of it). written == accepted - fill: not between a write's return and
  // its pop; then unchanged 20 ms later.
  uint64_t accepted = 0;
  for (int i = 0; i < 500; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    WriterStats a = w->stats();
    if (a.fill + a.capacity / 4 <= a.capacity || a.written == 0 || a.written + a.fill != a.accepted) continue;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    WriterStats b = w->stats();
    accepted = b.accepted;
    if (b.accepted == a.accepted && b.written == a.written && b.fill == a.fill) break;
  }
  CHECK(accepted > 0 && accepted < total, "the pump did not stop for room: fill %llu accepted %llu", (unsigned long long)w->stats().fill, (unsigned long long)accepted);
  w->stopInput();
  std::vector<uint8_t> back;
  uint8_t buf[65536];
  for (ssize_t r; (r = read(p[0], buf, sizeof buf)) > 0;) back.insert(back.end(), buf, buf + r);  // EOF: the writer closed it
  w->waitFinished();
  CHECK(!w->failed() && w->inputError() == 0, "stopped pump failed");
  CHECK(w->stats().accepted == accepted && back.size() == accepted && std::memcmp(back.data(), data.data(), back.size()) == 0,
        "after the stop: accepted %llu (was %llu), written %zu", (unsigned long long)w->stats().accepted, (unsigned long long)accepted, back.size());
  close(p[0]);
  unlink(in);
}

// A pipe destination grows to one record (at most 1 MiB), so that a record is one write and one
// wake-up of the reader instead of sixteen; a pipe already that large, or a smaller block size,
// leaves it as it is (never shrunk: a pipe holding data refuses it with EBUSY).
void pipeGrows() {
  struct Case {
    size_t bs;
    int before, after;
  };
  for (Case c : {Case{1 << 20, 65536, 1 << 20}, Case{4 << 20, 65536, 1 << 20}, Case{4096, 65536, 65536}, Case{256 << 10, 1 << 20, 1 << 20}}) {
    int p[2];
    if (pipe(p) < 0) return;
    if (fcntl(p[1], F_SETPIPE_SZ, c.before) != c.before) {
      std::fprintf(stderr, "skip pipeGrows: F_SETPIPE_SZ %d: %s\n", c.before, std::strerror(errno));
      close(p[0]);
      close(p[1]);
      return;
    }
    OpenError oe;
    auto dev = openDevice(p[1], false, false, c.bs, &oe);
    int now = fcntl(p[0], F_GETPIPE_SZ);
    CHECK(dev && now == c.after, "block size %zu: pipe of %d bytes became %d, want %d", c.bs, c.before, now, c.after);
    dev.reset();
    close(p[0]);
  }
}

}  // namespace

int main() {
  geometry();
  fileRoundTrip(1, 1, 100, 5000);
  fileRoundTrip(512, 512, 90, 100000);
  fileRoundTrip(512, 512 * 7 + 1, 60, 1000000 + 3);
  fileRoundTrip(65536, 1 << 20, 90, 10000000 + 17);
  writeSizes(4096, 4, 4096 * 50 + 123);
  writeSizes(1000, 1, 1000 * 20);
  devFull();
  highWaterMark();
  requestBelowMark();
  commitInPlace(512, 4, 300000 + 11);
  commitInPlace(65536, 16, 20000000 + 3);
  pumpRoundTrip(512, 4096, 1000000 + 7);
  pumpRoundTrip(65536, 1 << 20, 20000000 + 1);
  pumpRoundTrip(1, 1, 3000);
  pumpStop();
  pumpStopRegular();
  pipeGrows();
  std::printf("writer_test: %d failures\n", failures);
  return failures ? 1 : 0;
}
