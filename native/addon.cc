// The thin node-addon-api wrap around the napi-free core (native/core). Everything that touches
// napi is in this file; threads reach JavaScript only through a ThreadSafeFunction (writer) or
// an AsyncWorker's completion (hasher digest), never by blocking the event loop.
#include <napi.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <memory>
#include <string>
#include <sys/file.h>
#include <unistd.h>

#include "core/device.h"
#include "core/hasher.h"
#include "core/tape_space.h"
#include "core/writer.h"
#ifdef ACE_DT_HAVE_ZSTD
#include "core/zstd_stream.h"
#endif

namespace {

using acedt::BlockWriter;

struct AddonData {
  Napi::FunctionReference writerError;  // the TypeScript WriterError class (src/sink/errors.ts)
};

AddonData* data(Napi::Env env) { return env.GetInstanceData<AddonData>(); }

// new WriterError(code, syscall, offset, message, endOfMedium): constructed here, defined in TS.
Napi::Value makeWriterError(Napi::Env env, const acedt::WriterFailure& f) {
  AddonData* d = data(env);
  std::string message = std::strerror(f.err);
  Napi::Value code = Napi::String::New(env, acedt::errnoName(f.err));
  Napi::Value syscall = Napi::String::New(env, f.syscall);
  Napi::Value offset = Napi::Number::New(env, static_cast<double>(f.offset));
  Napi::Value msg = Napi::String::New(env, message);
  Napi::Value eom = Napi::Boolean::New(env, f.endOfMedium);
  if (d && !d->writerError.IsEmpty()) return d->writerError.New({code, syscall, offset, msg, eom});
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", code);
  e.Set("syscall", syscall);
  e.Set("offset", offset);
  return e.Value();
}

Napi::Error errnoError(Napi::Env env, int err, const std::string& what) {
  Napi::Error e = Napi::Error::New(env, what + ": " + std::strerror(err));
  e.Set("code", Napi::String::New(env, acedt::errnoName(err)));
  e.Set("errno", Napi::Number::New(env, err));
  return e;
}

Napi::Object tapeStatusObject(Napi::Env env, const acedt::TapeStatus& s) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("block", Napi::Number::New(env, static_cast<double>(s.position)));
  if (s.positionErrno) o.Set("blockError", Napi::String::New(env, acedt::errnoName(s.positionErrno)));
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

// Forwards the writer thread's events to JavaScript as callback('space' | 'done').
class JsListener : public acedt::WriterListener {
 public:
  explicit JsListener(Napi::ThreadSafeFunction tsfn) : tsfn_(tsfn) {}
  void onSpace() override { post("space"); }
  void onDone() override {
    post("done");
    tsfn_.Release();
  }

 private:
  void post(const char* what) {
    tsfn_.NonBlockingCall([what](Napi::Env env, Napi::Function cb) {
      if (env && cb) cb.Call({Napi::String::New(env, what)});
    });
  }
  Napi::ThreadSafeFunction tsfn_;
};

class WriterWrap : public Napi::ObjectWrap<WriterWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Writer",
                       {InstanceMethod<&WriterWrap::Push>("push"),
                        InstanceMethod<&WriterWrap::Ring>("ring"),
                        InstanceMethod<&WriterWrap::Writable>("writable"),
                        InstanceMethod<&WriterWrap::Commit>("commit"),
                        InstanceMethod<&WriterWrap::RequestSpace>("requestSpace"),
                        InstanceMethod<&WriterWrap::End>("end"),
                        InstanceMethod<&WriterWrap::Stats>("stats"),
                        InstanceMethod<&WriterWrap::Error>("error"),
                        InstanceMethod<&WriterWrap::Info>("info"),
                        InstanceMethod<&WriterWrap::TapePosition>("tapePosition"),
                        InstanceMethod<&WriterWrap::PumpFrom>("pumpFrom"),
                        InstanceMethod<&WriterWrap::StopInput>("stopInput"),
                        InstanceMethod<&WriterWrap::InputError>("inputError"),
                        InstanceMethod<&WriterWrap::Ref>("ref"),
                        InstanceMethod<&WriterWrap::Unref>("unref")});
  }

  // new Writer(fd, isStdout, seekEnd, blockSize, bufferSize, hwmPercent, direct, callback)
  explicit WriterWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<WriterWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() != 8) throw Napi::TypeError::New(env, "Expected 8 arguments, got " + std::to_string(info.Length()));
    int fd = info[0].As<Napi::Number>().Int32Value();
    bool isStdout = info[1].ToBoolean();
    bool seekEnd = info[2].ToBoolean();
    acedt::WriterConfig cfg;
    cfg.blockSize = static_cast<size_t>(info[3].As<Napi::Number>().Int64Value());
    cfg.bufferSize = static_cast<size_t>(info[4].As<Napi::Number>().Int64Value());
    cfg.hwmPercent = info[5].As<Napi::Number>().Uint32Value();
    bool direct = info[6].ToBoolean();
    if (cfg.blockSize == 0 || cfg.hwmPercent < 1 || cfg.hwmPercent > 100) {
      if (!isStdout) ::close(fd);
      throw Napi::RangeError::New(env, "block size must be > 0 and hwm 1..100");
    }
    acedt::OpenError oe;
    std::unique_ptr<acedt::Device> dev = acedt::openDevice(fd, isStdout, seekEnd, cfg.blockSize, &oe, direct);
    if (!dev) {
      Napi::Error e = oe.message.empty() ? errnoError(env, oe.err, "open") : Napi::Error::New(env, oe.message);
      e.Set("code", Napi::String::New(env, oe.message.empty() ? acedt::errnoName(oe.err) : "EBLOCKSIZE"));
      throw e;
    }
    kind_ = dev->kind();
    if (auto* tape = dynamic_cast<acedt::TapeDevice*>(dev.get())) {
      isTape_ = true;
      openStatus_ = tape->openStatus();
    }
    try {
      core_ = std::make_shared<BlockWriter>(std::move(dev), cfg);
    } catch (const std::bad_alloc&) {
      Napi::Error e = Napi::Error::New(env, "cannot allocate a ring buffer of " + std::to_string(cfg.bufferSize) + " bytes");
      e.Set("code", Napi::String::New(env, "ERINGSIZE"));
      throw e;
    } catch (const std::length_error&) {
      Napi::Error e = Napi::Error::New(env, "a ring buffer of " + std::to_string(cfg.bufferSize) + " bytes is too large");
      e.Set("code", Napi::String::New(env, "ERINGSIZE"));
      throw e;
    }
    tsfn_ = Napi::ThreadSafeFunction::New(env, info[7].As<Napi::Function>(), "ace-dt writer", 0, 1);
    // Idle sinks do not keep the process alive; JS refs while it waits for a promise.
    tsfn_.Unref(env);
    core_->start(std::make_shared<JsListener>(tsfn_));
  }

  ~WriterWrap() override {
    if (core_ && !core_->finished()) core_->cancel();
  }

 private:
  // push(chunk: Uint8Array, offset: number) -> bytes copied from chunk[offset..], or -1.
  Napi::Value Push(const Napi::CallbackInfo& info) {
    auto arr = info[0].As<Napi::Uint8Array>();
    size_t off = info.Length() > 1 ? static_cast<size_t>(info[1].As<Napi::Number>().Int64Value()) : 0;
    size_t len = arr.ByteLength();
    if (off > len) off = len;
    int64_t n = core_->push(arr.Data() + off, len - off);
    return Napi::Number::New(info.Env(), static_cast<double>(n));
  }

  // ring() -> an ArrayBuffer over the ring's memory, for receiving straight into it. It holds a
  // reference to the writer core, so the memory outlives every view of it.
  Napi::Value Ring(const Napi::CallbackInfo& info) {
    auto* keep = new std::shared_ptr<BlockWriter>(core_);
    return Napi::ArrayBuffer::New(
        info.Env(), core_->ringData(), core_->ringCapacity(),
        [](Napi::Env, void*, std::shared_ptr<BlockWriter>* k) { delete k; }, keep);
  }

  // writable() -> contiguous free bytes at the head, or -1 (writer finished or failed, or ended).
  // The head's ring offset is the bytes accepted so far modulo the capacity; commit() checks it.
  Napi::Value Writable(const Napi::CallbackInfo& info) {
    size_t offset = 0;
    return Napi::Number::New(info.Env(), static_cast<double>(core_->writable(&offset)));
  }

  // commit(offset, n) -> n, -1 (writer finished or failed), -2 (not at the head: nothing done).
  Napi::Value Commit(const Napi::CallbackInfo& info) {
    size_t offset = static_cast<size_t>(info[0].As<Napi::Number>().Int64Value());
    size_t n = static_cast<size_t>(info[1].As<Napi::Number>().Int64Value());
    return Napi::Number::New(info.Env(), static_cast<double>(core_->commit(offset, n)));
  }

  Napi::Value RequestSpace(const Napi::CallbackInfo& info) {
    size_t need = static_cast<size_t>(info[0].As<Napi::Number>().Int64Value());
    return Napi::Boolean::New(info.Env(), core_->requestSpace(need));
  }

  Napi::Value End(const Napi::CallbackInfo& info) {
    core_->end();
    return info.Env().Undefined();
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    acedt::WriterStats s = core_->stats();
    Napi::Object o = Napi::Object::New(env);
    o.Set("accepted", Napi::Number::New(env, static_cast<double>(s.accepted)));
    o.Set("written", Napi::Number::New(env, static_cast<double>(s.written)));
    o.Set("records", Napi::Number::New(env, static_cast<double>(s.records)));
    o.Set("fill", Napi::Number::New(env, static_cast<double>(s.fill)));
    o.Set("capacity", Napi::Number::New(env, static_cast<double>(s.capacity)));
    o.Set("underruns", Napi::Number::New(env, static_cast<double>(s.underruns)));
    o.Set("hwmBytes", Napi::Number::New(env, static_cast<double>(s.hwmBytes)));
    o.Set("active", Napi::Boolean::New(env, s.active));
    o.Set("finished", Napi::Boolean::New(env, core_->finished()));
    return o;
  }

  // The sticky failure as a WriterError, or undefined.
  Napi::Value Error(const Napi::CallbackInfo& info) {
    if (!core_->failed()) return info.Env().Undefined();
    return makeWriterError(info.Env(), core_->failure());
  }

  // { kind, tape?: status at open, endPosition? (after finish) }
  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("kind", Napi::String::New(env, kind_));
    if (isTape_) {
      o.Set("tape", tapeStatusObject(env, openStatus_));
      if (core_->finished()) {
        auto& tape = static_cast<const acedt::TapeDevice&>(core_->device());
        o.Set("endPosition", Napi::Number::New(env, static_cast<double>(tape.endPosition())));
      }
    }
    return o;
  }

  Napi::Value TapePosition(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!isTape_) throw Napi::Error::New(env, "not a tape");
    if (core_->finished()) throw Napi::Error::New(env, "the tape is closed");
    acedt::TapeStatus s;
    // The st driver serialises this with the writer thread's write(2) (one at a time per drive).
    if (!acedt::queryTape(core_->device().fd(), &s)) throw errnoError(env, errno, "ioctl(MTIOCGET)");
    return tapeStatusObject(env, s);
  }

  // pumpFrom(fd, isStdin, readSize, direct): a native thread reads fd into the ring (util mbuffer), so
  // the bytes never pass through JavaScript. Completion arrives as the 'done' event.
  Napi::Value PumpFrom(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int fd = info[0].As<Napi::Number>().Int32Value();
    bool isStdin = info[1].ToBoolean();
    size_t readSize = static_cast<size_t>(info[2].As<Napi::Number>().Int64Value());
    bool direct = info.Length() > 3 && info[3].ToBoolean();
    if (isStdin) {
      fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
      if (fd < 0) throw errnoError(env, errno, "dup(stdin)");
    }
    std::string err;
    if (!core_->pumpFrom(fd, readSize ? readSize : 1 << 20, &err, direct)) throw Napi::Error::New(env, "cannot start the input thread: " + err);
    return env.Undefined();
  }

  Napi::Value StopInput(const Napi::CallbackInfo& info) {
    core_->stopInput();
    return info.Env().Undefined();
  }

  Napi::Value InputError(const Napi::CallbackInfo& info) {
    int e = core_->inputError();
    if (!e) return info.Env().Undefined();
    return Napi::String::New(info.Env(), acedt::errnoName(e));
  }

  Napi::Value Ref(const Napi::CallbackInfo& info) {
    if (!refd_) {
      tsfn_.Ref(info.Env());
      refd_ = true;
    }
    return info.Env().Undefined();
  }

  Napi::Value Unref(const Napi::CallbackInfo& info) {
    if (refd_) {
      tsfn_.Unref(info.Env());
      refd_ = false;
    }
    return info.Env().Undefined();
  }

  std::shared_ptr<BlockWriter> core_;
  Napi::ThreadSafeFunction tsfn_;
  const char* kind_ = "other";
  bool isTape_ = false;
  bool refd_ = false;
  acedt::TapeStatus openStatus_;
};

class HasherWrap : public Napi::ObjectWrap<HasherWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Hasher",
                       {InstanceMethod<&HasherWrap::Update>("update"), InstanceMethod<&HasherWrap::Digest>("digest")});
  }

  explicit HasherWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<HasherWrap>(info) {
    std::string alg = info[0].As<Napi::String>().Utf8Value();
    if (alg == "sha256") {
      hasher_ = std::make_unique<acedt::Hasher>(acedt::Hasher::Algorithm::Sha256);
    } else if (alg == "sha512") {
      hasher_ = std::make_unique<acedt::Hasher>(acedt::Hasher::Algorithm::Sha512);
    } else {
      throw Napi::TypeError::New(info.Env(), "unsupported digest algorithm " + alg);
    }
    alg_ = alg;
    if (info.Length() > 1 && info[1].IsNumber()) maxPending_ = static_cast<uint64_t>(info[1].As<Napi::Number>().Int64Value());
  }

  ~HasherWrap() override {
    // Stop the thread (it finishes the chunk in hand) before the chunk references go away.
    hasher_.reset();
  }

  acedt::Hasher* hasher() { return hasher_.get(); }
  const std::string& algorithm() const { return alg_; }
  void releaseAll() { refs_.clear(); }
  // Drops the references of the chunks the thread is done with.
  void releaseCompleted() {
    uint64_t done = hasher_->completed();
    while (released_ < done && !refs_.empty()) {
      refs_.pop_front();
      ++released_;
    }
  }
  uint64_t maxPending() const { return maxPending_; }

 private:
  // update(chunk): hashed in place on the hasher thread; a reference keeps the chunk alive
  // until the thread is past it.
  Napi::Value Update(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (finishing_) throw Napi::Error::New(env, "update() after digest()");
    auto arr = info[0].As<Napi::Uint8Array>();
    if (arr.ByteLength() == 0) return env.Undefined();
    refs_.push_back(Napi::Persistent(static_cast<Napi::Object>(arr)));
    uint64_t done = hasher_->update(arr.Data(), arr.ByteLength());
    while (released_ < done && !refs_.empty()) {
      refs_.pop_front();
      ++released_;
    }
    // Backpressure: past maxPending bytes queued, a promise that resolves at half of it.
    if (maxPending_ && hasher_->pendingBytes() > maxPending_) return waitBelow(env, info.This().As<Napi::Object>());
    return env.Undefined();
  }

  Napi::Value waitBelow(Napi::Env env, Napi::Object self);

  Napi::Value Digest(const Napi::CallbackInfo& info);

  std::unique_ptr<acedt::Hasher> hasher_;
  std::string alg_;
  std::deque<Napi::ObjectReference> refs_;
  uint64_t released_ = 0;
  uint64_t maxPending_ = 0;
  bool finishing_ = false;
};

class WaitWorker : public Napi::AsyncWorker {
 public:
  WaitWorker(Napi::Env env, HasherWrap* wrap, Napi::Object self)
      : Napi::AsyncWorker(env, "ace-dt hash backpressure"), deferred_(Napi::Promise::Deferred::New(env)), wrap_(wrap) {
    self_ = Napi::Persistent(self);
  }
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override { wrap_->hasher()->waitBelow(wrap_->maxPending() / 2); }
  void OnOK() override {
    wrap_->releaseCompleted();
    deferred_.Resolve(Env().Undefined());
  }

 private:
  Napi::Promise::Deferred deferred_;
  HasherWrap* wrap_;
  Napi::ObjectReference self_;
};

Napi::Value HasherWrap::waitBelow(Napi::Env env, Napi::Object self) {
  auto* w = new WaitWorker(env, this, self);
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

// Waits for the hasher thread on a libuv pool thread: the remaining work is at most what is
// queued, so the pool thread is held briefly.
class DigestWorker : public Napi::AsyncWorker {
 public:
  DigestWorker(Napi::Env env, HasherWrap* wrap, Napi::Object self)
      : Napi::AsyncWorker(env, "ace-dt digest"), deferred_(Napi::Promise::Deferred::New(env)), wrap_(wrap) {
    self_ = Napi::Persistent(self);
  }
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      hex_ = wrap_->hasher()->finish();
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }
  void OnOK() override {
    wrap_->releaseAll();
    deferred_.Resolve(Napi::String::New(Env(), wrap_->algorithm() + ":" + hex_));
  }
  void OnError(const Napi::Error& e) override {
    wrap_->releaseAll();
    deferred_.Reject(e.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  HasherWrap* wrap_;
  Napi::ObjectReference self_;  // keeps the wrap (and its chunk references) alive meanwhile
  std::string hex_;
};

Napi::Value HasherWrap::Digest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (finishing_) throw Napi::Error::New(env, "digest() called twice");
  finishing_ = true;
  auto* w = new DigestWorker(env, this, info.This().As<Napi::Object>());
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

#ifdef ACE_DT_HAVE_ZSTD
// Zstd(level, threads): compress(chunk, mode) -> Promise<Buffer> where mode 0 = continue,
// 1 = flush (block boundary), 2 = end the frame. The work runs on the libuv pool; calls must be
// awaited one at a time (the caller's order is the stream's order).
class ZstdWrap : public Napi::ObjectWrap<ZstdWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Zstd", {InstanceMethod<&ZstdWrap::Compress>("compress")});
  }
  explicit ZstdWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ZstdWrap>(info) {
    int level = info[0].As<Napi::Number>().Int32Value();
    int threads = info.Length() > 1 ? info[1].As<Napi::Number>().Int32Value() : 0;
    try {
      stream_ = std::make_unique<acedt::ZstdStream>(level, threads);
    } catch (const std::exception& e) {
      throw Napi::Error::New(info.Env(), e.what());
    }
  }
  acedt::ZstdStream* stream() { return stream_.get(); }
  bool busy = false;

 private:
  Napi::Value Compress(const Napi::CallbackInfo& info);
  std::unique_ptr<acedt::ZstdStream> stream_;
};

class ZstdWorker : public Napi::AsyncWorker {
 public:
  ZstdWorker(Napi::Env env, ZstdWrap* wrap, Napi::Object self, Napi::Uint8Array chunk, int mode)
      : Napi::AsyncWorker(env, "ace-dt zstd"), deferred_(Napi::Promise::Deferred::New(env)), wrap_(wrap), mode_(mode) {
    self_ = Napi::Persistent(self);
    chunk_ = Napi::Persistent(static_cast<Napi::Object>(chunk));
    data_ = chunk.Data();
    len_ = chunk.ByteLength();
  }
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      wrap_->stream()->compress(data_, len_, static_cast<acedt::ZstdStream::Mode>(mode_), &out_);
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }
  void OnOK() override {
    wrap_->busy = false;
    deferred_.Resolve(Napi::Buffer<uint8_t>::Copy(Env(), out_.data(), out_.size()));
  }
  void OnError(const Napi::Error& e) override {
    wrap_->busy = false;
    deferred_.Reject(e.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  ZstdWrap* wrap_;
  Napi::ObjectReference self_;
  Napi::ObjectReference chunk_;  // keeps the input alive while the pool thread reads it
  const uint8_t* data_;
  size_t len_;
  int mode_;
  std::vector<uint8_t> out_;
};

Napi::Value ZstdWrap::Compress(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (busy) throw Napi::Error::New(env, "zstd: compress() called before the previous call finished");
  busy = true;
  auto* w = new ZstdWorker(env, this, info.This().As<Napi::Object>(), info[0].As<Napi::Uint8Array>(), info[1].As<Napi::Number>().Int32Value());
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}
#endif

// tapeStatus(path) -> status object; throws with code (ENOTTY: not a tape, EBUSY, ENOENT...).
Napi::Value TapeStatusFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>().Utf8Value();
  // O_NONBLOCK: open succeeds without a medium loaded, as mt(1) does.
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw errnoError(env, errno, path);
  acedt::TapeStatus s;
  bool ok = acedt::queryTape(fd, &s);
  int err = errno;
  ::close(fd);
  if (!ok) throw errnoError(env, err, path + ": ioctl(MTIOCGET)");
  return tapeStatusObject(env, s);
}

// lockExclusive(fd) -> "" when this open file now holds flock(LOCK_EX), else the errno name
// (EWOULDBLOCK: another open file holds it). flock, not fcntl: a lock belongs to the open file, so
// other descriptors of the same file opened and closed by this process (the writer's, a resume's
// reads) never release it, and the kernel drops it when the holder dies, even by kill -9.
Napi::Value LockExclusive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "lockExclusive(fd)");
  int fd = info[0].As<Napi::Number>().Int32Value();
  int rc;
  do rc = ::flock(fd, LOCK_EX | LOCK_NB);
  while (rc != 0 && errno == EINTR);
  return Napi::String::New(env, rc == 0 ? "" : acedt::errnoName(errno));
}

// spaceRecords(fd, count) -> Promise<{ spaced, filemark, code?, before, after }>: MTFSR on a pool
// thread, since a drive can take seconds to space (the event loop never blocks).
class SpaceWorker : public Napi::AsyncWorker {
 public:
  SpaceWorker(Napi::Env env, int fd, long count)
      : Napi::AsyncWorker(env, "ace-dt tape space"), deferred_(Napi::Promise::Deferred::New(env)), fd_(fd), count_(count) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override { out_ = acedt::spaceRecords(fd_, count_); }
  void OnOK() override {
    Napi::Env env = Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("spaced", Napi::Number::New(env, static_cast<double>(out_.spaced)));
    o.Set("filemark", Napi::Boolean::New(env, out_.filemark));
    if (out_.err) o.Set("code", Napi::String::New(env, acedt::errnoName(out_.err)));
    o.Set("before", Napi::Number::New(env, static_cast<double>(out_.before)));
    o.Set("after", Napi::Number::New(env, static_cast<double>(out_.after)));
    deferred_.Resolve(o);
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  int fd_;
  long count_;
  acedt::SpaceOutcome out_;
};

Napi::Value SpaceRecordsFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  int64_t count = info[1].As<Napi::Number>().Int64Value();
  if (fd < 0 || count < 0) throw Napi::RangeError::New(env, "spaceRecords(fd, count): fd and count must be >= 0");
  auto* w = new SpaceWorker(env, fd, static_cast<long>(count));
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

Napi::Value Initialize(const Napi::CallbackInfo& info) {
  data(info.Env())->writerError = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

Napi::Value Geometry(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  acedt::WriterConfig c;
  c.blockSize = static_cast<size_t>(info[0].As<Napi::Number>().Int64Value());
  c.bufferSize = static_cast<size_t>(info[1].As<Napi::Number>().Int64Value());
  c.hwmPercent = info[2].As<Napi::Number>().Uint32Value();
  if (c.blockSize == 0) throw Napi::RangeError::New(env, "block size must be > 0");
  acedt::Geometry g = acedt::computeGeometry(c);
  Napi::Object o = Napi::Object::New(env);
  o.Set("blocks", Napi::Number::New(env, static_cast<double>(g.blocks)));
  o.Set("hwmBlocks", Napi::Number::New(env, static_cast<double>(g.hwmBlocks)));
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new AddonData());
  exports.Set("initialize", Napi::Function::New(env, Initialize));
  exports.Set("Writer", WriterWrap::Define(env));
  exports.Set("Hasher", HasherWrap::Define(env));
  exports.Set("tapeStatus", Napi::Function::New(env, TapeStatusFn));
  exports.Set("spaceRecords", Napi::Function::New(env, SpaceRecordsFn));
  exports.Set("geometry", Napi::Function::New(env, Geometry));
  exports.Set("lockExclusive", Napi::Function::New(env, LockExclusive));
#ifdef ACE_DT_HAVE_ZSTD
  exports.Set("Zstd", ZstdWrap::Define(env));
#endif
  return exports;
}

}  // namespace

NODE_API_MODULE(ace_dt_native, Init)
