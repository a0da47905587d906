// The addon's plain functions about devices and descriptors: tapeStatus, spaceRecords,
// lockExclusive, and errnoText (the C library's words for an errno, which src/sink/errors.ts puts
// in the messages it builds: Node 20 has no strerror of its own, and libuv's differ).
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "../core/device.h"
#include "../core/tape_space.h"
#include "common.h"

namespace acedt::wrap {

Napi::Object tapeStatusObject(Napi::Env env, const TapeStatus& s) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("block", Napi::Number::New(env, static_cast<double>(s.position)));
  if (s.positionErrno) o.Set("blockError", Napi::String::New(env, errnoName(s.positionErrno)));
  o.Set("fileNumber", Napi::Number::New(env, static_cast<double>(s.fileNumber)));
  o.Set("blockInFile", Napi::Number::New(env, static_cast<double>(s.blockInFile)));
  o.Set("blockSize", Napi::Number::New(env, static_cast<double>(s.blockSize)));
  o.Set("density", Napi::Number::New(env, static_cast<double>(s.density)));
  o.Set("driveType", Napi::Number::New(env, static_cast<double>(s.driveType)));
  o.Set("statusBits", Napi::Number::New(env, static_cast<double>(s.gstat)));
  o.Set("bot", Napi::Boolean::New(env, s.bot));
  o.Set("eof", Napi::Boolean::New(env, s.eof));
  o.Set("eod", Napi::Boolean::New(env, s.eod));
  o.Set("writeProtected", Napi::Boolean::New(env, s.writeProtected));
  o.Set("online", Napi::Boolean::New(env, s.online));
  o.Set("doorOpen", Napi::Boolean::New(env, s.doorOpen));
  o.Set("rewindOnClose", Napi::Boolean::New(env, s.rewindOnClose));
  return o;
}

namespace {

// tapeStatus(path) -> status object; fails with the errno (ENOTTY: not a tape, EBUSY, ENOENT...),
// the syscall and the path.
Napi::Value TapeStatusFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  checkArgCount(info, 1);
  std::string path = stringArg(info[0], "path");
  // O_NONBLOCK: open succeeds without a medium loaded, as mt(1) does.
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw toError(env, Failure::ofErrno(errno, "open").set("path", path));
  TapeStatus s;
  bool ok = queryTape(fd, &s);
  int err = errno;
  ::close(fd);
  if (!ok) throw toError(env, Failure::ofErrno(err, "ioctl(MTIOCGET)").set("path", path));
  return tapeStatusObject(env, s);
}

// lockExclusive(fd) -> "" when this open file now holds flock(LOCK_EX), else the errno name
// (EWOULDBLOCK: another open file holds it). flock, not fcntl: a lock belongs to the open file, so
// other descriptors of the same file opened and closed by this process (the writer's, a resume's
// reads) never release it, and the kernel drops it when the holder dies, even by kill -9.
Napi::Value LockExclusive(const Napi::CallbackInfo& info) {
  checkArgCount(info, 1);
  int fd = static_cast<int>(intArg(info[0], "fd", 0, INT32_MAX));
  int rc;
  do rc = ::flock(fd, LOCK_EX | LOCK_NB);
  while (rc != 0 && errno == EINTR);
  return Napi::String::New(info.Env(), rc == 0 ? "" : errnoName(errno));
}

// spaceRecords(fd, count) -> Promise<{ spaced, filemark, code?, before, after }>: MTFSR on a pool
// thread, since a drive can take seconds to space (the event loop never blocks).
Napi::Value SpaceRecords(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  checkArgCount(info, 2);
  int fd = static_cast<int>(intArg(info[0], "fd", 0, INT32_MAX));
  long count = static_cast<long>(intArg(info[1], "count", 0, kMaxSafe));
  return PromiseWorker<SpaceOutcome>::start(
      env, "ace-dt tape space", {}, [fd, count] { return spaceRecords(fd, count); },
      [](Napi::Env env, SpaceOutcome& out) -> Napi::Value {
        Napi::Object o = Napi::Object::New(env);
        o.Set("spaced", Napi::Number::New(env, static_cast<double>(out.spaced)));
        o.Set("filemark", Napi::Boolean::New(env, out.filemark));
        if (out.err) o.Set("code", Napi::String::New(env, errnoName(out.err)));
        o.Set("before", Napi::Number::New(env, static_cast<double>(out.before)));
        o.Set("after", Napi::Number::New(env, static_cast<double>(out.after)));
        return o;
      });
}

// errnoText(errno) -> strerror(3)'s description.
Napi::Value ErrnoText(const Napi::CallbackInfo& info) {
  checkArgCount(info, 1);
  int err = static_cast<int>(intArg(info[0], "errno", 0, INT32_MAX));
  return Napi::String::New(info.Env(), std::strerror(err));
}

}  // namespace

void initDevice(Napi::Env env, Napi::Object exports) {
  exports.Set("tapeStatus", Napi::Function::New(env, TapeStatusFn, "tapeStatus"));
  exports.Set("spaceRecords", Napi::Function::New(env, SpaceRecords, "spaceRecords"));
  exports.Set("lockExclusive", Napi::Function::New(env, LockExclusive, "lockExclusive"));
  exports.Set("errnoText", Napi::Function::New(env, ErrnoText, "errnoText"));
}

}  // namespace acedt::wrap
