// A slow, obviously-correct UTF-8 reference for tests and benchmarks,
// written independently of src/proto/utf8.cpp: it decodes each code point
// from the bit patterns of RFC 3629 §3 and checks the value against the
// ranges of RFC 3629 §4 / Unicode Table 3-7 (no overlongs, no surrogates,
// nothing above U+10FFFF), instead of using byte-range tables.
#pragma once

#include <cstddef>
#include <cstdint>

namespace wsgate::test {

inline constexpr uint32_t kMaxCodePoint = 0x10FFFF;
inline constexpr uint32_t kSurrogateFirst = 0xD800;
inline constexpr uint32_t kSurrogateLast = 0xDFFF;

// Sequence length announced by a first byte's high bits (RFC 3629 §3):
// 0xxxxxxx 1, 110xxxxx 2, 1110xxxx 3, 11110xxx 4; 0 for 10xxxxxx and 11111xxx.
inline size_t reference_announced_length(uint8_t first) {
    if ((first & 0x80) == 0x00) return 1;
    if ((first & 0xE0) == 0xC0) return 2;
    if ((first & 0xF0) == 0xE0) return 3;
    if ((first & 0xF8) == 0xF0) return 4;
    return 0;
}

// True when the first `have` bytes of a sequence of `length` bytes at p can
// still be (or, when have == length, are) a valid encoding: every byte after
// the first is 10xxxxxx, and some value the missing bytes could complete it
// to is at least the smallest value needing `length` bytes, at most
// U+10FFFF and not a surrogate.
inline bool reference_sequence_viable(const uint8_t* p, size_t have, size_t length) {
    static constexpr uint8_t kFirstPayloadMask[5] = {0, 0x7F, 0x1F, 0x0F, 0x07};
    static constexpr uint32_t kSmallestValue[5] = {0, 0, 0x80, 0x800, 0x10000};
    uint32_t low = p[0] & kFirstPayloadMask[length];
    uint32_t high = low;
    for (size_t k = 1; k < length; ++k) {
        if (k < have) {
            if ((p[k] & 0xC0) != 0x80) return false;
            low = (low << 6) | (p[k] & 0x3Fu);
            high = (high << 6) | (p[k] & 0x3Fu);
        } else {
            low = low << 6;
            high = (high << 6) | 0x3Fu;
        }
    }
    const uint32_t from = low > kSmallestValue[length] ? low : kSmallestValue[length];
    const uint32_t to = high < kMaxCodePoint ? high : kMaxCodePoint;
    if (from > to) return false;
    return !(from >= kSurrogateFirst && to <= kSurrogateLast);
}

struct ReferenceVerdict {
    // Index of the first byte after which data[0, index] cannot begin valid
    // UTF-8, or len when there is none.
    size_t first_invalid;
    // data[0, len) is valid and complete.
    bool valid;
};

inline ReferenceVerdict reference_utf8_check(const uint8_t* data, size_t len) {
    size_t i = 0;
    while (i < len) {
        const size_t length = reference_announced_length(data[i]);
        if (length == 0) return {i, false};
        for (size_t have = 1; have <= length; ++have) {
            if (i + have > len) return {len, false};  // cut short, valid so far
            if (!reference_sequence_viable(data + i, have, length)) return {i + have - 1, false};
        }
        i += length;
    }
    return {len, true};
}

inline bool reference_utf8_valid(const uint8_t* data, size_t len) {
    return reference_utf8_check(data, len).valid;
}

}  // namespace wsgate::test
