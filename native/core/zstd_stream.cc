#include "zstd_stream.h"

#include <zstd.h>

#include <stdexcept>

namespace acedt {

namespace {
void check(size_t r, const char* what) {
  if (ZSTD_isError(r)) throw std::runtime_error(std::string(what) + ": " + ZSTD_getErrorName(r));
}
}  // namespace

ZstdStream::ZstdStream(int level, int threads) : cctx_(ZSTD_createCCtx()) {
  if (!cctx_) throw std::runtime_error("ZSTD_createCCtx failed");
  check(ZSTD_CCtx_setParameter(cctx_, ZSTD_c_compressionLevel, level), "compression level");
  check(ZSTD_CCtx_setParameter(cctx_, ZSTD_c_checksumFlag, 1), "checksum flag");
  // Worker threads are optional: a libzstd without them rejects the parameter, and one thread
  // (the caller's, off the JavaScript thread) is still correct.
  if (threads > 0) ZSTD_CCtx_setParameter(cctx_, ZSTD_c_nbWorkers, threads);
}

ZstdStream::~ZstdStream() { ZSTD_freeCCtx(cctx_); }

void ZstdStream::compress(const uint8_t* p, size_t n, Mode mode, std::vector<uint8_t>* out) {
  ZSTD_EndDirective op = mode == Mode::EndFrame ? ZSTD_e_end : mode == Mode::Flush ? ZSTD_e_flush : ZSTD_e_continue;
  ZSTD_inBuffer in = {p, n, 0};
  const size_t step = ZSTD_CStreamOutSize();
  for (;;) {
    size_t at = out->size();
    out->resize(at + step);
    ZSTD_outBuffer ob = {out->data() + at, step, 0};
    size_t remaining = ZSTD_compressStream2(cctx_, &ob, &in, op);
    check(remaining, "zstd compression");
    out->resize(at + ob.pos);
    // e_continue: done once the input is consumed; flush/end: once nothing remains buffered.
    if (op == ZSTD_e_continue ? in.pos == in.size : remaining == 0) break;
  }
}

}  // namespace acedt
