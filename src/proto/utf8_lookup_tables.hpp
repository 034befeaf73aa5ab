// Lookup tables of the SIMD UTF-8 kernels (utf8_avx2.cpp, utf8_avx512.cpp).
// Constant data only, no inline functions, for the reason given in
// utf8_kernels.hpp.
#pragma once

#include <cstdint>

namespace wsgate::proto {

// The lookup-table algorithm classifies each pair of adjacent bytes
// (first, second) by three 16-entry tables indexed by the high nibble of
// `first`, the low nibble of `first` and the high nibble of `second`. Each
// bit is one error class; a pair is in error when a bit is set in all three
// lookups. The classes follow Unicode Table 3-7 (RFC 3629 §4).
namespace utf8_pair_error {
inline constexpr uint8_t kTooShort = 1 << 0;   // lead byte, then no continuation byte
inline constexpr uint8_t kTooLong = 1 << 1;    // ASCII byte, then a continuation byte
inline constexpr uint8_t kOverlong3 = 1 << 2;  // E0 80..9F: below U+0800
inline constexpr uint8_t kTooLarge = 1 << 3;   // F4 90..BF, F5..FF 90..BF: above U+10FFFF
inline constexpr uint8_t kSurrogate = 1 << 4;  // ED A0..BF: U+D800..U+DFFF
inline constexpr uint8_t kOverlong2 = 1 << 5;  // C0..C1 80..BF: below U+0080
// F0 80..8F (below U+10000) and F5..FF 80..8F (above U+10FFFF) share a bit:
// F0 and F5..FF differ in the low nibble of `first` only.
inline constexpr uint8_t kOverlong4OrTooLarge = 1 << 6;
// Continuation, then continuation: an error unless the second one is the
// third or fourth byte of a sequence, which the kernels check separately.
inline constexpr uint8_t kTwoContinuations = 1 << 7;

inline constexpr uint8_t kAnyContinuation = kTooLong | kOverlong2 | kTwoContinuations;

// Indexed by the high nibble of the first byte.
alignas(16) inline constexpr uint8_t kFirstHigh[16] = {
    // 0..7: ASCII
    kTooLong,
    kTooLong,
    kTooLong,
    kTooLong,
    kTooLong,
    kTooLong,
    kTooLong,
    kTooLong,
    // 8..B: continuation bytes
    kTwoContinuations,
    kTwoContinuations,
    kTwoContinuations,
    kTwoContinuations,
    // C: two-byte leads (C0, C1 overlong)
    kTooShort | kOverlong2,
    // D: two-byte leads
    kTooShort,
    // E: three-byte leads
    kTooShort | kOverlong3 | kSurrogate,
    // F: four-byte leads, F5..FF never valid
    kTooShort | kTooLarge | kOverlong4OrTooLarge,
};

// Indexed by the low nibble of the first byte.
inline constexpr uint8_t kAnyLow = kTooShort | kTooLong | kTwoContinuations;
alignas(16) inline constexpr uint8_t kFirstLow[16] = {
    kAnyLow | kOverlong2 | kOverlong3 | kOverlong4OrTooLarge,  // C0, E0, F0
    kAnyLow | kOverlong2,                                      // C1
    kAnyLow,
    kAnyLow,
    kAnyLow | kTooLarge,                         // F4
    kAnyLow | kTooLarge | kOverlong4OrTooLarge,  // F5
    kAnyLow | kTooLarge | kOverlong4OrTooLarge,
    kAnyLow | kTooLarge | kOverlong4OrTooLarge,
    kAnyLow | kTooLarge | kOverlong4OrTooLarge,
    kAnyLow | kTooLarge | kOverlong4OrTooLarge,
    kAnyLow | kTooLarge | kOverlong4OrTooLarge,
    kAnyLow | kTooLarge | kOverlong4OrTooLarge,
    kAnyLow | kTooLarge | kOverlong4OrTooLarge,
    kAnyLow | kTooLarge | kOverlong4OrTooLarge | kSurrogate,  // ED, FD
    kAnyLow | kTooLarge | kOverlong4OrTooLarge,
    kAnyLow | kTooLarge | kOverlong4OrTooLarge,  // FF
};

// Indexed by the high nibble of the second byte.
alignas(16) inline constexpr uint8_t kSecondHigh[16] = {
    // 0..7: ASCII
    kTooShort,
    kTooShort,
    kTooShort,
    kTooShort,
    kTooShort,
    kTooShort,
    kTooShort,
    kTooShort,
    // 8: 80..8F
    kAnyContinuation | kOverlong3 | kOverlong4OrTooLarge,
    // 9: 90..9F
    kAnyContinuation | kOverlong3 | kTooLarge,
    // A, B: A0..BF
    kAnyContinuation | kSurrogate | kTooLarge,
    kAnyContinuation | kSurrogate | kTooLarge,
    // C..F: leads
    kTooShort,
    kTooShort,
    kTooShort,
    kTooShort,
};

// A byte two positions after a byte >= kThreeByteLeadMin, or three after one
// >= kFourByteLeadMin, must be a continuation byte. Saturating subtraction of
// (lead minimum - 0x80) leaves the high bit set exactly for such leads.
inline constexpr uint8_t kThreeByteLeadMin = 0xE0;
inline constexpr uint8_t kFourByteLeadMin = 0xF0;
inline constexpr uint8_t kMustContinueAfter2 = kThreeByteLeadMin - 0x80;
inline constexpr uint8_t kMustContinueAfter3 = kFourByteLeadMin - 0x80;

// A block's last bytes start an unfinished sequence when the last byte is
// >= C0, the one before >= E0 or the one before that >= F0: saturating
// subtraction of these bounds is non-zero exactly then.
inline constexpr uint8_t kLastByteMax = 0xBF;
inline constexpr uint8_t kSecondLastByteMax = 0xDF;
inline constexpr uint8_t kThirdLastByteMax = 0xEF;
}  // namespace utf8_pair_error

}  // namespace wsgate::proto
