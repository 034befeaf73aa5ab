// AVX2 unmask kernel (RFC 6455 §5.3): 32-byte vectors, 4 per loop turn.
// Compiled with -mavx2; includes only intrinsics and
// proto/unmask_kernels.hpp (no inline code) and unmask_kernel_parts.hpp
// (internal linkage only; see meson.build).
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "proto/unmask_kernel_parts.hpp"
#include "proto/unmask_kernels.hpp"

namespace wsgate::proto {

namespace {

constexpr size_t kVectorBytes = 32;
constexpr size_t kUnroll = 4;
// Below this, aligning the start costs more than the split loads it saves.
constexpr size_t kAlignFrom = 256;

void xor32(uint8_t* p, __m256i k) {
    auto* v = reinterpret_cast<__m256i*>(p);
    _mm256_storeu_si256(v, _mm256_xor_si256(_mm256_loadu_si256(v), k));
}

}  // namespace

void unmask_avx2(uint8_t* data, size_t len, uint32_t key) {
    uint8_t* p = data;
    uint8_t* const end = data + len;
    if (len >= kAlignFrom) {
        // Head: 0-3 single bytes, then 4, 8 and 16 bytes, reach a 32-byte
        // boundary so no access in the loop splits a cache line.
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
        if (head & 16) {
            xor16(p, k);
            p += 16;
        }
    }
    __m256i k = _mm256_set1_epi32(static_cast<int>(key));
    while (static_cast<size_t>(end - p) >= kUnroll * kVectorBytes) {
        xor32(p, k);
        xor32(p + kVectorBytes, k);
        xor32(p + 2 * kVectorBytes, k);
        xor32(p + 3 * kVectorBytes, k);
        p += kUnroll * kVectorBytes;
    }
    while (static_cast<size_t>(end - p) >= kVectorBytes) {
        xor32(p, k);
        p += kVectorBytes;
    }
    // Tail < 32 bytes starts a whole number of key periods after `key`.
    size_t rest = static_cast<size_t>(end - p);
    __m128i k128 = _mm256_castsi256_si128(k);
    if (rest & 16) {
        xor16(p, k128);
        p += 16;
    }
    if (rest & 8) {
        xor8(p, k128);
        p += 8;
    }
    if (rest & 4) {
        xor4(p, k128);
        p += 4;
    }
    xor_bytes(p, rest % 4, key);
}

}  // namespace wsgate::proto
