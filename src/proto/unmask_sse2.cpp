// SSE2 unmask kernel (RFC 6455 §5.3): 16-byte vectors, 4 per loop turn.
// Compiled with -msse2 only; includes only intrinsics and
// proto/unmask_kernels.hpp (no inline code) and unmask_kernel_parts.hpp
// (internal linkage only; see meson.build).
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "proto/unmask_kernel_parts.hpp"
#include "proto/unmask_kernels.hpp"

namespace wsgate::proto {

namespace {

constexpr size_t kVectorBytes = 16;
constexpr size_t kUnroll = 4;
// Below this, aligning the start costs more than the split loads it saves.
constexpr size_t kAlignFrom = 256;

}  // namespace

void unmask_sse2(uint8_t* data, size_t len, uint32_t key) {
    uint8_t* p = data;
    uint8_t* const end = data + len;
    if (len >= kAlignFrom) {
        // Head: 0-3 single bytes, then 4 and 8 bytes, reach a 16-byte boundary.
        size_t head = (0 - reinterpret_cast<uintptr_t>(p)) % kVectorBytes;
        size_t odd = head % 4;
        xor_bytes(p, odd, key);
        p += odd;
        key = advance_key(key, odd);
        __m128i k = _mm_set1_epi32(static_cast<int>(key));
        if (head & 4) {
            xor4(p, k);
            p += 4;
        }
        if (head & 8) {
            xor8(p, k);
            p += 8;
        }
    }
    __m128i k = _mm_set1_epi32(static_cast<int>(key));
    while (static_cast<size_t>(end - p) >= kUnroll * kVectorBytes) {
        xor16(p, k);
        xor16(p + kVectorBytes, k);
        xor16(p + 2 * kVectorBytes, k);
        xor16(p + 3 * kVectorBytes, k);
        p += kUnroll * kVectorBytes;
    }
    while (static_cast<size_t>(end - p) >= kVectorBytes) {
        xor16(p, k);
        p += kVectorBytes;
    }
    // Tail < 16 bytes starts a whole number of key periods after `key`.
    size_t rest = static_cast<size_t>(end - p);
    if (rest & 8) {
        xor8(p, k);
        p += 8;
    }
    if (rest & 4) {
        xor4(p, k);
        p += 4;
    }
    xor_bytes(p, rest % 4, key);
}

}  // namespace wsgate::proto
