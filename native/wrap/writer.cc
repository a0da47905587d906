// Writer: the JavaScript face of acedt::BlockWriter (native/core/writer.h), used only by
// src/sink/native-sink.ts. The writer thread reaches JavaScript only through a ThreadSafeFunction
// ('space' and 'done' events), never by blocking the event loop.
#include <cerrno>
#include <climits>
#include <fcntl.h>
#include <memory>
#include <new>
#include <stdexcept>
#include <unistd.h>

#include "../core/device.h"
#include "../core/writer.h"
#include "common.h"

namespace acedt::wrap {

namespace {

// The writer's counters as the object src/sink/types.ts calls SinkStats: the one conversion, for
// every call that reports them (keys in SinkStats' order, which JSON output keeps).
Napi::Object statsObject(Napi::Env env, const WriterStats& s) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("accepted", Napi::Number::New(env, static_cast<double>(s.accepted)));
  o.Set("written", Napi::Number::New(env, static_cast<double>(s.written)));
  o.Set("records", Napi::Number::New(env, static_cast<double>(s.records)));
  o.Set("fill", Napi::Number::New(env, static_cast<double>(s.fill)));
  o.Set("capacity", Napi::Number::New(env, static_cast<double>(s.capacity)));
  o.Set("underruns", Napi::Number::New(env, static_cast<double>(s.underruns)));
  return o;
}

// The writer thread's sticky failure: a WriterError in TypeScript (src/sink/errors.ts).
Failure writerFailure(const WriterFailure& f) {
  Failure out = Failure::ofErrno(f.err, f.syscall.c_str());
  out.set("kind", "writer");
  out.set("offset", static_cast<double>(f.offset));
  out.set("endOfMedium", f.endOfMedium);
  return out;
}

// Forwards the writer thread's events to JavaScript as onEvent('space' | 'done').
class JsListener : public WriterListener {
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

// A byte count or offset from JavaScript.
size_t sizeArg(Napi::Value v, const char* name) { return static_cast<size_t>(intArg(v, name, 0, kMaxSafe)); }

class WriterWrap : public TaggedWrap<WriterWrap> {
 public:
  static constexpr napi_type_tag kTypeTag = {0x6b1f0c3e5a9d4e21, 0x9c2e7d4b1a0f3865};
  static constexpr const char* kName = "Writer";

  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, kName,
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

  // new Writer({ fd, stdout, seekEnd, blockSize, bufferSize, hwm, direct }, onEvent). The values
  // were validated by openSink (src/sink/index.ts); here only their types are checked, and
  // blockSize >= 1 because the core divides by it. The writer owns fd from here on: it is closed
  // when anything fails (standard output's fd 1 is only ever duplicated).
  explicit WriterWrap(const Napi::CallbackInfo& info) : TaggedWrap<WriterWrap>(info) {
    Napi::Env env = info.Env();
    checkArgCount(info, 2);
    Napi::Object o = objectArg(info[0], "options");
    int fd = static_cast<int>(intArg(o.Get("fd"), "options.fd", 0, INT_MAX));
    bool isStdout = boolArg(o.Get("stdout"), "options.stdout");
    WriterConfig cfg;
    bool seekEnd = false, direct = false;
    Napi::Function onEvent;
    try {
      seekEnd = boolArg(o.Get("seekEnd"), "options.seekEnd");
      direct = boolArg(o.Get("direct"), "options.direct");
      cfg.blockSize = static_cast<size_t>(intArg(o.Get("blockSize"), "options.blockSize", 1, kMaxSafe));
      cfg.bufferSize = static_cast<size_t>(intArg(o.Get("bufferSize"), "options.bufferSize", 0, kMaxSafe));
      // Any percentage is safe for the core (it clamps the mark to 1..all blocks).
      cfg.hwmPercent = static_cast<unsigned>(intArg(o.Get("hwm"), "options.hwm", 0, UINT_MAX));
      onEvent = functionArg(info[1], "onEvent");
    } catch (...) {
      if (!isStdout) ::close(fd);
      throw;
    }
    OpenError oe;
    std::unique_ptr<Device> dev = openDevice(fd, isStdout, seekEnd, cfg.blockSize, &oe, direct);
    if (!dev && oe.tapeBlockSize > 0) {
      throw toError(env, Failure(kBlockSize)
                             .set("blockSize", static_cast<double>(cfg.blockSize))
                             .set("tapeBlockSize", static_cast<double>(oe.tapeBlockSize)));
    }
    if (!dev) throw toError(env, Failure::ofErrno(oe.err, "open"));
    kind_ = dev->kind();
    if (auto* tape = dynamic_cast<TapeDevice*>(dev.get())) {
      isTape_ = true;
      openStatus_ = tape->openStatus();
    }
    try {
      core_ = std::make_shared<BlockWriter>(std::move(dev), cfg);
    } catch (const std::bad_alloc&) {
      throw toError(env, Failure(kRingSize).set("size", static_cast<double>(cfg.bufferSize)).set("errno", double{ENOMEM}));
    } catch (const std::length_error&) {
      throw toError(env, Failure(kRingSize).set("size", static_cast<double>(cfg.bufferSize)).set("errno", double{EOVERFLOW}));
    }
    tsfn_ = Napi::ThreadSafeFunction::New(env, onEvent, "ace-dt writer", 0, 1);
    // Idle sinks do not keep the process alive; JS refs while it waits for a promise.
    tsfn_.Unref(env);
    core_->start(std::make_shared<JsListener>(tsfn_));
  }

  ~WriterWrap() override {
    if (core_ && !core_->finished()) core_->cancel();
  }

 private:
  // push(chunk, offset) -> bytes copied from chunk[offset..], or -1.
  Napi::Value Push(const Napi::CallbackInfo& info) {
    checkArgCount(info, 2);
    Napi::Uint8Array arr = bytesArg(info[0], "chunk");
    size_t off = sizeArg(info[1], "offset");
    size_t len = arr.ByteLength();
    if (off > len) off = len;
    return Napi::Number::New(info.Env(), static_cast<double>(core_->push(arr.Data() + off, len - off)));
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
    checkArgCount(info, 2);
    size_t offset = sizeArg(info[0], "offset");
    size_t n = sizeArg(info[1], "n");
    return Napi::Number::New(info.Env(), static_cast<double>(core_->commit(offset, n)));
  }

  Napi::Value RequestSpace(const Napi::CallbackInfo& info) {
    checkArgCount(info, 1);
    return Napi::Boolean::New(info.Env(), core_->requestSpace(sizeArg(info[0], "need")));
  }

  Napi::Value End(const Napi::CallbackInfo& info) {
    core_->end();
    return info.Env().Undefined();
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) { return statsObject(info.Env(), core_->stats()); }

  // The sticky failure as a WriterError, or undefined.
  Napi::Value Error(const Napi::CallbackInfo& info) {
    if (!core_->failed()) return info.Env().Undefined();
    return toError(info.Env(), writerFailure(core_->failure())).Value();
  }

  // { kind, tape?: status at open, endPosition? (after finish) }
  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("kind", Napi::String::New(env, kind_));
    if (isTape_) {
      o.Set("tape", tapeStatusObject(env, openStatus_));
      if (core_->finished()) {
        auto& tape = static_cast<const TapeDevice&>(core_->device());
        o.Set("endPosition", Napi::Number::New(env, static_cast<double>(tape.endPosition())));
      }
    }
    return o;
  }

  Napi::Value TapePosition(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!isTape_) throw toError(env, Failure(kNotTape));
    if (core_->finished()) throw toError(env, Failure(kClosed));
    TapeStatus s;
    // The st driver serialises this with the writer thread's write(2) (one at a time per drive).
    if (!queryTape(core_->device().fd(), &s)) throw toError(env, Failure::ofErrno(errno, "ioctl(MTIOCGET)"));
    return tapeStatusObject(env, s);
  }

  // pumpFrom({ fd, stdin, readSize, direct }): a native thread reads fd into the ring (util
  // mbuffer), so the bytes never pass through JavaScript. Completion arrives as the 'done' event.
  Napi::Value PumpFrom(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    checkArgCount(info, 1);
    Napi::Object o = objectArg(info[0], "options");
    int fd = static_cast<int>(intArg(o.Get("fd"), "options.fd", 0, INT_MAX));
    bool isStdin = boolArg(o.Get("stdin"), "options.stdin");
    size_t readSize = sizeArg(o.Get("readSize"), "options.readSize");
    bool direct = boolArg(o.Get("direct"), "options.direct");
    if (isStdin) {
      fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
      if (fd < 0) throw toError(env, Failure::ofErrno(errno, "dup(stdin)"));
    }
    int err = 0;
    if (!core_->pumpFrom(fd, readSize ? readSize : 1 << 20, &err, direct)) {
      throw toError(env, Failure::ofErrno(err, "eventfd").set("op", "pumpFrom"));
    }
    return env.Undefined();
  }

  Napi::Value StopInput(const Napi::CallbackInfo& info) {
    core_->stopInput();
    return info.Env().Undefined();
  }

  Napi::Value InputError(const Napi::CallbackInfo& info) {
    int e = core_->inputError();
    if (!e) return info.Env().Undefined();
    return Napi::String::New(info.Env(), errnoName(e));
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
  TapeStatus openStatus_;
};

}  // namespace

void initWriter(Napi::Env env, Napi::Object exports) { exports.Set("Writer", WriterWrap::Define(env)); }

}  // namespace acedt::wrap
