// Destinations the writer thread writes to. No napi here: the core builds and is tested alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace acedt {

// What MTIOCGET and MTIOCPOS say about a tape drive (st(4)).
struct TapeStatus {
  long fileNumber = -1;   // mt_fileno
  long blockInFile = -1;  // mt_blkno: block within the current file, -1 when unknown
  long blockSize = 0;     // from mt_dsreg; 0 = variable block mode
  long density = 0;
  long driveType = 0;     // mt_type
  long position = -1;     // MTIOCPOS mt_blkno (logical object number), -1 if it failed
  int positionErrno = 0;
  unsigned long gstat = 0;
  bool bot = false, eof = false, eod = false, writeProtected = false, online = false, doorOpen = false;
  bool rewindOnClose = false;  // opened through the rewinding node (/dev/stN)
};

// Fills `out` if fd is a tape drive (MTIOCGET succeeds). Returns false (errno set) otherwise.
bool queryTape(int fd, TapeStatus* out);
// MTIOCPOS only. Returns -1 and sets *err on failure.
long tapePosition(int fd, int* err);

// Result of one record write: bytes acknowledged by write(2), and errno/syscall on failure.
struct WriteOutcome {
  size_t acknowledged = 0;
  int err = 0;
  const char* syscall = nullptr;
};

class Device {
 public:
  explicit Device(int fd) : fd_(fd) {}
  virtual ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  // "file", "tape", "pipe", "stdout" or "other" (SinkResult.kind).
  virtual const char* kind() const = 0;
  // Writes one record of n bytes (one write(2) when the device allows it).
  virtual WriteOutcome writeRecord(const uint8_t* p, size_t n) = 0;
  // The last record is padded with zeros to a multiple of this (fixed-block tapes), else 1.
  virtual size_t padTo() const { return 1; }
  // After the last record or the first error: filemark (tape), then close(2). Runs once.
  // `wrote` tells whether any record reached the device. Returns the first failure, if any.
  virtual WriteOutcome finish(bool wrote);
  virtual bool isTape() const { return false; }
  int fd() const { return fd_; }

 protected:
  WriteOutcome closeFd();
  int fd_;
};

class FileDevice : public Device {
 public:
  FileDevice(int fd, const char* kind) : Device(fd), kind_(kind) {}
  const char* kind() const override { return kind_; }
  WriteOutcome writeRecord(const uint8_t* p, size_t n) override;
  // Regular files only: write with O_DIRECT (no page-cache copy; what mbuffer does by default).
  // Records that are not aligned (the short last one) switch it off again.
  void enableDirect();

 private:
  void disableDirect();
  const char* kind_;
  bool direct_ = false;
};

// O_DIRECT transfers must be aligned to the device's logical block; 4096 covers every common one.
constexpr size_t kDirectAlign = 4096;
// Sets (or clears) O_DIRECT on fd; false if the file system refuses.
bool setDirect(int fd, bool on);

class TapeDevice : public Device {
 public:
  TapeDevice(int fd, const TapeStatus& st) : Device(fd), status_(st) {}
  const char* kind() const override { return "tape"; }
  WriteOutcome writeRecord(const uint8_t* p, size_t n) override;
  size_t padTo() const override { return status_.blockSize > 0 ? static_cast<size_t>(status_.blockSize) : 1; }
  WriteOutcome finish(bool wrote) override;
  bool isTape() const override { return true; }
  const TapeStatus& openStatus() const { return status_; }
  long startPosition() const { return status_.position; }
  long endPosition() const { return endPosition_; }

 private:
  TapeStatus status_;
  long endPosition_ = -1;
};

struct OpenError {
  int err = 0;
  // Set (with err = EINVAL) when fd is a tape drive in fixed-block mode whose block size does not
  // divide the requested one: the facts the caller words its message from.
  long tapeBlockSize = 0;
};

// Takes ownership of fd (closes it on failure too). isStdout: fd is the process's fd 1, which is
// re-opened or duplicated so the writer owns a descriptor of its own. seekEnd: position a regular
// file at its end (resume after truncation). blockSize is checked against a fixed-block tape.
std::unique_ptr<Device> openDevice(int fd, bool isStdout, bool seekEnd, size_t blockSize, OpenError* error, bool direct = false);

// errno -> "ENOSPC" etc.
const char* errnoName(int err);

}  // namespace acedt
