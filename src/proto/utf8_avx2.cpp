// AVX2 UTF-8 kernel: the lookup-table algorithm of Keiser & Lemire,
// "Validating UTF-8 In Less Than One Instruction Per Byte" (2021), on 32-byte
// blocks. Every pair of adjacent bytes is classified by three nibble lookups
// (utf8_lookup_tables.hpp); bytes that must be the third or fourth of a
// sequence are found from the bytes two and three positions back. Blocks
// without a high bit skip all of it. Includes only what meson.build's ODR
// note allows.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "proto/utf8_kernels.hpp"
#include "proto/utf8_lookup_tables.hpp"

namespace wsgate::proto {

namespace {

using namespace utf8_pair_error;

constexpr size_t kBlock = sizeof(__m256i);
constexpr int kLaneBytes = 16;

__m256i broadcast_table(const uint8_t (&table)[16]) {
    return _mm256_broadcastsi128_si256(_mm_load_si128(reinterpret_cast<const __m128i*>(table)));
}

struct Tables {
    __m256i first_high = broadcast_table(kFirstHigh);
    __m256i first_low = broadcast_table(kFirstLow);
    __m256i second_high = broadcast_table(kSecondHigh);
    __m256i low_nibble = _mm256_set1_epi8(0x0F);
    __m256i must_continue_after_2 = _mm256_set1_epi8(static_cast<char>(kMustContinueAfter2));
    __m256i must_continue_after_3 = _mm256_set1_epi8(static_cast<char>(kMustContinueAfter3));
    __m256i high_bit = _mm256_set1_epi8(static_cast<char>(0x80));
    // Saturating subtraction leaves non-zero bytes where the block's last
    // bytes start a sequence it does not finish.
    __m256i incomplete_bounds = _mm256_setr_epi8(
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  //
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, static_cast<char>(kThirdLastByteMax),
        static_cast<char>(kSecondLastByteMax), static_cast<char>(kLastByteMax));
};

// The block `input` shifted right by N bytes, the gap filled with the last N
// bytes of the block before it. vpalignr works within 128-bit lanes, so the
// lane before each lane is assembled first.
template <int N>
__m256i previous(__m256i input, __m256i prev_input) {
    const __m256i lanes_before = _mm256_permute2x128_si256(prev_input, input, 0x21);
    return _mm256_alignr_epi8(input, lanes_before, kLaneBytes - N);
}

__m256i high_nibbles(__m256i v, const Tables& t) {
    return _mm256_and_si256(_mm256_srli_epi16(v, 4), t.low_nibble);
}

// Non-zero bytes where `input` (following `prev_input`) breaks UTF-8.
__m256i block_errors(__m256i input, __m256i prev_input, const Tables& t) {
    const __m256i prev1 = previous<1>(input, prev_input);
    const __m256i pair_errors = _mm256_and_si256(
        _mm256_and_si256(_mm256_shuffle_epi8(t.first_high, high_nibbles(prev1, t)),
                         _mm256_shuffle_epi8(t.first_low, _mm256_and_si256(prev1, t.low_nibble))),
        _mm256_shuffle_epi8(t.second_high, high_nibbles(input, t)));
    const __m256i third = _mm256_subs_epu8(previous<2>(input, prev_input), t.must_continue_after_2);
    const __m256i fourth =
        _mm256_subs_epu8(previous<3>(input, prev_input), t.must_continue_after_3);
    const __m256i must_continue = _mm256_and_si256(_mm256_or_si256(third, fourth), t.high_bit);
    // Two continuation bytes in a row are right exactly where the second one
    // must continue a three- or four-byte sequence.
    return _mm256_xor_si256(pair_errors, must_continue);
}

__m256i incomplete_end(__m256i input, const Tables& t) {
    return _mm256_subs_epu8(input, t.incomplete_bounds);
}

__m256i load(const uint8_t* p) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

bool is_ascii(__m256i v) {
    return _mm256_movemask_epi8(v) == 0;
}

template <typename T>
T load_scalar(const uint8_t* p) {
    T v;
    __builtin_memcpy(&v, p, sizeof(v));
    return v;
}

// pshufb control that moves bytes down by s (load 16 bytes at kMoveDown + s):
// index j takes byte j + s, or zero once j + s passes the end.
constexpr uint8_t kZeroByte = 0x80;
alignas(16) constexpr uint8_t kMoveDown[32] = {
    0,         1,         2,         3,         4,         5,         6,         7,
    8,         9,         10,        11,        12,        13,        14,        15,
    kZeroByte, kZeroByte, kZeroByte, kZeroByte, kZeroByte, kZeroByte, kZeroByte, kZeroByte,
    kZeroByte, kZeroByte, kZeroByte, kZeroByte, kZeroByte, kZeroByte, kZeroByte, kZeroByte};

// p[0, n), 0 < n < 16, zero-padded, from overlapping loads inside p[0, n).
__m128i load_partial16(const uint8_t* p, size_t n) {
    constexpr size_t kWord = 8;
    constexpr size_t kHalfWord = 4;
    if (n >= kWord) {
        const auto low = load_scalar<uint64_t>(p);
        // The word ending at p + n, moved down so p[8] is its first byte.
        const uint64_t high =
            n == kWord ? 0 : load_scalar<uint64_t>(p + n - kWord) >> (8 * (16 - n));
        return _mm_set_epi64x(static_cast<long long>(high), static_cast<long long>(low));
    }
    uint64_t v;
    if (n >= kHalfWord) {
        const uint64_t low = load_scalar<uint32_t>(p);
        const uint64_t high = uint64_t{load_scalar<uint32_t>(p + n - kHalfWord)} >> (8 * (8 - n));
        v = low | high << 32;
    } else {
        v = uint64_t{p[0]} | uint64_t{p[n / 2]} << (8 * (n / 2)) |
            uint64_t{p[n - 1]} << (8 * (n - 1));
    }
    return _mm_cvtsi64_si128(static_cast<long long>(v));
}

// p[0, n), 0 < n < 32, zero-padded to a block. Loads only inside p[0, n) and
// stores nothing: a block loaded right after storing its bytes one by one
// waits for the stores (store forwarding fails across several stores), which
// cost about 12 ns per call on short messages.
__m256i load_partial(const uint8_t* p, size_t n) {
    if (n < 16) return _mm256_zextsi128_si256(load_partial16(p, n));
    const __m128i low = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i last = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + n - 16));
    const __m128i high = _mm_shuffle_epi8(
        last, _mm_loadu_si128(reinterpret_cast<const __m128i*>(kMoveDown + (32 - n))));
    return _mm256_set_m128i(high, low);
}

}  // namespace

bool utf8_valid_avx2(const uint8_t* data, size_t len) {
    const Tables t;
    __m256i errors = _mm256_setzero_si256();
    __m256i prev_input = _mm256_setzero_si256();
    __m256i prev_incomplete = _mm256_setzero_si256();
    size_t i = 0;
    for (; len - i >= 2 * kBlock; i += 2 * kBlock) {
        const __m256i a = load(data + i);
        const __m256i b = load(data + i + kBlock);
        if (is_ascii(_mm256_or_si256(a, b))) {
            // ASCII is valid unless the block before ended inside a sequence.
            errors = _mm256_or_si256(errors, prev_incomplete);
            prev_incomplete = _mm256_setzero_si256();
        } else {
            errors = _mm256_or_si256(errors, block_errors(a, prev_input, t));
            errors = _mm256_or_si256(errors, block_errors(b, a, t));
            prev_incomplete = incomplete_end(b, t);
        }
        prev_input = b;
    }
    if (len - i >= kBlock) {
        const __m256i a = load(data + i);
        errors = _mm256_or_si256(errors, block_errors(a, prev_input, t));
        prev_incomplete = incomplete_end(a, t);
        prev_input = a;
        i += kBlock;
    }
    if (i < len) {
        // The tail is zero-padded so nothing past data+len is read; the
        // zeros after it are ASCII, so a sequence the tail cuts short shows
        // up as an error of its own.
        const __m256i a = load_partial(data + i, len - i);
        errors = _mm256_or_si256(errors, block_errors(a, prev_input, t));
        prev_incomplete = incomplete_end(a, t);
    }
    errors = _mm256_or_si256(errors, prev_incomplete);
    return _mm256_testz_si256(errors, errors) != 0;
}

}  // namespace wsgate::proto
