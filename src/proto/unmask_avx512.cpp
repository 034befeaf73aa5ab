// AVX-512 unmask kernel (RFC 6455 §5.3): 64-byte vectors, 4 per loop turn;
// the unaligned head and the tail use byte-masked loads and stores (AVX-512BW),
// which neither touch nor fault on the masked-off bytes, so nothing outside
// data[0, len) is read or written.
// A masked store does not forward to a later load of the same bytes, so a
// benchmark that unmasks one small buffer over and over stalls (16 B: about
// 8 ns, twice AVX2). A server unmasks a new buffer each time: with a new
// buffer per call (bench UnmaskPool_*) the masked tail measured faster than
// unmasked 32/16/8/4-byte pieces (16 B: 2.8 vs 3.5 ns, 125 B: 4.4 vs 5.2 ns),
// so the tail stays masked. Compiled with -mavx512bw -mbmi2; includes only
// intrinsics and headers with no external-linkage inline code (see meson.build).
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "proto/unmask_kernel_parts.hpp"
#include "proto/unmask_kernels.hpp"

namespace wsgate::proto {

namespace {

constexpr size_t kVectorBytes = 64;
constexpr size_t kUnroll = 4;
// Below this, aligning the start costs more than the split loads it saves.
constexpr size_t kAlignFrom = 256;

// Mask of the first n (0..64) bytes of a vector.
__mmask64 first_bytes(size_t n) {
    return _bzhi_u64(~uint64_t{0}, static_cast<unsigned>(n));
}

void xor_masked(uint8_t* p, __mmask64 mask, __m512i k) {
    __m512i v = _mm512_maskz_loadu_epi8(mask, p);
    _mm512_mask_storeu_epi8(p, mask, _mm512_xor_si512(v, k));
}

void xor64(uint8_t* p, __m512i k) {
    _mm512_storeu_si512(p, _mm512_xor_si512(_mm512_loadu_si512(p), k));
}

}  // namespace

void unmask_avx512(uint8_t* data, size_t len, uint32_t key) {
    uint8_t* p = data;
    uint8_t* const end = data + len;
    if (len >= kAlignFrom) {
        // Head up to the next 64-byte boundary, so the loop's accesses never
        // split a cache line.
        size_t head = (0 - reinterpret_cast<uintptr_t>(p)) % kVectorBytes;
        xor_masked(p, first_bytes(head), _mm512_set1_epi32(static_cast<int>(key)));
        p += head;
        key = advance_key(key, head);
    }
    __m512i k = _mm512_set1_epi32(static_cast<int>(key));
    while (static_cast<size_t>(end - p) >= kUnroll * kVectorBytes) {
        xor64(p, k);
        xor64(p + kVectorBytes, k);
        xor64(p + 2 * kVectorBytes, k);
        xor64(p + 3 * kVectorBytes, k);
        p += kUnroll * kVectorBytes;
    }
    while (static_cast<size_t>(end - p) >= kVectorBytes) {
        xor64(p, k);
        p += kVectorBytes;
    }
    xor_masked(p, first_bytes(static_cast<size_t>(end - p)), k);
}

}  // namespace wsgate::proto
