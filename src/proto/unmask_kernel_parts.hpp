// Pieces the SSE2, AVX2 and AVX-512 unmask kernels share: key rotation and
// the XOR of 1-16 bytes for heads and tails. Everything here has internal
// linkage (an unnamed namespace; `inline` only so that a kernel not using
// one gets no unused-function warning), so each kernel file compiles its own copy
// with its own target flags and the linker never has to pick one copy for
// all of them (see the comment on kernel_sources in meson.build). Only SSE2
// intrinsics, the x86-64 baseline.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

namespace wsgate::proto {
namespace {

// The key after `n` payload bytes: wire byte n % 4 moves to the bottom.
inline uint32_t advance_key(uint32_t key, size_t n) {
    unsigned shift = static_cast<unsigned>(n % 4) * 8;
    return shift == 0 ? key : (key >> shift) | (key << (32 - shift));
}

// XORs n < 4 bytes with the key's low bytes.
inline void xor_bytes(uint8_t* p, size_t n, uint32_t key) {
    for (size_t i = 0; i < n; ++i)
        p[i] ^= static_cast<uint8_t>(key >> (8 * i));
}

inline void xor4(uint8_t* p, __m128i k) {
    _mm_storeu_si32(p, _mm_xor_si128(_mm_loadu_si32(p), k));
}

inline void xor8(uint8_t* p, __m128i k) {
    auto* v = reinterpret_cast<__m128i*>(p);
    _mm_storel_epi64(v, _mm_xor_si128(_mm_loadl_epi64(v), k));
}

inline void xor16(uint8_t* p, __m128i k) {
    auto* v = reinterpret_cast<__m128i*>(p);
    _mm_storeu_si128(v, _mm_xor_si128(_mm_loadu_si128(v), k));
}

}  // namespace
}  // namespace wsgate::proto
