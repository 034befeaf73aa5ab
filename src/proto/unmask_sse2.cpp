// SSE2 unmask kernel (RFC 6455 §5.3): 16-byte vectors, 4 per loop turn.
// Compiled with -msse2 only; includes only intrinsics and
// proto/unmask_kernels.hpp, which has no inline code (see meson.build).
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "proto/unmask_kernels.hpp"

namespace wsgate::proto {

namespace {

constexpr size_t kVectorBytes = 16;
constexpr size_t kUnroll = 4;
// Below this, aligning the start costs more than the split loads it saves.
constexpr size_t kAlignFrom = 256;

// The key after `n` payload bytes: wire byte n % 4 moves to the bottom.
uint32_t advance_key(uint32_t key, size_t n) {
    unsigned shift = static_cast<unsigned>(n % 4) * 8;
    return shift == 0 ? key : (key >> shift) | (key << (32 - shift));
}

// XORs n < 4 bytes with the key's low bytes.
void xor_bytes(uint8_t* p, size_t n, uint32_t key) {
    for (size_t i = 0; i < n; ++i)
        p[i] ^= static_cast<uint8_t>(key >> (8 * i));
}

void xor4(uint8_t* p, __m128i k) {
    _mm_storeu_si32(p, _mm_xor_si128(_mm_loadu_si32(p), k));
}

void xor8(uint8_t* p, __m128i k) {
    auto* v = reinterpret_cast<__m128i*>(p);
    _mm_storel_epi64(v, _mm_xor_si128(_mm_loadl_epi64(v), k));
}

void xor16(uint8_t* p, __m128i k) {
    auto* v = reinterpret_cast<__m128i*>(p);
    _mm_storeu_si128(v, _mm_xor_si128(_mm_loadu_si128(v), k));
}

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
