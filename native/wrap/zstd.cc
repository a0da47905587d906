// Zstd: the JavaScript face of acedt::ZstdStream (native/core/zstd_stream.h), used by
// createZstdCompressor in src/sink/index.ts. Built only when libzstd-dev is present.
#include <memory>
#include <vector>

#include "../core/zstd_stream.h"
#include "common.h"

namespace acedt::wrap {

namespace {

class ZstdWrap : public TaggedWrap<ZstdWrap> {
 public:
  static constexpr napi_type_tag kTypeTag = {0xa4c1e87b30f6d259, 0x0e93f5d2b7186ac4};
  static constexpr const char* kName = "Zstd";

  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, kName, {InstanceMethod<&ZstdWrap::Compress>("compress")});
  }

  // new Zstd(level, threads): threads > 0 uses libzstd's worker threads.
  explicit ZstdWrap(const Napi::CallbackInfo& info) : TaggedWrap<ZstdWrap>(info) {
    checkArgCount(info, 2);
    int level = static_cast<int>(intArg(info[0], "level", INT32_MIN, INT32_MAX));
    int threads = static_cast<int>(intArg(info[1], "threads", 0, INT32_MAX));
    try {
      stream_ = std::make_unique<ZstdStream>(level, threads);
    } catch (const std::exception& e) {
      throw toError(info.Env(), Failure(kNative).set("reason", e.what()));
    }
  }

 private:
  // compress(chunk, mode) -> Promise<Buffer>, mode 0 = continue, 1 = flush (block boundary),
  // 2 = end the frame. The work runs on the libuv pool; calls must be awaited one at a time (the
  // caller's order is the stream's order).
  Napi::Value Compress(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    checkArgCount(info, 2);
    Napi::Uint8Array chunk = bytesArg(info[0], "chunk");
    auto mode = static_cast<ZstdStream::Mode>(intArg(info[1], "mode", 0, 2));
    if (busy_) throw toError(env, Failure(kCallOrder).set("op", "compress"));
    busy_ = true;
    ZstdStream* stream = stream_.get();
    const uint8_t* data = chunk.Data();
    size_t len = chunk.ByteLength();
    // `chunk` is kept alive (and must stay unmodified) while the pool thread reads it.
    return PromiseWorker<std::vector<uint8_t>>::start(
        env, "ace-dt zstd", {info.This().As<Napi::Object>(), chunk},
        [stream, data, len, mode] {
          std::vector<uint8_t> out;
          stream->compress(data, len, mode, &out);
          return out;
        },
        [](Napi::Env env, std::vector<uint8_t>& out) -> Napi::Value {
          return Napi::Buffer<uint8_t>::Copy(env, out.data(), out.size());
        },
        [this] { busy_ = false; });
  }

  std::unique_ptr<ZstdStream> stream_;
  bool busy_ = false;
};

}  // namespace

void initZstd(Napi::Env env, Napi::Object exports) { exports.Set("Zstd", ZstdWrap::Define(env)); }

}  // namespace acedt::wrap
