// Case-insensitive comparison of input against a short constant, 8 bytes at a
// time, for the header names and tokens of the handshake (RFC 9110 §5.1:
// field names are case-insensitive; RFC 6455 §4.2.1: "websocket" and
// "Upgrade" are compared case-insensitively).
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace wsgate::proto {

static_assert(std::endian::native == std::endian::little,
              "chunks are packed in the order a little-endian load sees them");

// A lower-case ASCII literal of 4 to 32 bytes (N, without the terminating
// NUL), split at compile time into (possibly overlapping) chunks of 8 bytes
// (4 when shorter than 8), so matches() unrolls into a few loads. Only the
// letter positions are folded: OR-ing 0x20 turns 'A'..'Z' into 'a'..'z' and
// no other byte into a letter, so input byte x matches letter l exactly when
// x is l or its upper-case form; every other position must be equal.
template <size_t N>
class CaseFoldedLiteral {
    static constexpr size_t kMinSize = 4;
    static constexpr size_t kMaxSize = 32;
    static constexpr size_t kWideChunk = 8;
    static constexpr size_t kNarrowChunk = 4;
    static constexpr size_t kChunkBytes = N < kWideChunk ? kNarrowChunk : kWideChunk;
    // Chunks at 0, c, 2c ... and one ending exactly at the end.
    static constexpr size_t kChunks = (N + kChunkBytes - 1) / kChunkBytes;
    static constexpr uint8_t kCaseBit = 0x20;
    static_assert(N >= kMinSize && N <= kMaxSize, "literal must be 4..32 bytes");

  public:
    consteval explicit CaseFoldedLiteral(const char (&lower)[N + 1]) {
        for (size_t i = 0; i + 1 < kChunks; ++i)
            add_chunk(lower, i, i * kChunkBytes);
        add_chunk(lower, kChunks - 1, N - kChunkBytes);
    }

    static constexpr size_t size() { return N; }

    // True when s[0, size()) equals the literal, ASCII letters compared
    // case-insensitively. Reads exactly s[0, size()).
    bool matches(const char* s) const {
        bool equal = true;
        for (size_t i = 0; i < kChunks; ++i)
            equal &= (load(s + offsets_[i]) | fold_[i]) == text_[i];
        return equal;
    }

    // matches() for a whole view: same length and same text.
    bool equals(std::string_view s) const { return s.size() == N && matches(s.data()); }

  private:
    consteval void add_chunk(const char (&lower)[N + 1], size_t index, size_t offset) {
        uint64_t text = 0;
        uint64_t fold = 0;
        for (size_t i = 0; i < kChunkBytes; ++i) {
            const auto c = static_cast<uint8_t>(lower[offset + i]);
            if (c >= 'A' && c <= 'Z') throw "literal must be lower case";
            text |= uint64_t{c} << (8 * i);  // little-endian, like load()
            if (c >= 'a' && c <= 'z') fold |= uint64_t{kCaseBit} << (8 * i);
        }
        offsets_[index] = offset;
        text_[index] = text;
        fold_[index] = fold;
    }

    static uint64_t load(const char* p) {
        if constexpr (kChunkBytes == kNarrowChunk) {
            uint32_t v;
            std::memcpy(&v, p, sizeof(v));
            return v;
        } else {
            uint64_t v;
            std::memcpy(&v, p, sizeof(v));
            return v;
        }
    }

    std::array<size_t, kChunks> offsets_{};
    std::array<uint64_t, kChunks> text_{};
    std::array<uint64_t, kChunks> fold_{};
};

// Deduces N from a string literal: CaseFoldedLiteral kName("name:").
template <size_t M>
CaseFoldedLiteral(const char (&)[M]) -> CaseFoldedLiteral<M - 1>;

}  // namespace wsgate::proto
