// What every file of the wrap shares (native/wrap/*.cc, the only code that includes napi.h): the
// one way a failure reaches JavaScript, argument checks, type-tagged ObjectWraps and the promise
// worker that every asynchronous call goes through. The core (native/core) knows none of this.
#pragma once

#include <napi.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace acedt {
struct TapeStatus;
}

namespace acedt::wrap {

// ---- failures ----------------------------------------------------------------------------------

// Codes of the failures that are not an errno. src/sink/errors.ts words each of them (and every
// errno): the wrap reports facts, never sentences (as better-sqlite3 hands SQLite's code to a
// JavaScript error class).
inline constexpr const char* kBlockSize = "EBLOCKSIZE";  // fixed-block tape: blockSize, tapeBlockSize
inline constexpr const char* kRingSize = "ERINGSIZE";    // ring not allocated: size, errno ENOMEM or EOVERFLOW
inline constexpr const char* kNotTape = "ENOTTAPE";      // a tape call on a writer that has no tape
inline constexpr const char* kClosed = "ESINKCLOSED";    // a tape call after the writer finished
inline constexpr const char* kCallOrder = "ECALLORDER";  // op: a call the object's state does not allow
inline constexpr const char* kNative = "ENATIVE";        // the core threw: reason is its what()

// A failure as data. Thrown as a C++ exception inside the wrap (a PromiseWorker's work catches it
// on the pool thread); toError() turns it into the TypeScript error, on the JavaScript thread.
struct Failure {
  // One fact: a number, a boolean or a string, under `key`.
  struct Field {
    enum class Type { Number, Boolean, String } type;
    const char* key;
    double number = 0;
    std::string text;
  };
  std::string code;
  std::vector<Field> fields;

  explicit Failure(std::string c) : code(std::move(c)) {}
  // code = the errno's name, with errno and syscall set.
  static Failure ofErrno(int err, const char* syscall);
  Failure& set(const char* key, double v) { return add({Field::Type::Number, key, v, {}}); }
  Failure& set(const char* key, bool v) { return add({Field::Type::Boolean, key, v ? 1.0 : 0.0, {}}); }
  Failure& set(const char* key, std::string v) { return add({Field::Type::String, key, 0, std::move(v)}); }
  // (Without it a string literal would pick the bool overload.)
  Failure& set(const char* key, const char* v) { return set(key, std::string(v)); }

 private:
  Failure& add(Field f) {
    fields.push_back(std::move(f));
    return *this;
  }
};

// The error object of a failure: built by the factory that TypeScript handed to initialize()
// (src/sink/native.ts), so its class and message are TypeScript's.
Napi::Error toError(Napi::Env env, const Failure& f);
// Remembers that factory; called once by initialize().
void setErrorFactory(Napi::Env env, Napi::Function factory);

// ---- argument checks --------------------------------------------------------------------------
// A wrong type throws a TypeError (ERR_INVALID_ARG_TYPE), a number out of range a RangeError
// (ERR_OUT_OF_RANGE), each naming the argument and what was expected: these are bugs in src/sink,
// never a user's input (src/sink validates that once, in TypeScript). The core is never handed an
// unchecked value.

void checkArgCount(const Napi::CallbackInfo& info, size_t count);
Napi::Object objectArg(Napi::Value v, const char* name);
Napi::Function functionArg(Napi::Value v, const char* name);
Napi::Uint8Array bytesArg(Napi::Value v, const char* name);
std::string stringArg(Napi::Value v, const char* name);
bool boolArg(Napi::Value v, const char* name);
// An integral number in [min, max] (max at most 2^53: JavaScript numbers are exact to there).
int64_t intArg(Napi::Value v, const char* name, int64_t min, int64_t max);
inline constexpr int64_t kMaxSafe = (int64_t{1} << 53) - 1;

// ---- type-tagged wraps -------------------------------------------------------------------------

// An ObjectWrap whose objects carry T::kTypeTag. node-addon-api finds `this` of every method
// through T::Unwrap, so checking the tag there makes a method called on another object (a plain
// one, or another class's wrap, whose pointer would otherwise be cast to T) a TypeError
// (ERR_INVALID_THIS) instead of memory corruption. Napi::ObjectWrap<T>::Unwrap does no such check.
template <typename T>
class TaggedWrap : public Napi::ObjectWrap<T> {
 public:
  explicit TaggedWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<T>(info) {
    info.This().As<Napi::Object>().TypeTag(&T::kTypeTag);
  }

  static T* Unwrap(Napi::Object object) {
    if (!object.IsObject() || !object.CheckTypeTag(&T::kTypeTag)) throwInvalidThis(object.Env(), T::kName);
    return Napi::ObjectWrap<T>::Unwrap(object);
  }

 private:
  [[noreturn]] static void throwInvalidThis(Napi::Env env, const char* name);
};

[[noreturn]] void throwTypeError(Napi::Env env, const char* code, const std::string& message);

template <typename T>
void TaggedWrap<T>::throwInvalidThis(Napi::Env env, const char* name) {
  throwTypeError(env, "ERR_INVALID_THIS", std::string("expected `this` to be a ") + name);
}

// ---- the promise worker ------------------------------------------------------------------------

// Every asynchronous call of the addon (zstd, tape spacing) is one
// of these: `work` runs on a libuv pool thread and returns a Result or throws a Failure (a
// std::exception from the core becomes ENATIVE); then, on the JavaScript thread, `finally` runs
// (either way) and the promise is resolved with settle(result) or rejected with the failure's
// error. `keep` holds JavaScript objects (the wrap, an input chunk) alive until then.
template <typename Result>
class PromiseWorker final : public Napi::AsyncWorker {
 public:
  using Work = std::function<Result()>;
  using Settle = std::function<Napi::Value(Napi::Env, Result&)>;
  using Finally = std::function<void()>;

  static Napi::Promise start(Napi::Env env, const char* name, std::initializer_list<Napi::Object> keep, Work work,
                             Settle settle, Finally finally = nullptr) {
    auto* w = new PromiseWorker(env, name, keep, std::move(work), std::move(settle), std::move(finally));
    Napi::Promise promise = w->deferred_.Promise();
    w->Queue();
    return promise;
  }

 private:
  PromiseWorker(Napi::Env env, const char* name, std::initializer_list<Napi::Object> keep, Work work, Settle settle,
                Finally finally)
      : Napi::AsyncWorker(env, name),
        deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)),
        settle_(std::move(settle)),
        finally_(std::move(finally)) {
    for (const Napi::Object& o : keep) keep_.push_back(Napi::Persistent(o));
  }

  void Execute() override {
    try {
      result_.emplace(work_());
    } catch (const Failure& f) {
      failure_.emplace(f);
    } catch (const std::exception& e) {
      failure_.emplace(Failure(kNative).set("reason", e.what()));
    }
  }

  // The work never calls SetError, so this is the only completion.
  void OnOK() override {
    Napi::Env env = Env();
    if (finally_) finally_();
    if (failure_) {
      deferred_.Reject(toError(env, *failure_).Value());
    } else {
      deferred_.Resolve(settle_(env, *result_));
    }
  }

  Napi::Promise::Deferred deferred_;
  std::vector<Napi::ObjectReference> keep_;
  Work work_;
  Settle settle_;
  Finally finally_;
  std::optional<Result> result_;
  std::optional<Failure> failure_;
};

// ---- shared between wraps ----------------------------------------------------------------------

// MTIOCGET/MTIOCPOS facts as the object src/sink/native.ts types as RawTapeStatus (device.cc).
Napi::Object tapeStatusObject(Napi::Env env, const TapeStatus& s);

// Each file's exports, called once by the module's init (module.cc).
void initWriter(Napi::Env env, Napi::Object exports);
void initDevice(Napi::Env env, Napi::Object exports);
#ifdef ACE_DT_HAVE_ZSTD
void initZstd(Napi::Env env, Napi::Object exports);
#endif

}  // namespace acedt::wrap
