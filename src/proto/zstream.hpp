// One initialised zlib stream for permessage-deflate, with every byte zlib
// allocates for it counted (zalloc/zfree hooks), so the per-connection memory
// cost of compression is measured rather than guessed.
#pragma once

#include <zlib.h>

#include <cstddef>
#include <cstdint>

namespace wsgate::proto {

// log2 of the LZ77 window, RFC 7692 §7.1.2: the protocol allows 8..15.
inline constexpr uint8_t kMinWindowBits = 8;
inline constexpr uint8_t kMaxWindowBits = 15;
// zlib (since 1.2.9) refuses windowBits 8 for a raw deflate stream, and its
// inflater must accept 9-bit distances from zlib-based peers that were asked
// for 8 (Chromium compresses with 9 in that case). So 9 is the smallest window
// wsgate ever runs zlib with.
inline constexpr uint8_t kMinZlibWindowBits = 9;
inline constexpr uint8_t kDefaultMemLevel = 8;     // zlib's default
inline constexpr int8_t kDefaultDeflateLevel = 6;  // zlib's Z_DEFAULT_COMPRESSION

enum class ZStreamKind : uint8_t { deflate, inflate };

// Everything that makes two streams interchangeable: zlib cannot change a
// deflate stream's window or memLevel after deflateInit2.
struct ZStreamParams {
    ZStreamKind kind = ZStreamKind::deflate;
    uint8_t window_bits = kMaxWindowBits;  // kMinZlibWindowBits..kMaxWindowBits
    uint8_t mem_level = kDefaultMemLevel;  // deflate only, 1..9
    int8_t level = kDefaultDeflateLevel;   // deflate only, 0..9
    bool operator==(const ZStreamParams&) const = default;
};

// zlib memory of this thread's streams (a stream freed on another thread than
// the one that created it makes these counts drift; wsgate never does that).
struct ZlibMemoryStats {
    size_t live_bytes = 0;  // currently allocated, including the ZStream objects
    size_t peak_bytes = 0;
    size_t live_streams = 0;
};
ZlibMemoryStats zlib_memory_stats();

class ZStream {
  public:
    // A raw-DEFLATE stream (negative windowBits, RFC 7692 §7.2.1: no zlib
    // header or trailer). nullptr when zlib fails (out of memory) or the
    // params are out of range.
    static ZStream* create(const ZStreamParams& params);
    static void destroy(ZStream* stream);

    z_stream& raw() { return strm_; }
    const ZStreamParams& params() const { return params_; }
    // Bytes held: this object plus everything zlib allocated for it so far
    // (an inflater's window is allocated on its first output).
    size_t bytes() const { return bytes_; }
    // deflateReset/inflateReset: forget the LZ77 window, keep the memory.
    void reset();

    // Allocation hooks; public only so the C callbacks can reach them.
    void* allocate(size_t n);
    void release(void* p);

    ZStream(const ZStream&) = delete;
    ZStream& operator=(const ZStream&) = delete;

  private:
    ZStream() = default;
    ~ZStream() = default;

    z_stream strm_{};
    ZStreamParams params_{};
    size_t bytes_ = 0;
};

// Bytes one stream with these params holds once it has processed a message:
// measured by creating one and running a few KiB through it.
size_t measure_zstream_bytes(const ZStreamParams& params);

}  // namespace wsgate::proto
