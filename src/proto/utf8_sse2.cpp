// SSE2 UTF-8 kernel. SSE2 has no byte shuffle (pshufb arrived with SSSE3),
// so the lookup-table algorithm of utf8_avx2.cpp cannot run here: this
// kernel skips ASCII 16 bytes at a time and hands every block that holds a
// non-ASCII byte to the scalar validator. Includes only what meson.build's
// ODR note allows.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "proto/utf8_kernels.hpp"

namespace wsgate::proto {

namespace {
constexpr size_t kBlock = sizeof(__m128i);
// Non-ASCII text tends to come in runs: once the scalar code has a non-ASCII
// block, it goes on this far before the ASCII test is tried again.
constexpr size_t kScalarStretch = 4 * kBlock;
}  // namespace

bool utf8_valid_sse2(const uint8_t* data, size_t len) {
    size_t i = 0;
    while (i < len) {
        while (len - i >= kBlock) {
            const __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + i));
            const int high_bits = _mm_movemask_epi8(block);
            if (high_bits != 0) {
                // Leading ASCII bytes of the block are valid on their own.
                i += static_cast<size_t>(__builtin_ctz(static_cast<unsigned>(high_bits)));
                break;
            }
            i += kBlock;
        }
        if (i == len) break;
        // i is a code point boundary: after ASCII, or where the scalar
        // validator stopped.
        const size_t done = utf8_validate_scalar_prefix(data + i, len - i, kScalarStretch);
        if (done == kUtf8Invalid) return false;
        i += done;
    }
    return true;
}

}  // namespace wsgate::proto
