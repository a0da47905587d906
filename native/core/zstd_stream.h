// Streaming zstd compression (libzstd) for the archive writer: Node 20 has no zstd. A frame can
// be ended at any point (each blob its own frame, so checkpoint offsets stay exact, SPEC
// "Checkpoint and resume") or flushed at a block boundary without ending it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

typedef struct ZSTD_CCtx_s ZSTD_CCtx;

namespace acedt {

class ZstdStream {
 public:
  enum class Mode { Continue, Flush, EndFrame };
  // threads > 0 uses libzstd's worker threads (when it was built with them).
  ZstdStream(int level, int threads);
  ~ZstdStream();
  ZstdStream(const ZstdStream&) = delete;
  ZstdStream& operator=(const ZstdStream&) = delete;
  // Compresses [p, p+n) and appends the output produced to `out`; with Flush/EndFrame everything
  // given so far is in `out` afterwards. Throws std::runtime_error with libzstd's message.
  void compress(const uint8_t* p, size_t n, Mode mode, std::vector<uint8_t>* out);

 private:
  ZSTD_CCtx* cctx_;
};

}  // namespace acedt
