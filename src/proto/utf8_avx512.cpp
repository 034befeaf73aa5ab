// AVX-512BW UTF-8 kernel: the lookup-table algorithm of Keiser & Lemire,
// "Validating UTF-8 In Less Than One Instruction Per Byte" (2021), on 64-byte
// blocks, as in utf8_avx2.cpp. The tail is read with a masked load, which
// never touches memory past data+len. Includes only what meson.build's ODR
// note allows.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "proto/utf8_kernels.hpp"
#include "proto/utf8_lookup_tables.hpp"

namespace wsgate::proto {

namespace {

using namespace utf8_pair_error;

constexpr size_t kBlock = sizeof(__m512i);
constexpr int kLaneBytes = 16;
constexpr int kLaneDwords = 4;
constexpr int kBlockDwords = 16;

// Saturating-subtraction bounds that leave non-zero bytes where a block's
// last bytes start a sequence it does not finish.
alignas(kBlock) constexpr uint8_t kIncompleteBounds[kBlock] = {0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               0xFF,
                                                               kThirdLastByteMax,
                                                               kSecondLastByteMax,
                                                               kLastByteMax};

// The zero-masking forms of vbroadcasti32x4 and valignd with every lane
// selected are the plain instructions; they avoid GCC 12's false
// -Wuninitialized on the _mm512_undefined_epi32() inside the unmasked forms.
constexpr __mmask16 kAllDwords = 0xFFFF;

__m512i broadcast_table(const uint8_t (&table)[16]) {
    return _mm512_maskz_broadcast_i32x4(kAllDwords,
                                        _mm_load_si128(reinterpret_cast<const __m128i*>(table)));
}

struct Tables {
    __m512i first_high = broadcast_table(kFirstHigh);
    __m512i first_low = broadcast_table(kFirstLow);
    __m512i second_high = broadcast_table(kSecondHigh);
    __m512i low_nibble = _mm512_set1_epi8(0x0F);
    __m512i must_continue_after_2 = _mm512_set1_epi8(static_cast<char>(kMustContinueAfter2));
    __m512i must_continue_after_3 = _mm512_set1_epi8(static_cast<char>(kMustContinueAfter3));
    __m512i high_bit = _mm512_set1_epi8(static_cast<char>(0x80));
    __m512i incomplete_bounds = _mm512_load_si512(kIncompleteBounds);
};

// The 128-bit lane before each lane of `input`: valignd shifts across the
// whole register, so the previous block's last lane moves in at the bottom.
__m512i lanes_before(__m512i input, __m512i prev_input) {
    return _mm512_maskz_alignr_epi32(kAllDwords, input, prev_input, kBlockDwords - kLaneDwords);
}

// The block `input` shifted right by N bytes, the gap filled with the last N
// bytes of the block before it (vpalignr works within 128-bit lanes).
template <int N>
__m512i previous(__m512i input, __m512i before) {
    return _mm512_alignr_epi8(input, before, kLaneBytes - N);
}

__m512i high_nibbles(__m512i v, const Tables& t) {
    return _mm512_and_si512(_mm512_srli_epi16(v, 4), t.low_nibble);
}

// Non-zero bytes where `input` (following `prev_input`) breaks UTF-8.
__m512i block_errors(__m512i input, __m512i prev_input, const Tables& t) {
    const __m512i before = lanes_before(input, prev_input);
    const __m512i prev1 = previous<1>(input, before);
    const __m512i pair_errors = _mm512_and_si512(
        _mm512_and_si512(_mm512_shuffle_epi8(t.first_high, high_nibbles(prev1, t)),
                         _mm512_shuffle_epi8(t.first_low, _mm512_and_si512(prev1, t.low_nibble))),
        _mm512_shuffle_epi8(t.second_high, high_nibbles(input, t)));
    const __m512i third = _mm512_subs_epu8(previous<2>(input, before), t.must_continue_after_2);
    const __m512i fourth = _mm512_subs_epu8(previous<3>(input, before), t.must_continue_after_3);
    const __m512i must_continue = _mm512_and_si512(_mm512_or_si512(third, fourth), t.high_bit);
    // Two continuation bytes in a row are right exactly where the second one
    // must continue a three- or four-byte sequence.
    return _mm512_xor_si512(pair_errors, must_continue);
}

__m512i incomplete_end(__m512i input, const Tables& t) {
    return _mm512_subs_epu8(input, t.incomplete_bounds);
}

bool is_ascii(__m512i v) {
    return _mm512_movepi8_mask(v) == 0;
}

}  // namespace

bool utf8_valid_avx512(const uint8_t* data, size_t len) {
    const Tables t;
    __m512i errors = _mm512_setzero_si512();
    __m512i prev_input = _mm512_setzero_si512();
    __m512i prev_incomplete = _mm512_setzero_si512();
    size_t i = 0;
    for (; len - i >= kBlock; i += kBlock) {
        const __m512i input = _mm512_loadu_si512(data + i);
        if (is_ascii(input)) {
            // ASCII is valid unless the block before ended inside a sequence.
            errors = _mm512_or_si512(errors, prev_incomplete);
            prev_incomplete = _mm512_setzero_si512();
        } else {
            errors = _mm512_or_si512(errors, block_errors(input, prev_input, t));
            prev_incomplete = incomplete_end(input, t);
        }
        prev_input = input;
    }
    if (i < len) {
        // Masked-off bytes read as zero (ASCII), so a sequence the tail cuts
        // short shows up as an error of its own; they are never loaded.
        const __mmask64 present = _bzhi_u64(~0ULL, static_cast<unsigned>(len - i));
        const __m512i input = _mm512_maskz_loadu_epi8(present, data + i);
        errors = _mm512_or_si512(errors, block_errors(input, prev_input, t));
        prev_incomplete = incomplete_end(input, t);
    }
    errors = _mm512_or_si512(errors, prev_incomplete);
    return _mm512_test_epi8_mask(errors, errors) == 0;
}

}  // namespace wsgate::proto
