#include "proto/zstream.hpp"

#include <cstdlib>
#include <new>

namespace wsgate::proto {

namespace {

// Each zlib allocation carries its size in front, so zfree can count it.
// 16 bytes keep the block's alignment as good as malloc's.
constexpr size_t kSizeHeader = 16;
static_assert(kSizeHeader >= sizeof(size_t) && kSizeHeader % alignof(std::max_align_t) == 0);

thread_local ZlibMemoryStats t_stats;

void count_alloc(size_t n) {
    t_stats.live_bytes += n;
    if (t_stats.live_bytes > t_stats.peak_bytes) t_stats.peak_bytes = t_stats.live_bytes;
}

void count_free(size_t n) {
    t_stats.live_bytes -= n;
}

voidpf zalloc_hook(voidpf opaque, uInt items, uInt size) {
    return static_cast<ZStream*>(opaque)->allocate(static_cast<size_t>(items) * size);
}

void zfree_hook(voidpf opaque, voidpf address) {
    static_cast<ZStream*>(opaque)->release(address);
}

bool valid(const ZStreamParams& p) {
    if (p.window_bits < kMinZlibWindowBits || p.window_bits > kMaxWindowBits) return false;
    if (p.kind == ZStreamKind::inflate) return true;
    return p.mem_level >= 1 && p.mem_level <= MAX_MEM_LEVEL && p.level >= 0 && p.level <= 9;
}

}  // namespace

ZlibMemoryStats zlib_memory_stats() {
    return t_stats;
}

void* ZStream::allocate(size_t n) {
    auto* block = static_cast<unsigned char*>(std::malloc(n + kSizeHeader));
    if (block == nullptr) return nullptr;
    *reinterpret_cast<size_t*>(block) = n;
    bytes_ += n;
    count_alloc(n);
    return block + kSizeHeader;
}

void ZStream::release(void* p) {
    if (p == nullptr) return;
    unsigned char* block = static_cast<unsigned char*>(p) - kSizeHeader;
    size_t n = *reinterpret_cast<size_t*>(block);
    bytes_ -= n;
    count_free(n);
    std::free(block);
}

ZStream* ZStream::create(const ZStreamParams& params) {
    if (!valid(params)) return nullptr;
    auto* s = new (std::nothrow) ZStream();
    if (s == nullptr) return nullptr;
    s->params_ = params;
    s->bytes_ = sizeof(ZStream);
    count_alloc(sizeof(ZStream));
    s->strm_.zalloc = zalloc_hook;
    s->strm_.zfree = zfree_hook;
    s->strm_.opaque = s;
    // Negative windowBits selects raw DEFLATE (RFC 7692 §7.2.1).
    const int raw_bits = -static_cast<int>(params.window_bits);
    int rc = params.kind == ZStreamKind::deflate
                 ? deflateInit2(&s->strm_, params.level, Z_DEFLATED, raw_bits, params.mem_level,
                                Z_DEFAULT_STRATEGY)
                 : inflateInit2(&s->strm_, raw_bits);
    if (rc != Z_OK) {
        count_free(sizeof(ZStream));
        delete s;
        return nullptr;
    }
    ++t_stats.live_streams;
    return s;
}

void ZStream::destroy(ZStream* s) {
    if (s == nullptr) return;
    if (s->params_.kind == ZStreamKind::deflate)
        deflateEnd(&s->strm_);
    else
        inflateEnd(&s->strm_);
    count_free(sizeof(ZStream));
    --t_stats.live_streams;
    delete s;
}

void ZStream::reset() {
    if (params_.kind == ZStreamKind::deflate)
        deflateReset(&strm_);
    else
        inflateReset(&strm_);
}

size_t measure_zstream_bytes(const ZStreamParams& params) {
    ZStream* s = ZStream::create(params);
    if (s == nullptr) return 0;
    // Enough data for an inflater to allocate its window (zlib does that on
    // the first output); a deflater allocates everything in deflateInit2.
    constexpr size_t kSample = 4096;
    unsigned char plain[kSample];
    unsigned char packed[kSample * 2] = {};
    for (size_t i = 0; i < kSample; ++i)
        plain[i] = static_cast<unsigned char>('a' + i % 23);
    z_stream& z = s->raw();
    if (params.kind == ZStreamKind::deflate) {
        z.next_in = plain;
        z.avail_in = kSample;
        z.next_out = packed;
        z.avail_out = sizeof(packed);
        deflate(&z, Z_SYNC_FLUSH);
    } else {
        // A stored block: 0x01 header (BFINAL=1, BTYPE=00), LEN, NLEN, data.
        constexpr size_t kStoredLen = 1024;
        packed[0] = 0x01;
        packed[1] = kStoredLen & 0xff;
        packed[2] = kStoredLen >> 8;
        packed[3] = static_cast<unsigned char>(~packed[1]);
        packed[4] = static_cast<unsigned char>(~packed[2]);
        z.next_in = packed;
        z.avail_in = 5 + kStoredLen;
        z.next_out = plain;
        z.avail_out = kSample;
        inflate(&z, Z_SYNC_FLUSH);
    }
    size_t bytes = s->bytes();
    ZStream::destroy(s);
    return bytes;
}

}  // namespace wsgate::proto
