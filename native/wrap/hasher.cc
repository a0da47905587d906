// Hasher: the JavaScript face of acedt::Hasher (native/core/hasher.h), used by createHasher in
// src/sink/index.ts. Chunks are hashed in place on the hasher's thread; a reference to each keeps
// it alive until the thread is past it.
#include <deque>
#include <memory>

#include "../core/hasher.h"
#include "common.h"

namespace acedt::wrap {

namespace {

struct Done {};

class HasherWrap : public TaggedWrap<HasherWrap> {
 public:
  static constexpr napi_type_tag kTypeTag = {0x2d8a4f61c07e93b5, 0x51e6b2a90c4d7f18};
  static constexpr const char* kName = "Hasher";

  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, kName,
                       {InstanceMethod<&HasherWrap::Update>("update"), InstanceMethod<&HasherWrap::Digest>("digest")});
  }

  // new Hasher(algorithm: 'sha256' | 'sha512', maxPending: bytes queued before update() pushes back; 0: never)
  explicit HasherWrap(const Napi::CallbackInfo& info) : TaggedWrap<HasherWrap>(info) {
    Napi::Env env = info.Env();
    checkArgCount(info, 2);
    alg_ = stringArg(info[0], "algorithm");
    maxPending_ = static_cast<uint64_t>(intArg(info[1], "maxPending", 0, kMaxSafe));
    Hasher::Algorithm alg;
    if (alg_ == "sha256") {
      alg = Hasher::Algorithm::Sha256;
    } else if (alg_ == "sha512") {
      alg = Hasher::Algorithm::Sha512;
    } else {
      throwTypeError(env, "ERR_INVALID_ARG_VALUE", "algorithm: expected 'sha256' or 'sha512'");
    }
    try {
      hasher_ = std::make_unique<Hasher>(alg);
    } catch (const std::exception& e) {
      throw toError(env, Failure(kNative).set("reason", e.what()));
    }
  }

  ~HasherWrap() override {
    // Stop the thread (it finishes the chunk in hand) before the chunk references go away.
    hasher_.reset();
  }

 private:
  // update(chunk) -> undefined, or past maxPending queued bytes a promise that resolves once the
  // queue is down to half of that (backpressure).
  Napi::Value Update(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    checkArgCount(info, 1);
    Napi::Uint8Array arr = bytesArg(info[0], "chunk");
    if (finishing_) throw toError(env, Failure(kCallOrder).set("op", "update"));
    if (arr.ByteLength() == 0) return env.Undefined();
    refs_.push_back(Napi::Persistent(static_cast<Napi::Object>(arr)));
    release(hasher_->update(arr.Data(), arr.ByteLength()));
    if (!maxPending_ || hasher_->pendingBytes() <= maxPending_) return env.Undefined();
    Hasher* h = hasher_.get();
    uint64_t below = maxPending_ / 2;
    return PromiseWorker<Done>::start(
        env, "ace-dt hash backpressure", {info.This().As<Napi::Object>()},
        [h, below] {
          h->waitBelow(below);
          return Done{};
        },
        [this](Napi::Env env, Done&) -> Napi::Value {
          release(hasher_->completed());
          return env.Undefined();
        });
  }

  // digest() -> Promise<'<algorithm>:<hex>'>. Waits for the hasher thread on a pool thread: the
  // remaining work is at most what is queued, so the pool thread is held briefly.
  Napi::Value Digest(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (finishing_) throw toError(env, Failure(kCallOrder).set("op", "digest"));
    finishing_ = true;
    Hasher* h = hasher_.get();
    return PromiseWorker<std::string>::start(
        env, "ace-dt digest", {info.This().As<Napi::Object>()}, [h] { return h->finish(); },
        [this](Napi::Env env, std::string& hex) -> Napi::Value { return Napi::String::New(env, alg_ + ":" + hex); },
        [this] { refs_.clear(); });
  }

  // Drops the references of the chunks the thread is done with (`done` counts them).
  void release(uint64_t done) {
    while (released_ < done && !refs_.empty()) {
      refs_.pop_front();
      ++released_;
    }
  }

  std::unique_ptr<Hasher> hasher_;
  std::string alg_;
  std::deque<Napi::ObjectReference> refs_;
  uint64_t released_ = 0;
  uint64_t maxPending_ = 0;
  bool finishing_ = false;
};

}  // namespace

void initHasher(Napi::Env env, Napi::Object exports) { exports.Set("Hasher", HasherWrap::Define(env)); }

}  // namespace acedt::wrap
