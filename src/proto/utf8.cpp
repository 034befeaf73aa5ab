#include "proto/utf8.hpp"

#include <array>
#include <bit>
#include <cstring>

namespace wsgate::proto {

namespace {

static_assert(std::endian::native == std::endian::little,
              "the ASCII fast path finds the first non-ASCII byte with countr_zero");

// What a byte allows as the first byte of a code point, from Unicode Table
// 3-7 (the well-formed sequences RFC 3629 §4 gives as ABNF): the length of
// the sequence it starts (0: never first, i.e. a continuation byte, C0, C1 or
// F5..FF) and the range of the second byte. Later bytes are always 80..BF.
// The narrow second-byte ranges exclude overlongs (E0, F0), surrogates (ED)
// and code points above U+10FFFF (F4).
// Three parallel arrays rather than an array of structs: GCC copied the
// 3-byte struct through the stack, which cost a store-forwarding stall per
// code point.
struct LeadBytes {
    std::array<uint8_t, 256> length{};
    std::array<uint8_t, 256> second_min{};
    std::array<uint8_t, 256> second_max{};
};

constexpr uint8_t kAsciiEnd = 0x80;
constexpr uint8_t kContinuationMin = 0x80;
constexpr uint8_t kContinuationMax = 0xBF;
constexpr uint8_t kContinuationTagMask = 0xC0;
constexpr uint8_t kContinuationTag = 0x80;
constexpr size_t kMaxSequence = 4;
constexpr uint8_t kTwoByteLeadMin = 0xC2;
constexpr uint8_t kThreeByteLeadMin = 0xE0;
constexpr uint8_t kFourByteLeadMin = 0xF0;
constexpr uint8_t kLastFourByteLead = 0xF4;

constexpr LeadBytes make_lead_bytes() {
    LeadBytes t;
    auto set = [&t](unsigned first, unsigned last, uint8_t length) {
        for (unsigned b = first; b <= last; ++b) {
            t.length[b] = length;
            t.second_min[b] = kContinuationMin;
            t.second_max[b] = kContinuationMax;
        }
    };
    set(0x00, 0x7F, 1);
    set(kTwoByteLeadMin, kThreeByteLeadMin - 1, 2);
    set(kThreeByteLeadMin, kFourByteLeadMin - 1, 3);
    set(kFourByteLeadMin, kLastFourByteLead, 4);
    t.second_min[0xE0] = 0xA0;  // E0 80..9F would encode U+0000..U+07FF: overlong
    t.second_max[0xED] = 0x9F;  // ED A0..BF would encode U+D800..U+DFFF: surrogates
    t.second_min[0xF0] = 0x90;  // F0 80..8F would encode U+0000..U+FFFF: overlong
    t.second_max[0xF4] = 0x8F;  // F4 90..BF would encode U+110000 and above
    return t;
}

constexpr LeadBytes kLeadBytes = make_lead_bytes();

bool is_continuation(uint8_t byte) {
    return (byte & kContinuationTagMask) == kContinuationTag;
}

// The ASCII fast path tests 8 bytes at once for a set high bit.
constexpr size_t kWordBytes = sizeof(uint64_t);
constexpr uint64_t kHighBits = 0x8080808080808080ULL;

// True when p[0, n), shorter than the sequence p[0] starts, can still
// become a valid code point: a valid first byte, a second byte in range, a
// third byte that is a continuation.
bool incomplete_sequence_ok(const uint8_t* p, size_t n) {
    const uint8_t first = p[0];
    if (kLeadBytes.length[first] <= n) return false;
    if (n >= 2 && (p[1] < kLeadBytes.second_min[first] || p[1] > kLeadBytes.second_max[first])) {
        return false;
    }
    if (n >= 3 && !is_continuation(p[2])) return false;
    return true;
}

// How many bytes at the end of data[0, len) start a code point without
// finishing it (0..3). Returns 0 when the last sequence is complete or cannot
// be valid at all: the kernel then judges those bytes itself.
size_t incomplete_tail_length(const uint8_t* data, size_t len) {
    const size_t lookback = len < kMaxSequence - 1 ? len : kMaxSequence - 1;
    for (size_t k = 1; k <= lookback; ++k) {
        const uint8_t byte = data[len - k];
        if (!is_continuation(byte)) return kLeadBytes.length[byte] > k ? k : 0;
    }
    return 0;
}

Utf8Kernel choose_active_kernel() {
    return utf8_kernel(active_simd_level());
}

}  // namespace

size_t utf8_validate_scalar_prefix(const uint8_t* data, size_t len, size_t at_least) {
    size_t i = 0;
    while (i < len && i < at_least) {
        if (len - i >= kWordBytes) {
            uint64_t word;
            std::memcpy(&word, data + i, kWordBytes);
            const uint64_t high = word & kHighBits;
            if (high == 0) {
                i += kWordBytes;
                continue;
            }
            i += static_cast<size_t>(std::countr_zero(high)) / 8;
        }
        // Whole code points one at a time until ASCII comes back, so text
        // without ASCII does not pay for the word test on every character.
        do {
            const uint8_t first = data[i];
            if (first < kAsciiEnd) {
                ++i;
                break;
            }
            // One branch per length, each adding a constant to i: a length
            // loaded from a table would chain every code point's loads.
            if (len - i < 2) return kUtf8Invalid;  // every non-ASCII sequence has 2+ bytes
            const uint8_t second = data[i + 1];
            const bool second_ok =
                second >= kLeadBytes.second_min[first] && second <= kLeadBytes.second_max[first];
            if (first < kThreeByteLeadMin) {
                if (first < kTwoByteLeadMin || !second_ok) return kUtf8Invalid;
                i += 2;
            } else if (first < kFourByteLeadMin) {
                if (len - i < 3 || !second_ok || !is_continuation(data[i + 2])) {
                    return kUtf8Invalid;
                }
                i += 3;
            } else {
                if (first > kLastFourByteLead || len - i < 4 || !second_ok ||
                    !is_continuation(data[i + 2]) || !is_continuation(data[i + 3])) {
                    return kUtf8Invalid;
                }
                i += 4;
            }
        } while (i < len && i < at_least);
    }
    return i;
}

bool utf8_valid_scalar(const uint8_t* data, size_t len) {
    return utf8_validate_scalar_prefix(data, len, len) == len;
}

Utf8Kernel utf8_kernel(SimdLevel level) {
    switch (level) {
        case SimdLevel::scalar:
            return utf8_valid_scalar;
        case SimdLevel::sse2:
            return utf8_valid_sse2;
        case SimdLevel::avx2:
            return utf8_valid_avx2;
        case SimdLevel::avx512:
            return utf8_valid_avx512;
    }
    return utf8_valid_scalar;
}

bool utf8_valid(const uint8_t* data, size_t len) {
    static const Utf8Kernel kernel = choose_active_kernel();
    return kernel(data, len);
}

bool Utf8Validator::feed(const uint8_t* data, size_t len) {
    static const Utf8Kernel kernel = choose_active_kernel();
    return feed(data, len, kernel);
}

bool Utf8Validator::feed(const uint8_t* data, size_t len, Utf8Kernel kernel) {
    if (failed_) return false;
    if (pending_len_ > 0) {
        // Finish the code point the previous piece cut off, byte by byte.
        // pending_ only ever holds a valid incomplete prefix, so 2 <= need <= 4.
        const size_t need = kLeadBytes.length[pending_[0]];
        const size_t missing = need > pending_len_ ? need - pending_len_ : 0;
        const size_t take = missing < len ? missing : len;
        if (take > 0) std::memcpy(pending_ + pending_len_, data, take);
        pending_len_ = static_cast<uint8_t>(pending_len_ + take);
        data += take;
        len -= take;
        const bool ok = pending_len_ < need ? incomplete_sequence_ok(pending_, pending_len_)
                                            : utf8_valid_scalar(pending_, pending_len_);
        if (!ok) {
            failed_ = true;
            return false;
        }
        if (pending_len_ < need) return true;
        pending_len_ = 0;
    }
    const size_t tail = incomplete_tail_length(data, len);
    const size_t whole = len - tail;
    if (!kernel(data, whole) || (tail > 0 && !incomplete_sequence_ok(data + whole, tail))) {
        failed_ = true;
        return false;
    }
    if (tail > 0) std::memcpy(pending_, data + whole, tail);  // data may be null when len == 0
    pending_len_ = static_cast<uint8_t>(tail);
    return true;
}

}  // namespace wsgate::proto
