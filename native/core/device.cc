#include "device.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mtio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

namespace acedt {

const char* errnoName(int err) {
  const char* n = strerrorname_np(err);
  return n ? n : "EUNKNOWN";
}

bool queryTape(int fd, TapeStatus* out) {
  struct mtget g;
  std::memset(&g, 0, sizeof g);
  if (ioctl(fd, MTIOCGET, &g) < 0) return false;
  out->fileNumber = g.mt_fileno;
  out->blockInFile = g.mt_blkno;
  out->blockSize = (g.mt_dsreg & MT_ST_BLKSIZE_MASK) >> MT_ST_BLKSIZE_SHIFT;
  out->density = (g.mt_dsreg & MT_ST_DENSITY_MASK) >> MT_ST_DENSITY_SHIFT;
  out->driveType = g.mt_type;
  out->gstat = g.mt_gstat;
  out->bot = GMT_BOT(g.mt_gstat);
  out->eof = GMT_EOF(g.mt_gstat);
  out->eod = GMT_EOD(g.mt_gstat);
  out->writeProtected = GMT_WR_PROT(g.mt_gstat);
  out->online = GMT_ONLINE(g.mt_gstat);
  out->doorOpen = GMT_DR_OPEN(g.mt_gstat);
  struct stat sb;
  // st minor numbers: bit 7 set = the no-rewind node (drivers/scsi/st.h TAPE_REWIND()).
  if (fstat(fd, &sb) == 0 && S_ISCHR(sb.st_mode)) out->rewindOnClose = (minor(sb.st_rdev) & 0x80) == 0;
  int err = 0;
  out->position = tapePosition(fd, &err);
  out->positionErrno = err;
  return true;
}

long tapePosition(int fd, int* err) {
  struct mtpos p;
  if (ioctl(fd, MTIOCPOS, &p) < 0) {
    *err = errno;
    return -1;
  }
  *err = 0;
  return p.mt_blkno;
}

Device::~Device() {
  if (fd_ >= 0) ::close(fd_);
}

WriteOutcome Device::closeFd() {
  WriteOutcome out;
  if (fd_ >= 0) {
    // close(2) must not be retried on EINTR on Linux: the descriptor is gone either way.
    if (::close(fd_) < 0 && errno != EINTR) {
      out.err = errno;
      out.syscall = "close";
    }
    fd_ = -1;
  }
  return out;
}

WriteOutcome Device::finish(bool) { return closeFd(); }

bool setDirect(int fd, bool on) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0) return false;
  int want = on ? (fl | O_DIRECT) : (fl & ~O_DIRECT);
  return want == fl || fcntl(fd, F_SETFL, want) == 0;
}

void FileDevice::enableDirect() { direct_ = setDirect(fd_, true); }

void FileDevice::disableDirect() {
  setDirect(fd_, false);
  direct_ = false;
}

WriteOutcome FileDevice::writeRecord(const uint8_t* p, size_t n) {
  WriteOutcome out;
  if (direct_ && (n % kDirectAlign != 0 || reinterpret_cast<uintptr_t>(p) % kDirectAlign != 0)) disableDirect();
  while (out.acknowledged < n) {
    ssize_t r = ::write(fd_, p + out.acknowledged, n - out.acknowledged);
    if (r > 0) {
      out.acknowledged += static_cast<size_t>(r);
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && errno == EINVAL && direct_) {
      disableDirect();  // the file system wants another alignment: fall back to the page cache
      continue;
    }
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // Somebody (libuv, for a pipe on fd 1) made the description non-blocking: wait for room
      // instead of spinning. Only reachable for descriptors we could not re-open.
      struct pollfd pfd = {fd_, POLLOUT, 0};
      while (poll(&pfd, 1, -1) < 0 && errno == EINTR) {
      }
      continue;
    }
    out.err = r < 0 ? errno : EIO;  // write(2) returning 0 for n > 0 is not supposed to happen
    out.syscall = "write";
    break;
  }
  return out;
}

WriteOutcome TapeDevice::writeRecord(const uint8_t* p, size_t n) {
  WriteOutcome out;
  ssize_t r;
  do {
    r = ::write(fd_, p, n);
  } while (r < 0 && errno == EINTR);
  if (r < 0) {
    out.err = errno;
    out.syscall = "write";
  } else {
    out.acknowledged = static_cast<size_t>(r);
    // A tape record is all or nothing; a short count only happens at the end of the medium
    // (st returns what fitted before early warning in fixed-block mode).
    if (out.acknowledged < n) {
      out.err = ENOSPC;
      out.syscall = "write";
    }
  }
  return out;
}

WriteOutcome TapeDevice::finish(bool wrote) {
  WriteOutcome first;
  if (wrote) {
    // Write the filemark ourselves so the end position can be read after it. st only writes
    // one on close when the last operation was a write, and an MTIOCTOP resets that state
    // (st.c: "Prevent automatic WEOF"), so there is exactly one filemark either way. It also
    // flushes the drive's buffer: a deferred write error surfaces here, not after close().
    struct mtop op = {MTWEOF, 1};
    if (ioctl(fd_, MTIOCTOP, &op) < 0) {
      first.err = errno;
      first.syscall = "ioctl(MTWEOF)";
    }
  }
  int err = 0;
  endPosition_ = tapePosition(fd_, &err);
  WriteOutcome c = closeFd();
  if (!first.err) first = c;
  return first;
}

// A pipe holds 64 KiB by default, so a 1 MiB record went in as sixteen partial writes, each
// waking the reader and putting the writer thread back to sleep (issue 11: the FIFO check). Grown
// to one record, up to 1 MiB (the default /proc/sys/fs/pipe-max-size: more needs privileges),
// a record is one copy and one wake-up on either side. Best effort: a pipe that cannot grow (the
// per-user pipe quota) works as before. The bytes and their order do not change.
static void growPipe(int fd, size_t blockSize) {
  const size_t want = blockSize < (size_t{1} << 20) ? blockSize : (size_t{1} << 20);
  int now = fcntl(fd, F_GETPIPE_SZ);
  if (now >= 0 && static_cast<size_t>(now) < want) (void)fcntl(fd, F_SETPIPE_SZ, static_cast<int>(want));
}

std::unique_ptr<Device> openDevice(int fd, bool isStdout, bool seekEnd, size_t blockSize, OpenError* error, bool direct) {
  struct stat sb;
  if (fstat(fd, &sb) < 0) {
    error->err = errno;
    if (!isStdout) ::close(fd);
    return nullptr;
  }
  if (isStdout) {
    int own = -1;
    if (S_ISFIFO(sb.st_mode)) {
      // A new open file description of the same pipe: blocking, whatever libuv did to fd 1.
      char path[64];
      std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
      own = ::open(path, O_WRONLY | O_CLOEXEC);
    }
    if (own < 0) own = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (own < 0) {
      error->err = errno;
      return nullptr;
    }
    fd = own;
  }
  if (S_ISCHR(sb.st_mode)) {
    TapeStatus ts;
    if (queryTape(fd, &ts)) {
      if (ts.blockSize > 0 && blockSize % static_cast<size_t>(ts.blockSize) != 0) {
        error->err = EINVAL;
        error->tapeBlockSize = ts.blockSize;
        ::close(fd);
        return nullptr;
      }
      return std::make_unique<TapeDevice>(fd, ts);
    }
  }
  if (seekEnd && S_ISREG(sb.st_mode) && lseek(fd, 0, SEEK_END) < 0) {
    error->err = errno;
    ::close(fd);
    return nullptr;
  }
  if (S_ISFIFO(sb.st_mode)) growPipe(fd, blockSize);
  const char* kind = isStdout ? "stdout" : S_ISREG(sb.st_mode) ? "file" : S_ISFIFO(sb.st_mode) ? "pipe" : "other";
  auto dev = std::make_unique<FileDevice>(fd, kind);
  if (direct && S_ISREG(sb.st_mode) && blockSize % kDirectAlign == 0) dev->enableDirect();
  return dev;
}

}  // namespace acedt
