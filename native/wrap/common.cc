#include "common.h"

#include <cmath>

#include "../core/device.h"

namespace acedt::wrap {

namespace {

// Per-environment state (one per worker thread that loads the addon).
struct AddonData {
  Napi::FunctionReference errorFactory;
};

AddonData* addonData(Napi::Env env) {
  AddonData* d = env.GetInstanceData<AddonData>();
  if (!d) {
    d = new AddonData();
    env.SetInstanceData(d);
  }
  return d;
}

Napi::Value fieldValue(Napi::Env env, const Failure::Field& f) {
  switch (f.type) {
    case Failure::Field::Type::Number:
      return Napi::Number::New(env, f.number);
    case Failure::Field::Type::Boolean:
      return Napi::Boolean::New(env, f.number != 0);
    case Failure::Field::Type::String:
      break;
  }
  return Napi::String::New(env, f.text);
}

[[noreturn]] void throwRangeError(Napi::Env env, const std::string& message) {
  Napi::RangeError e = Napi::RangeError::New(env, message);
  e.Set("code", Napi::String::New(env, "ERR_OUT_OF_RANGE"));
  throw e;
}

[[noreturn]] void throwArgType(Napi::Env env, const char* name, const char* expected) {
  throwTypeError(env, "ERR_INVALID_ARG_TYPE", std::string(name) + ": expected " + expected);
}

}  // namespace

Failure Failure::ofErrno(int err, const char* syscall) {
  Failure f(errnoName(err));
  f.set("errno", static_cast<double>(err));
  f.set("syscall", std::string(syscall));
  return f;
}

void setErrorFactory(Napi::Env env, Napi::Function factory) { addonData(env)->errorFactory = Napi::Persistent(factory); }

Napi::Error toError(Napi::Env env, const Failure& f) {
  Napi::Object facts = Napi::Object::New(env);
  facts.Set("code", Napi::String::New(env, f.code));
  for (const Failure::Field& field : f.fields) facts.Set(field.key, fieldValue(env, field));
  AddonData* d = addonData(env);
  if (!d->errorFactory.IsEmpty()) return Napi::Error(env, d->errorFactory.Call({facts}));
  // Not initialised (only a caller that skips src/sink/native.ts): the facts on a bare Error.
  Napi::Error e = Napi::Error::New(env, f.code);
  for (const Failure::Field& field : f.fields) e.Set(field.key, fieldValue(env, field));
  e.Set("code", Napi::String::New(env, f.code));
  return e;
}

void throwTypeError(Napi::Env env, const char* code, const std::string& message) {
  Napi::TypeError e = Napi::TypeError::New(env, message);
  e.Set("code", Napi::String::New(env, code));
  throw e;
}

void checkArgCount(const Napi::CallbackInfo& info, size_t count) {
  if (info.Length() != count) {
    throwTypeError(info.Env(), "ERR_MISSING_ARGS",
                   "expected " + std::to_string(count) + " arguments, got " + std::to_string(info.Length()));
  }
}

Napi::Object objectArg(Napi::Value v, const char* name) {
  if (!v.IsObject()) throwArgType(v.Env(), name, "an object");
  return v.As<Napi::Object>();
}

Napi::Function functionArg(Napi::Value v, const char* name) {
  if (!v.IsFunction()) throwArgType(v.Env(), name, "a function");
  return v.As<Napi::Function>();
}

Napi::Uint8Array bytesArg(Napi::Value v, const char* name) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throwArgType(v.Env(), name, "a Uint8Array");
  }
  return v.As<Napi::Uint8Array>();
}

std::string stringArg(Napi::Value v, const char* name) {
  if (!v.IsString()) throwArgType(v.Env(), name, "a string");
  return v.As<Napi::String>().Utf8Value();
}

bool boolArg(Napi::Value v, const char* name) {
  if (!v.IsBoolean()) throwArgType(v.Env(), name, "a boolean");
  return v.As<Napi::Boolean>().Value();
}

int64_t intArg(Napi::Value v, const char* name, int64_t min, int64_t max) {
  if (!v.IsNumber()) throwArgType(v.Env(), name, "a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(std::trunc(d) == d && d >= static_cast<double>(min) && d <= static_cast<double>(max))) {
    throwRangeError(v.Env(), std::string(name) + ": expected an integer from " + std::to_string(min) + " to " +
                                 std::to_string(max));
  }
  return static_cast<int64_t>(d);
}

}  // namespace acedt::wrap
