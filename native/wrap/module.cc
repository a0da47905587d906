// The addon's module init: what src/sink/native.ts loads as ace_dt_native.node. Each class and
// group of functions registers its own exports (writer.cc, zstd.cc, device.cc);
// initialize() receives the TypeScript factory that turns every failure into an error object.
#include "common.h"

namespace acedt::wrap {

namespace {

// initialize(makeError): makeError(facts) -> Error, called on the JavaScript thread only.
Napi::Value Initialize(const Napi::CallbackInfo& info) {
  checkArgCount(info, 1);
  setErrorFactory(info.Env(), functionArg(info[0], "makeError"));
  return info.Env().Undefined();
}

void init(Napi::Env env, Napi::Object exports) {
  exports.Set("initialize", Napi::Function::New(env, Initialize, "initialize"));
  initWriter(env, exports);
  initDevice(env, exports);
#ifdef ACE_DT_HAVE_ZSTD
  initZstd(env, exports);
#endif
}

}  // namespace

}  // namespace acedt::wrap

// NODE_API_MODULE pastes the function's name into an identifier: it must be a plain one.
static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) {
  acedt::wrap::init(env, exports);
  return exports;
}

NODE_API_MODULE(ace_dt_native, InitAddon)
